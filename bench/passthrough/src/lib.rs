//! Pass-through Worker: the floor under Spur's ingest request. It reads the body, sends it as
//! one queue message and answers 200; its queue consumer acknowledges every message.
//!
//! Invariant: nothing here but what any ingest endpoint must do, so the bench's ratio
//! (Spur ÷ this) measures only Spur's own work.

use worker::{event, Context, Env, MessageBatch, Request, Response, Result};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    if req.path() == "/healthz" {
        return Response::ok("ok");
    }
    let body = req.text().await?;
    env.queue("EVENTS_QUEUE")?.send(body).await?;
    Response::ok("{\"ok\":true}")
}

#[event(queue)]
async fn queue(batch: MessageBatch<String>, _env: Env, _ctx: Context) -> Result<()> {
    batch.ack_all();
    Ok(())
}
