//! Reading request bodies without trusting their size.
//!
//! Invariant: at most `cap + 1` bytes are ever buffered, whatever `Content-Length` claims, so
//! an oversize body costs one chunk of memory before it is refused.

use futures_util::StreamExt;
use worker::Request;

use crate::http::error::ApiError;
use spur_core::query::{limits::MAX_QUERY_BYTES, QueryError};
use spur_core::{limits::MAX_BATCH_BYTES, RequestError};

/// Reads the body, failing with `BodyTooLarge` as soon as it passes `cap` bytes.
pub async fn read_bounded(req: &mut Request, cap: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > cap) {
        return Err(RequestError::BodyTooLarge(n).into());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(cap));
    let mut stream = req.stream()?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > cap {
            return Err(RequestError::BodyTooLarge(body.len() + chunk.len()).into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An admin body (configuration, plan, rule, replay request) as text, bounded like every
/// request body (the documents are limited further when parsed).
pub async fn read_text(req: &mut Request) -> Result<String, ApiError> {
    let bytes = read_bounded(req, MAX_BATCH_BYTES).await?;
    String::from_utf8(bytes).map_err(|_| ApiError::Invalid("body is not UTF-8".into()))
}

/// A query or segment definition, at most [`MAX_QUERY_BYTES`]; a larger one is refused as core
/// refuses it (`invalid_value` of `body`).
pub async fn read_definition(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    match read_bounded(req, MAX_QUERY_BYTES).await {
        Err(ApiError::Request(RequestError::BodyTooLarge(_))) => {
            Err(ApiError::Query(QueryError::Value {
                what: "body",
                why: format!("larger than {MAX_QUERY_BYTES} bytes"),
            }))
        }
        other => other,
    }
}
