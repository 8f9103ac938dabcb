//! Spur's Cloudflare Worker: HTTP in, `spur-core` decides, bindings store.
//!
//! Invariant: handlers only wire things together. Every decision about an event is made in
//! `spur-core`; every failure becomes an [`error::ApiError`], mapped to a status in one place.

mod actions;
pub mod admin;
mod bad_rows;
mod body;
mod clock;
mod config_api;
mod consumer;
mod cors;
mod error;
mod ingest;
mod query;
mod rule_set;
mod rules_api;
mod segments;
mod settings;
mod store;
mod triggers;
mod user_state;
mod webhook;
mod work;

use worker::{event, Context, Env, MessageBatch, Method, Request, Response, Result};

use crate::error::ApiError;

/// Routes a request. Static assets (`www/`) are served by the platform before this runs.
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    route(req, &env, &path)
        .await
        .or_else(ApiError::into_response)
}

async fn route(req: Request, env: &Env, path: &str) -> std::result::Result<Response, ApiError> {
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
    if query::owns(path) {
        return query::handle(req, env, path).await;
    }
    admin::require_admin(&req, env)?;
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match (method, segments.as_slice()) {
        (Method::Get, ["config"]) => config_api::get_config(env).await,
        (Method::Put, ["config"]) => config_api::put_config(req, env).await,
        (Method::Put, ["sources", key]) => config_api::put_source(req, env, key).await,
        (Method::Delete, ["sources", key]) => config_api::delete_source(env, key).await,
        (Method::Get, ["tracking-plan"]) => config_api::get_plan(env).await,
        (Method::Put, ["tracking-plan"]) => config_api::put_plan(req, env).await,
        (Method::Get, ["bad-rows"]) => bad_rows::list(&req, env).await,
        (Method::Post, ["bad-rows", "replay"]) => bad_rows::replay_rows(req, env).await,
        (Method::Get, ["rules"]) => rules_api::list(env).await,
        (Method::Get, ["rules", id]) => rules_api::get(env, id).await,
        (Method::Put, ["rules", id]) => rules_api::put(req, env, id).await,
        (Method::Delete, ["rules", id]) => rules_api::delete(env, id).await,
        (Method::Post, ["rules", id, "dry-run"]) => rules_api::dry_run_route(req, env, id).await,
        (Method::Get, ["rules", id, "explain"]) => rules_api::explain_route(&req, env, id).await,
        _ => Err(ApiError::NotFound),
    }
}

/// Consumes the events queue, the actions queue and their dead-letter queues.
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let result = if webhook::handles(&batch.queue()) {
        webhook::consume(batch, &env).await
    } else {
        consumer::consume(batch, &env).await
    };
    result.map_err(|e| worker::Error::RustError(format!("{e:?}")))
}
