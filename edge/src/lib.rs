//! Spur's Cloudflare Worker: HTTP in, `spur-core` decides, bindings store.
//!
//! Invariant: handlers only wire things together. Every decision about an event is made in
//! `spur-core`; every failure becomes an [`error::ApiError`], mapped to a status in one place.

pub mod admin;
mod error;
mod ingest;
mod query;
mod segments;
mod store;

use worker::{event, Context, Env, Method, Request, Response, Result};

use crate::error::ApiError;

/// Routes a request. Static assets (`www/`) are served by the platform before this runs.
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    let outcome = match (req.method(), path.as_str()) {
        (Method::Get, "/healthz") => Response::ok("ok").map_err(ApiError::from),
        (_, p) if query::owns(p) => query::handle(req, &env, p).await,
        (Method::Post, p) if p.starts_with("/v1/") => ingest::handle(req, &env, p).await,
        (_, p) if p.starts_with("/v1/") => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound),
    };
    outcome.or_else(|e| e.into_response())
}
