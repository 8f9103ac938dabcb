//! Saved segments: `GET /v1/segments`, `GET|PUT|DELETE /v1/segments/{id}` and
//! `POST /v1/segments/{id}/query`; also runs ad-hoc segment queries for `/v1/query/segment`.
//!
//! Invariant: a definition is stored only after core validated it, so a stored segment
//! always plans; the stored JSON is the validated definition re-serialized in its canonical
//! camelCase spelling (a body using an old snake_case key such as `last_seen` is stored and
//! answered as `lastSeen`).

use serde::Serialize;
use spur_core::query::segment::{valid_segment_id, SavedSegment, SegmentOptions};
use spur_core::query::{self, QueryError, SegmentQuery};
use worker::{Env, Method, Request, Response};

use crate::clock::now_ms;
use crate::http::body::read_definition;
use crate::http::error::ApiError;
use crate::storage::queries;
use crate::storage::segments::{self as store, Row};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
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

/// Runs a segment query and pages its result.
pub async fn run(env: &Env, q: &SegmentQuery) -> Result<Response, ApiError> {
    // Segments read profile traits (D1) together with events; with events in ClickHouse that
    // join is not built yet, and answering from D1's empty events table would be wrong.
    if crate::storage::clickhouse::selected(env)? {
        return Err(QueryError::NotOnClickHouse("segment").into());
    }
    let plan = q.plan(now_ms())?;
    let rows = queries::run(env, &plan.sql).await?;
    Ok(Response::from_json(&plan.finish(rows))?)
}

/// Routes `/v1/segments…` (the caller checked the admin token).
pub async fn handle(mut req: Request, env: &Env, path: &str) -> Result<Response, ApiError> {
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
                let list: Vec<Saved> = store::list(env)
                    .await?
                    .into_iter()
                    .map(Saved::from)
                    .collect();
                Ok(Response::from_json(
                    &serde_json::json!({ "segments": list }),
                )?)
            }
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    if !valid_segment_id(id) {
        return Err(ApiError::Invalid(
            "a segment id is 1..=64 of A-Z a-z 0-9 _ -".into(),
        ));
    }
    match (req.method(), action) {
        (Method::Get, None) => match store::load(env, id).await? {
            Some(row) => Ok(Response::from_json(&Saved::from(row))?),
            None => Err(ApiError::NotFound),
        },
        (Method::Put, None) => {
            let body = read_definition(&mut req).await?;
            let saved: SavedSegment = query::parse(&body)?;
            saved.validate()?;
            let canonical = serde_json::to_string(&saved)
                .map_err(|e| ApiError::Internal(format!("segment {id}: {e}")))?;
            store::save(env, id, &saved.name, &canonical).await?;
            match store::load(env, id).await? {
                Some(row) => Ok(Response::from_json(&Saved::from(row))?),
                None => Err(ApiError::Internal("saved segment vanished".into())),
            }
        }
        (Method::Delete, None) => {
            store::delete(env, id).await?;
            Ok(Response::empty()?.with_status(204))
        }
        (Method::Post, Some("query")) => {
            let row = store::load(env, id).await?.ok_or(ApiError::NotFound)?;
            let body = read_definition(&mut req).await?;
            let options: SegmentOptions = if body.is_empty() {
                SegmentOptions::default()
            } else {
                query::parse(&body)?
            };
            let saved: SavedSegment = serde_json::from_str(&row.definition)
                .map_err(|e| ApiError::Internal(format!("stored segment {id}: {e}")))?;
            run(env, &SegmentQuery::with_options(saved.condition, options)).await
        }
        (_, None) | (_, Some("query")) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound),
    }
}
