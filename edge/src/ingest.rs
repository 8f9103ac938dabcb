//! `POST /v1/batch` and `/v1/{type}`: the Segment HTTP Tracking API.
//!
//! Invariant: the response accounts for every message: `accepted` plus the `rejected` list
//! equals what the request held.

use serde::Serialize;
use spur_core::{ingest, Ingest, MessageType, Rejection};
use worker::{Date, Env, Request, Response};

use crate::error::ApiError;
use crate::store::Store;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> String;
}

#[derive(Serialize)]
struct IngestResponse<'a> {
    accepted: usize,
    rejected: &'a [Rejection],
}

/// Handles an ingest request on `path` (`/v1/batch`, `/v1/track`, …).
pub async fn handle(mut req: Request, env: &Env, path: &str) -> Result<Response, ApiError> {
    let single = match path.trim_start_matches("/v1/") {
        "batch" | "import" => None,
        other => Some(MessageType::parse(other).ok_or(ApiError::NotFound)?),
    };
    let body = req.bytes().await?;
    let now = now_utc();
    let request_id = random_uuid();
    let outcome = ingest(
        &body,
        &Ingest {
            now,
            request_id: &request_id,
            single,
        },
    )?;
    Store::open(env)?
        .insert_events(&outcome.accepted, outcome.write_key.as_deref())
        .await?;
    let body = IngestResponse {
        accepted: outcome.accepted.len(),
        rejected: &outcome.rejected,
    };
    Ok(Response::from_json(&body)?)
}

fn now_utc() -> time::OffsetDateTime {
    let ms = i128::from(Date::now().as_millis());
    time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
