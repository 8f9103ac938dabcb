//! Shared helpers for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use spur_core::{ingest, Ingest, MessageType, Outcome, Pipeline, RequestError, RequestFacts};
use time::macros::datetime;
use time::OffsetDateTime;

/// The server time every test request is received at.
pub const NOW: OffsetDateTime = datetime!(2024-05-01 12:00:05 UTC);

/// A pipeline with one write key usable from anywhere, and no plan.
pub fn open_pipeline() -> Pipeline {
    Pipeline::from_json(r#"{"sources": {"wk": {"name": "test", "allowedOrigins": ["*"]}}}"#)
        .unwrap()
}

/// Facts of a server-side request authorized by HTTP Basic (`wk:`).
pub fn server_facts() -> RequestFacts<'static> {
    RequestFacts {
        authorization: Some("Basic d2s6"),
        ip: Some("192.0.2.10"),
        ..Default::default()
    }
}

/// Runs a body through `ingest` as `/v1/batch` (or `/v1/{single}`).
pub fn run(
    body: &[u8],
    single: Option<MessageType>,
    request: RequestFacts<'_>,
    pipeline: &Pipeline,
) -> Result<Outcome, RequestError> {
    ingest(
        body,
        &Ingest {
            now: NOW,
            request_id: "req",
            single,
            request,
        },
        pipeline,
    )
}

/// Runs a `/v1/batch` body from a server with the open pipeline.
pub fn batch(body: &str) -> Result<Outcome, RequestError> {
    run(body.as_bytes(), None, server_facts(), &open_pipeline())
}

/// A minimal valid track event with extra top-level JSON spliced in (`extra` starts with `,`
/// or is empty).
pub fn track(extra: &str) -> String {
    format!(r#"{{"type":"track","event":"e","anonymousId":"a"{extra}}}"#)
}

/// The reason code of the only rejection of a one-event batch, or "accepted".
pub fn verdict_of(event: &str) -> String {
    let out = batch(&format!(r#"{{"batch":[{event}]}}"#)).unwrap();
    assert_eq!(out.received(), 1);
    match out.rejected.first() {
        Some(r) => r.reason.code().to_owned(),
        None => "accepted".to_owned(),
    }
}
