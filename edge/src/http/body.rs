//! Reading request bodies without trusting their size.
//!
//! Invariant: at most `cap + 1` bytes are ever buffered, whatever `Content-Length` claims, so
//! an oversize body costs one chunk of memory before it is refused.

use futures_util::StreamExt;
use worker::Request;

use crate::http::error::ApiError;
use spur_core::RequestError;

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
