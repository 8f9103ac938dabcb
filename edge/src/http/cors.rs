//! CORS for the ingest endpoints.
//!
//! Invariant: only origins some write key allows get `Access-Control-Allow-Origin` (echoed,
//! never `*`, never with credentials); everything else gets no CORS headers, so a browser on
//! an unknown origin cannot read responses. `text/plain` beacons need no preflight at all.

use spur_core::Pipeline;
use worker::{Headers, Response};

use crate::http::error::ApiError;

/// Headers a preflight may ask for.
const ALLOW_HEADERS: &str = "Content-Type, Authorization, Content-Encoding";
/// How long browsers may cache a preflight answer (seconds).
const MAX_AGE: &str = "86400";

/// The answer to `OPTIONS /v1/...`.
pub fn preflight(pipeline: &Pipeline, origin: Option<&str>) -> Result<Response, ApiError> {
    preflight_for(pipeline, origin, "POST, OPTIONS")
}

/// The answer to `OPTIONS` on a route that allows `methods`.
pub fn preflight_for(
    pipeline: &Pipeline,
    origin: Option<&str>,
    methods: &str,
) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("Vary", "Origin")?;
    match origin.filter(|o| pipeline.allows_origin(o)) {
        Some(origin) => {
            headers.set("Access-Control-Allow-Origin", origin)?;
            headers.set("Access-Control-Allow-Methods", methods)?;
            headers.set("Access-Control-Allow-Headers", ALLOW_HEADERS)?;
            headers.set("Access-Control-Max-Age", MAX_AGE)?;
            Ok(Response::empty()?.with_status(204).with_headers(headers))
        }
        None => Ok(Response::empty()?.with_status(403).with_headers(headers)),
    }
}

/// Adds `Access-Control-Allow-Origin` to a response when the origin is allowed.
pub fn decorate(
    resp: Response,
    pipeline: Option<&Pipeline>,
    origin: Option<&str>,
) -> Result<Response, ApiError> {
    let Some(origin) = origin else {
        return Ok(resp);
    };
    let mut resp = resp;
    resp.headers_mut().set("Vary", "Origin")?;
    if pipeline.is_some_and(|p| p.allows_origin(origin)) {
        resp.headers_mut()
            .set("Access-Control-Allow-Origin", origin)?;
    }
    Ok(resp)
}
