//! Admin: list bad rows and replay them through the pipeline (after fixing the plan).
//!
//! Invariant: a replay re-judges the stored payload with the *current* configuration at its
//! original receipt time; accepted events are queued like fresh ones (deduped by messageId, so
//! replaying twice stores once) and the row is marked replayed; a still-rejected row stays,
//! with its replay count raised and the new reason returned.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spur_core::{replay, KeptFacts, Replay};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use crate::clock::{now, rfc3339};
use crate::http::error::ApiError;
use crate::http::ingest::endpoint;
use crate::queues::events as work;
use crate::storage::events::Store;
use crate::storage::settings;

/// Most rows one list or replay call touches.
pub const MAX_PAGE: u32 = 500;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    id: f64,
    received_at: String,
    write_key: Option<String>,
    endpoint: String,
    reason: String,
    detail: String,
    message_id: Option<String>,
    payload: String,
    replayed_at: Option<String>,
    replay_count: f64,
    /// The kept request facts (JSON), when the row has them.
    #[serde(default)]
    request: Option<String>,
    /// The payload was cut to fit (1) or is whole (0).
    #[serde(default)]
    payload_truncated: f64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    reason: Option<String>,
    limit: Option<u32>,
    before: Option<u64>,
    replayed: Option<bool>,
}

const SELECT: &str = "SELECT id, received_at AS receivedAt, write_key AS writeKey, endpoint, reason, detail, \
     message_id AS messageId, payload, replayed_at AS replayedAt, replay_count AS replayCount, request, payload_truncated AS payloadTruncated FROM bad_rows";

/// `GET /v1/bad-rows?reason=&limit=&before=&replayed=`: newest first.
pub async fn list(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let q: ListQuery = req
        .query()
        .map_err(|e| ApiError::Invalid(format!("bad query string: {e}")))?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let mut sql = format!("{SELECT} WHERE id < ?1");
    let mut args: Vec<JsValue> = vec![JsValue::from_f64(q.before.map_or(9.0e15, |b| b as f64))];
    if let Some(reason) = &q.reason {
        args.push(reason.as_str().into());
        sql.push_str(&format!(" AND reason = ?{}", args.len()));
    }
    match q.replayed {
        Some(true) => sql.push_str(" AND replayed_at IS NOT NULL"),
        Some(false) => sql.push_str(" AND replayed_at IS NULL"),
        None => {}
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let rows: Vec<Row> = Store::open(env)?
        .db()
        .prepare(sql)
        .bind(&args)?
        .all()
        .await?
        .results()?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Response::from_json(
        &serde_json::json!({ "rows": rows, "next": next }),
    )?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    /// Specific rows; otherwise every unreplayed row (optionally of one reason).
    ids: Option<Vec<u64>>,
    reason: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StillRejected {
    id: f64,
    reason: String,
    detail: String,
}

/// `POST /v1/bad-rows/replay {ids?, reason?, limit?}`.
pub async fn replay_rows(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let text = req.text().await?;
    let body: ReplayRequest = if text.trim().is_empty() {
        ReplayRequest::default()
    } else {
        serde_json::from_str(&text)
            .map_err(|e| ApiError::Invalid(format!("replay request: {e}")))?
    };
    let limit = body.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let store = Store::open(env)?;
    let rows: Vec<Row> = match &body.ids {
        Some(ids) => {
            let ids: Vec<String> = ids
                .iter()
                .take(MAX_PAGE as usize)
                .map(u64::to_string)
                .collect();
            let sql = format!(
                "{SELECT} WHERE replayed_at IS NULL AND id IN ({}) ORDER BY id",
                ids.join(",")
            );
            store.db().prepare(sql).all().await?.results()?
        }
        None => {
            let (filter, args) = match &body.reason {
                Some(r) => (" AND reason = ?1", vec![JsValue::from_str(r)]),
                None => ("", vec![]),
            };
            let sql =
                format!("{SELECT} WHERE replayed_at IS NULL{filter} ORDER BY id LIMIT {limit}");
            store
                .db()
                .prepare(sql)
                .bind(&args)?
                .all()
                .await?
                .results()?
        }
    };

    let pipeline = settings::pipeline(env).await?;
    let mut events = Vec::new();
    let mut replayed_ids = Vec::new();
    let mut still = Vec::new();
    for row in &rows {
        match replay_one(row, &pipeline) {
            Ok(mut accepted) if !accepted.is_empty() => {
                events.append(&mut accepted);
                replayed_ids.push(row.id);
            }
            Ok(_) => still.push(StillRejected {
                id: row.id,
                reason: "rejected".into(),
                detail: String::new(),
            }),
            Err((reason, detail)) => still.push(StillRejected {
                id: row.id,
                reason,
                detail,
            }),
        }
    }
    // Queue first: if marking fails afterwards, a second replay re-queues and D1 dedupes.
    let encoded = spur_core::work::encode_events(&events);
    work::enqueue(env, work::split(None, &encoded, Vec::new())).await?;
    let stamp = JsValue::from_str(&rfc3339(now()));
    let mut stmts = Vec::new();
    for id in &replayed_ids {
        stmts.push(
            store
                .db()
                .prepare("UPDATE bad_rows SET replayed_at = ?1, replay_count = replay_count + 1 WHERE id = ?2")
                .bind(&[stamp.clone(), JsValue::from_f64(*id)])?,
        );
    }
    for s in &still {
        stmts.push(
            store
                .db()
                .prepare("UPDATE bad_rows SET replay_count = replay_count + 1 WHERE id = ?1")
                .bind(&[JsValue::from_f64(s.id)])?,
        );
    }
    if !stmts.is_empty() {
        store.db().batch(stmts).await?;
    }
    Ok(Response::from_json(&serde_json::json!({
        "considered": rows.len(),
        "replayed": replayed_ids.len(),
        "stillRejected": still,
    }))?)
}

/// Re-judges one row; `Err((reason, detail))` when it is still refused.
fn replay_one(
    row: &Row,
    pipeline: &spur_core::Pipeline,
) -> Result<Vec<spur_core::Event>, (String, String)> {
    if row.payload_truncated != 0.0 {
        return Err((
            "payload_truncated".to_owned(),
            "the stored payload was cut to fit and cannot be judged again".to_owned(),
        ));
    }
    let write_key = row.write_key.as_deref().ok_or_else(|| {
        (
            "missing_write_key".to_owned(),
            "the row has no write key to replay with".to_owned(),
        )
    })?;
    let received_at = OffsetDateTime::parse(&row.received_at, &Rfc3339).map_err(|_| {
        (
            "invalid_timestamp".to_owned(),
            "stored receipt time is unreadable".to_owned(),
        )
    })?;
    let payload = with_endpoint_type(&row.payload, &row.endpoint);
    let request_id = format!("replay-{}", row.id);
    // Rows from before facts were kept, or with unreadable ones, replay without them.
    let kept: Option<KeptFacts> = row
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let rep = Replay {
        received_at,
        write_key,
        request_id: &request_id,
        facts: kept.as_ref(),
    };
    let outcome =
        replay(&payload, &rep, pipeline).map_err(|e| (e.code().to_owned(), e.to_string()))?;
    match outcome.rejected.first() {
        Some(r) => Err((r.reason.code().to_owned(), r.detail.clone())),
        None => Ok(outcome.accepted),
    }
}

/// A message from `/v1/track` carries no `type`; replay needs it in the payload.
fn with_endpoint_type(payload: &str, path: &str) -> String {
    let Some(Some(kind)) = endpoint(path) else {
        return payload.to_owned();
    };
    match serde_json::from_str::<Value>(payload) {
        Ok(Value::Object(mut m)) if !m.contains_key("type") => {
            m.insert("type".into(), Value::String(kind.as_str().into()));
            Value::Object(m).to_string()
        }
        _ => payload.to_owned(),
    }
}
