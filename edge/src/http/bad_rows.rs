//! Admin: list bad rows and replay them through the pipeline (after fixing the plan).
//!
//! Invariant: a replay re-judges the stored payload with the *current* configuration at its
//! original receipt time (`spur_core::bad_rows::replay_row` decides); accepted events are queued
//! like fresh ones (deduped by messageId, so replaying twice stores once) and the row is marked
//! replayed; a still-rejected row stays, with its replay count raised and the new reason
//! returned.

use serde::{Deserialize, Serialize};
use spur_core::bad_rows::{replay_row, StoredBadRow};
use worker::{Env, Request, Response};

use crate::clock::{now, rfc3339};
use crate::http::body;
use crate::http::error::ApiError;
use crate::queues::events as work;
use crate::storage::bad_rows::{self as store, Filter, Pick, Row};
use crate::storage::settings;

/// Most rows one list or replay call touches.
pub const MAX_PAGE: u32 = 500;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    reason: Option<String>,
    limit: Option<u32>,
    before: Option<u64>,
    replayed: Option<bool>,
}

/// `GET /v1/bad-rows?reason=&limit=&before=&replayed=`: newest first.
pub async fn list(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let q: ListQuery = req
        .query()
        .map_err(|e| ApiError::Invalid(format!("bad query string: {e}")))?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let filter = Filter {
        reason: q.reason.as_deref(),
        before: q.before,
        replayed: q.replayed,
    };
    let rows = store::list(env, &filter, limit).await?;
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
    let text = body::read_text(&mut req).await?;
    let body: ReplayRequest = if text.trim().is_empty() {
        ReplayRequest::default()
    } else {
        serde_json::from_str(&text)
            .map_err(|e| ApiError::Invalid(format!("replay request: {e}")))?
    };
    let limit = body.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let pick = match &body.ids {
        Some(ids) => Pick::Ids(ids),
        None => Pick::Oldest {
            reason: body.reason.as_deref(),
        },
    };
    // Ids pick up to a page whatever `limit` says (as before `limit` applied to them).
    let rows = match pick {
        Pick::Ids(_) => store::unreplayed(env, &pick, MAX_PAGE).await?,
        Pick::Oldest { .. } => store::unreplayed(env, &pick, limit).await?,
    };

    let pipeline = settings::pipeline(env).await?;
    let mut events = Vec::new();
    let mut replayed_ids = Vec::new();
    let mut still = Vec::new();
    for row in &rows {
        match replay_row(&stored(row), &pipeline) {
            Ok(mut accepted) => {
                events.append(&mut accepted);
                replayed_ids.push(row.id);
            }
            Err(refusal) => still.push(StillRejected {
                id: row.id,
                reason: refusal.code().to_owned(),
                detail: refusal.detail(),
            }),
        }
    }
    // Queue first: if marking fails afterwards, a second replay re-queues and D1 dedupes.
    let encoded = spur_core::work::encode_events(&events);
    work::enqueue(env, work::split(None, &encoded, Vec::new())).await?;
    let still_ids: Vec<f64> = still.iter().map(|s| s.id).collect();
    store::mark(env, &replayed_ids, &still_ids, &rfc3339(now())).await?;
    Ok(Response::from_json(&serde_json::json!({
        "considered": rows.len(),
        "replayed": replayed_ids.len(),
        "stillRejected": still,
    }))?)
}

/// The row as core's replay reads it.
fn stored(row: &Row) -> StoredBadRow<'_> {
    StoredBadRow {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // D1 row ids
        id: row.id as u64,
        received_at: &row.received_at,
        write_key: row.write_key.as_deref(),
        endpoint: &row.endpoint,
        payload: &row.payload,
        request: row.request.as_deref(),
        payload_truncated: row.payload_truncated != 0.0,
    }
}
