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

use worker::{Env, Method, Request, Response};

use error::ApiError;

/// Routes a request (static assets were served by the platform before this runs).
pub async fn route(req: Request, env: &Env, path: &str) -> Result<Response, ApiError> {
    let method = req.method();
    if method == Method::Get && path == "/healthz" {
        return Ok(Response::ok("ok")?);
    }
    if let Some(single) = ingest::endpoint(path) {
        return match method {
            Method::Post => ingest::handle(req, env, single).await,
            Method::Options => ingest::preflight(&req, env).await,
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    if !path.starts_with("/v1/") {
        return Err(ApiError::NotFound);
    }
    if path == "/v1/live" {
        // Authenticated by its first message: a browser cannot set headers on a WebSocket.
        return crate::objects::live::connect(req, env).await;
    }
    if email::owns(path) {
        return email::handle(req, env).await;
    }
    if push::owns(path) {
        return push::handle(req, env, path).await;
    }
    if query::owns(path) {
        return query::handle(req, env, path).await;
    }
    admin::require_admin(&req, env)?;
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Get, ["config"]) => config::get_config(env).await,
        (Method::Put, ["config"]) => config::put_config(req, env).await,
        (Method::Put, ["sources", key]) => config::put_source(req, env, key).await,
        (Method::Delete, ["sources", key]) => config::delete_source(env, key).await,
        (Method::Get, ["tracking-plan"]) => config::get_plan(env).await,
        (Method::Put, ["tracking-plan"]) => config::put_plan(req, env).await,
        (Method::Get, ["frequency"]) => config::get_frequency(env).await,
        (Method::Put, ["frequency"]) => config::put_frequency(req, env).await,
        (Method::Delete, ["frequency"]) => config::delete_frequency(env).await,
        (Method::Get, ["bad-rows"]) => bad_rows::list(&req, env).await,
        (Method::Post, ["bad-rows", "replay"]) => bad_rows::replay_rows(req, env).await,
        (Method::Get, ["rules"]) => rules::list(env).await,
        (Method::Get, ["rules", id]) => rules::get(env, id).await,
        (Method::Put, ["rules", id]) => rules::put(req, env, id).await,
        (Method::Delete, ["rules", id]) => rules::delete(env, id).await,
        (Method::Post, ["rules", id, "dry-run"]) => rules::dry_run_route(req, env, id).await,
        (Method::Get, ["rules", id, "explain"]) => rules::explain_route(&req, env, id).await,
        (Method::Get, ["journeys"]) => journeys::list(env).await,
        (Method::Post, ["journeys", "validate"]) => journeys::validate(req, env).await,
        (Method::Get, ["journeys", id]) => journeys::get(env, id).await,
        (Method::Put, ["journeys", id]) => journeys::put(req, env, id).await,
        (Method::Delete, ["journeys", id]) => journeys::delete(env, id).await,
        (Method::Post, ["journeys", id, "publish"]) => journeys::publish(env, id).await,
        (Method::Post, ["journeys", id, "enter"]) => journeys::enter(req, env, id).await,
        (Method::Post, ["journeys", id, "dry-run"]) => journeys::dry_run(req, env, id).await,
        (Method::Get, ["journeys", id, "stats"]) => journeys::stats(env, id).await,
        (Method::Get, ["journeys", id, "explain"]) => journeys::explain(&req, env, id).await,
        _ => Err(ApiError::NotFound),
    }
}
