//! Spur's Cloudflare Worker: HTTP in, `spur-core` decides, bindings store.
//!
//! Invariant: handlers only wire things together. Every decision about an event is made in
//! `spur-core`; every failure becomes an [`http::error::ApiError`], mapped to a status in one
//! place. The modules follow the flow:
//! - [`http`]: routes, CORS, bounded body reads, errors and the admin handlers;
//! - [`queues`]: the events and actions queues (producers and consumers);
//! - [`objects`]: Durable Objects (per-user rule state);
//! - [`storage`]: every SQL statement and binding read (no handler builds SQL);
//! - [`clock`]: the only reader of the platform's clock and random source.

mod clock;
pub mod http;
mod objects;
mod queues;
mod storage;

use worker::{event, Context, Env, MessageBatch, Request, Response, Result};

use crate::http::error::ApiError;

/// Installs the panic hook once per isolate, so a panic logs its message and location
/// (`wrangler tail`) instead of a bare `unreachable` trap. Not in the nightly release build
/// (scripts/build-edge): with panic=immediate-abort no hook ever runs, and installing one would
/// keep std's whole panic-reporting machinery in the module.
#[event(start)]
fn start() {
    #[cfg(not(panic = "immediate-abort"))]
    console_error_panic_hook::set_once();
}

/// Routes a request. Static assets (`www/`) are served by the platform before this runs.
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    http::route(req, &env, &path)
        .await
        .or_else(ApiError::into_response)
}

/// Consumes the events queue, the actions queue and their dead-letter queues.
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    let result = if queues::actions::handles(&batch.queue()) {
        queues::actions::consume(batch, &env).await
    } else {
        queues::events::consume(batch, &env).await
    };
    result.map_err(|e| worker::Error::RustError(format!("{e:?}")))
}
