//! Saved segments: `GET /v1/segments`, `GET|PUT|DELETE /v1/segments/{id}` and
//! `POST /v1/segments/{id}/query`.
//!
//! Invariant: a definition is stored only after core validated it, so a stored segment
//! always plans; the stored JSON is the validated body re-serialized.

use serde::{Deserialize, Serialize};
use spur_core::query::segment::{valid_segment_id, SavedSegment, SegmentOptions};
use spur_core::query::{self, SegmentQuery};
use wasm_bindgen::JsValue;
use worker::{D1Database, Method, Request, Response};

use crate::http::error::ApiError;
use crate::http::query::{invalid, json, now_ms, segment};

#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    definition: String,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct Saved {
    id: String,
    name: String,
    #[serde(rename = "where")]
    condition: serde_json::Value,
    created_at: String,
    updated_at: String,
}

impl From<Row> for Saved {
    fn from(r: Row) -> Self {
        let def: serde_json::Value = serde_json::from_str(&r.definition).unwrap_or_default();
        Saved {
            id: r.id,
            name: r.name,
            condition: def.get("where").cloned().unwrap_or_default(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT id, name, definition, created_at, updated_at FROM segments";

/// Routes `/v1/segments…` (the caller checked the admin token).
pub async fn handle(mut req: Request, db: &D1Database, path: &str) -> Result<Response, ApiError> {
    let rest = path
        .trim_start_matches("/v1/segments")
        .trim_start_matches('/');
    let (id, action) = match rest.split_once('/') {
        Some((id, action)) => (id, Some(action)),
        None => (rest, None),
    };
    if id.is_empty() {
        return match req.method() {
            Method::Get => {
                let rows: Vec<Row> = db
                    .prepare(format!("{SELECT} ORDER BY name, id"))
                    .all()
                    .await?
                    .results()?;
                let list: Vec<Saved> = rows.into_iter().map(Saved::from).collect();
                json(&serde_json::json!({ "segments": list }))
            }
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    if !valid_segment_id(id) {
        return Err(ApiError::Invalid(
            "a segment id is 1..=64 of A-Z a-z 0-9 _ -".into(),
        ));
    }
    let id_js = JsValue::from_str(id);
    match (req.method(), action) {
        (Method::Get, None) => match load(db, &id_js).await? {
            Some(row) => json(&Saved::from(row)),
            None => Err(ApiError::NotFound),
        },
        (Method::Put, None) => {
            let body = req.bytes().await?;
            let value: serde_json::Value = query::parse(&body).map_err(invalid)?;
            let saved: SavedSegment = serde_json::from_value(value.clone())
                .map_err(|e| invalid(query::QueryError::Shape(e.to_string())))?;
            saved.validate().map_err(invalid)?;
            let now = JsValue::from_str(&query::time_range::format_instant(now_ms()));
            db.prepare(
                "INSERT INTO segments (id, name, definition, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(id) DO UPDATE SET \
                 name = excluded.name, definition = excluded.definition, updated_at = excluded.updated_at",
            )
            .bind(&[
                id_js.clone(),
                JsValue::from_str(&saved.name),
                JsValue::from_str(&value.to_string()),
                now,
            ])?
            .run()
            .await?;
            match load(db, &id_js).await? {
                Some(row) => json(&Saved::from(row)),
                None => Err(ApiError::Internal("saved segment vanished".into())),
            }
        }
        (Method::Delete, None) => {
            db.prepare("DELETE FROM segments WHERE id = ?1")
                .bind(&[id_js])?
                .run()
                .await?;
            Ok(Response::empty()?.with_status(204))
        }
        (Method::Post, Some("query")) => {
            let row = load(db, &id_js).await?.ok_or(ApiError::NotFound)?;
            let body = req.bytes().await?;
            let options: SegmentOptions = if body.is_empty() {
                SegmentOptions::default()
            } else {
                query::parse(&body).map_err(invalid)?
            };
            let saved: SavedSegment = serde_json::from_str(&row.definition)
                .map_err(|e| ApiError::Internal(format!("stored segment {id}: {e}")))?;
            segment(db, &SegmentQuery::with_options(saved.condition, options)).await
        }
        (_, None) | (_, Some("query")) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound),
    }
}

async fn load(db: &D1Database, id: &JsValue) -> Result<Option<Row>, ApiError> {
    Ok(db
        .prepare(format!("{SELECT} WHERE id = ?1"))
        .bind(std::slice::from_ref(id))?
        .first::<Row>(None)
        .await?)
}
