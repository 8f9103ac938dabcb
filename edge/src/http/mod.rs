//! The HTTP side: the router, CORS, bounded body reads, the error mapping and every handler.
//!
//! Invariant: a handler parses its request, asks `spur-core` or [`crate::storage`], and
//! answers; it holds no SQL and no raw database.

pub mod admin;
mod bad_rows;
pub(crate) mod body;
mod config;
mod cors;
mod email;
pub(crate) mod error;
pub(crate) mod ingest;
mod journeys;
pub(crate) mod push;
mod query;
mod rules;
mod segments;
mod triggers;

use std::future::Future;
use std::pin::Pin;

use worker::{Env, Method, Request, Response};

use error::ApiError;

/// A handler's future behind a pointer, polled through its vtable.
///
/// Why: a handler called from one place is inlined into its caller, so the router's poll held
/// every handler's state machine, and V8 compiles a wasm function whole when it is first called:
/// a fresh isolate's first request compiled every route's code to answer one. Boxed, each
/// handler is its own function, compiled when its route is first used. Measured on a fresh
/// workerd (`bench/edge.mjs`, cold start): the first `GET /healthz` went from 156 to 98 ms, the
/// first `POST /v1/batch` from 265 to 206 ms (a loaded machine; the pass-through behind the same
/// asset routing took 107 and 35 ms). Cost: one allocation per request, +3.9 KB gzip.
type Handler<'a> = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + 'a>>;

fn boxed<'a>(f: impl Future<Output = Result<Response, ApiError>> + 'a) -> Handler<'a> {
    Box::pin(f)
}

/// Routes a request (static assets were served by the platform before this runs).
pub async fn route(req: Request, env: &Env, path: &str) -> Result<Response, ApiError> {
    let method = req.method();
    if method == Method::Get && path == "/healthz" {
        return Ok(Response::ok("ok")?);
    }
    if let Some(single) = ingest::endpoint(path) {
        return match method {
            Method::Post => boxed(ingest::handle(req, env, single)).await,
            Method::Options => boxed(ingest::preflight(&req, env)).await,
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    if !path.starts_with("/v1/") {
        return Err(ApiError::NotFound);
    }
    if path == "/v1/live" {
        // Authenticated by its first message: a browser cannot set headers on a WebSocket.
        return boxed(crate::objects::live::connect(req, env)).await;
    }
    if email::owns(path) {
        return boxed(email::handle(req, env)).await;
    }
    if push::owns(path) {
        return boxed(push::handle(req, env, path)).await;
    }
    if query::owns(path) {
        return boxed(query::handle(req, env, path)).await;
    }
    admin::require_admin(&req, env)?;
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Get, ["config"]) => boxed(config::get_config(env)).await,
        (Method::Put, ["config"]) => boxed(config::put_config(req, env)).await,
        (Method::Put, ["sources", key]) => boxed(config::put_source(req, env, key)).await,
        (Method::Delete, ["sources", key]) => boxed(config::delete_source(env, key)).await,
        (Method::Get, ["tracking-plan"]) => boxed(config::get_plan(env)).await,
        (Method::Put, ["tracking-plan"]) => boxed(config::put_plan(req, env)).await,
        (Method::Get, ["frequency"]) => boxed(config::get_frequency(env)).await,
        (Method::Put, ["frequency"]) => boxed(config::put_frequency(req, env)).await,
        (Method::Delete, ["frequency"]) => boxed(config::delete_frequency(env)).await,
        (Method::Get, ["bad-rows"]) => boxed(bad_rows::list(&req, env)).await,
        (Method::Post, ["bad-rows", "replay"]) => boxed(bad_rows::replay_rows(req, env)).await,
        (Method::Get, ["rules"]) => boxed(rules::list(env)).await,
        (Method::Get, ["rules", id]) => boxed(rules::get(env, id)).await,
        (Method::Put, ["rules", id]) => boxed(rules::put(req, env, id)).await,
        (Method::Delete, ["rules", id]) => boxed(rules::delete(env, id)).await,
        (Method::Post, ["rules", id, "dry-run"]) => boxed(rules::dry_run_route(req, env, id)).await,
        (Method::Get, ["rules", id, "explain"]) => boxed(rules::explain_route(&req, env, id)).await,
        (Method::Get, ["journeys"]) => boxed(journeys::list(env)).await,
        (Method::Post, ["journeys", "validate"]) => boxed(journeys::validate(req, env)).await,
        (Method::Get, ["journeys", id]) => boxed(journeys::get(env, id)).await,
        (Method::Put, ["journeys", id]) => boxed(journeys::put(req, env, id)).await,
        (Method::Delete, ["journeys", id]) => boxed(journeys::delete(env, id)).await,
        (Method::Post, ["journeys", id, "publish"]) => boxed(journeys::publish(env, id)).await,
        (Method::Post, ["journeys", id, "enter"]) => boxed(journeys::enter(req, env, id)).await,
        (Method::Post, ["journeys", id, "dry-run"]) => boxed(journeys::dry_run(req, env, id)).await,
        (Method::Get, ["journeys", id, "stats"]) => boxed(journeys::stats(env, id)).await,
        (Method::Get, ["journeys", id, "explain"]) => boxed(journeys::explain(&req, env, id)).await,
        _ => Err(ApiError::NotFound),
    }
}
