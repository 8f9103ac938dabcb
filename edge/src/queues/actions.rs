//! The actions queue consumer: records firings, delivers signed webhooks, forwards events.
//!
//! Invariant: a firing row is inserted once (by firing id) and each webhook is POSTed until it
//! answers 2xx — skipped on later retries once delivered —, retried with exponential backoff,
//! and marked `dead_lettered` when the queue gives up; an outcome is always written back to
//! `rule_firings`, so an operator can see what happened to every action.

use serde::Deserialize;
use spur_core::rules::sign::{sign, SIGNATURE_HEADER};
use wasm_bindgen::JsValue;
use worker::{
    console_error, Env, Fetch, Headers, MessageBatch, MessageExt, Method, QueueRetryOptionsBuilder,
    Request, RequestInit,
};

use crate::clock::{now, rfc3339};
use crate::http::error::ApiError;
use crate::objects::user_state::{self, Delivery};
use crate::queues::firings::{
    ActionWork, FiringRecord, Outcome, ACTIONS_DEAD_LETTER_QUEUE, ACTIONS_QUEUE_NAME,
};
use crate::storage::DB_BINDING;

/// The secret that signs webhooks.
pub const WEBHOOK_SECRET: &str = "WEBHOOK_SECRET";
/// The var holding the first retry's delay in seconds (doubling per attempt).
pub const RETRY_BASE_VAR: &str = "WEBHOOK_RETRY_BASE_SECONDS";
/// Longest retry delay.
pub const MAX_RETRY_DELAY_SECS: u32 = 3_600;

/// Whether a queue is one this module consumes.
pub fn handles(queue: &str) -> bool {
    queue == ACTIONS_QUEUE_NAME || queue == ACTIONS_DEAD_LETTER_QUEUE
}

enum Next {
    Done,
    RetryIn(u32),
}

/// Handles one delivery of the actions queue (or its dead-letter queue).
pub async fn consume(batch: MessageBatch<String>, env: &Env) -> Result<(), ApiError> {
    let dead = batch.queue() == ACTIONS_DEAD_LETTER_QUEUE;
    for msg in batch.messages()? {
        let result = if dead {
            dead_letter(env, msg.body()).await.map(|()| Next::Done)
        } else {
            process(env, msg.body()).await
        };
        match result {
            Ok(Next::Done) => msg.ack(),
            Ok(Next::RetryIn(secs)) => msg.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(secs)
                    .build(),
            ),
            Err(e) => {
                console_error!("actions message {} failed (will retry): {e:?}", msg.id());
                msg.retry();
            }
        }
    }
    Ok(())
}

fn decode(body: &str) -> Result<ActionWork, ApiError> {
    serde_json::from_str(body)
        .map_err(|e| ApiError::Internal(format!("undecodable action work: {e}")))
}

async fn process(env: &Env, body: &str) -> Result<Next, ApiError> {
    match decode(body)? {
        ActionWork::Fired(record) => run(env, &record).await,
        ActionWork::UserEvents {
            user,
            version,
            events,
        } => {
            let delivery = Delivery {
                user,
                version,
                events,
                respond: false,
            };
            user_state::deliver(env, &delivery).await?;
            Ok(Next::Done)
        }
    }
}

#[derive(Deserialize)]
struct Row {
    actions: String,
    attempts: f64,
}

async fn run(env: &Env, rec: &FiringRecord) -> Result<Next, ApiError> {
    insert(env, rec).await?;
    let db = env.d1(DB_BINDING)?;
    let row: Option<Row> = db
        .prepare("SELECT actions, attempts FROM rule_firings WHERE id = ?1")
        .bind(&[rec.id.as_str().into()])?
        .first(None)
        .await?;
    let Some(row) = row else {
        return Err(ApiError::Internal("firing row vanished".into()));
    };
    let mut outcomes: Vec<Outcome> = serde_json::from_str(&row.actions).unwrap_or_default();
    let open = |o: &Outcome| o.status == "queued" || o.status == "retrying";
    if rec.capped || !outcomes.iter().any(open) {
        return Ok(Next::Done);
    }
    let body =
        serde_json::to_string(&rec.payload).map_err(|e| ApiError::Internal(e.to_string()))?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut attempts = row.attempts as u32;
    let mut retry = false;
    if outcomes.iter().any(|o| open(o) && o.kind == "webhook") {
        attempts += 1;
    }
    for o in outcomes.iter_mut().filter(|o| open(o)) {
        let target = o.target.clone().unwrap_or_default();
        let (status, detail) = match o.kind.as_str() {
            "webhook" => post(env, &target, rec, &body).await,
            "forward" => forward(env, &target, &body).await,
            _ => continue,
        };
        retry |= status == "retrying";
        o.status = status.to_owned();
        o.detail = Some(detail);
    }
    update(env, &rec.id, &outcomes, attempts).await?;
    Ok(if retry {
        Next::RetryIn(backoff(env, attempts))
    } else {
        Next::Done
    })
}

/// `base · 2^(attempts − 1)` seconds, at most [`MAX_RETRY_DELAY_SECS`].
fn backoff(env: &Env, attempts: u32) -> u32 {
    let base: u32 = env
        .var(RETRY_BASE_VAR)
        .ok()
        .and_then(|v| v.to_string().parse().ok())
        .unwrap_or(10);
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(MAX_RETRY_DELAY_SECS)
}

async fn post(env: &Env, url: &str, rec: &FiringRecord, body: &str) -> (&'static str, String) {
    let Some(secret) = env
        .secret(WEBHOOK_SECRET)
        .ok()
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
    else {
        return (
            "failed",
            "no WEBHOOK_SECRET is configured; webhooks are never sent unsigned".into(),
        );
    };
    let unix = now().unix_timestamp();
    let result = async {
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("User-Agent", "Spur-Webhook/1")?;
        headers.set(
            SIGNATURE_HEADER,
            &sign(secret.as_bytes(), unix, body.as_bytes()),
        )?;
        headers.set("Spur-Delivery", &rec.id)?;
        headers.set("Spur-Rule", &rec.rule)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(body)));
        let req = Request::new_with_init(url, &init)?;
        Fetch::Request(req).send().await
    }
    .await;
    match result {
        Ok(resp) if (200..300).contains(&resp.status_code()) => {
            ("delivered", format!("HTTP {}", resp.status_code()))
        }
        Ok(resp) => ("retrying", format!("HTTP {}", resp.status_code())),
        Err(e) => ("retrying", format!("request failed: {e}")),
    }
}

async fn forward(env: &Env, binding: &str, body: &str) -> (&'static str, String) {
    let Ok(queue) = env.queue(binding) else {
        return ("failed", format!("no queue binding named {binding}"));
    };
    match queue.send(body.to_owned()).await {
        Ok(()) => ("forwarded", format!("sent to {binding}")),
        Err(e) => ("retrying", format!("send failed: {e}")),
    }
}

async fn insert(env: &Env, rec: &FiringRecord) -> Result<(), ApiError> {
    let actions =
        serde_json::to_string(&rec.actions).map_err(|e| ApiError::Internal(e.to_string()))?;
    let ids =
        serde_json::to_string(&rec.message_ids).map_err(|e| ApiError::Internal(e.to_string()))?;
    let fired = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(rec.at_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    #[allow(clippy::cast_precision_loss)]
    let fired_ms = rec.at_ms as f64;
    env.d1(DB_BINDING)?
        .prepare(
            "INSERT INTO rule_firings (id, rule_id, user_id, fired_at, fired_ms, message_ids, source, \
             capped, actions, attempts, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10) \
             ON CONFLICT(id) DO NOTHING",
        )
        .bind(&[
            rec.id.as_str().into(),
            rec.rule.as_str().into(),
            rec.user.as_str().into(),
            rfc3339(fired).into(),
            JsValue::from_f64(fired_ms),
            ids.into(),
            rec.source.as_str().into(),
            JsValue::from_f64(if rec.capped { 1.0 } else { 0.0 }),
            actions.into(),
            rfc3339(now()).into(),
        ])?
        .run()
        .await?;
    Ok(())
}

async fn update(env: &Env, id: &str, outcomes: &[Outcome], attempts: u32) -> Result<(), ApiError> {
    let actions = serde_json::to_string(outcomes).map_err(|e| ApiError::Internal(e.to_string()))?;
    env.d1(DB_BINDING)?
        .prepare(
            "UPDATE rule_firings SET actions = ?1, attempts = ?2, updated_at = ?3 WHERE id = ?4",
        )
        .bind(&[
            actions.into(),
            JsValue::from_f64(f64::from(attempts)),
            rfc3339(now()).into(),
            id.into(),
        ])?
        .run()
        .await?;
    Ok(())
}

/// The queue gave up: whatever was still open is dead-lettered (the payload stays in the row's
/// firing for a manual resend).
async fn dead_letter(env: &Env, body: &str) -> Result<(), ApiError> {
    let ActionWork::Fired(rec) = decode(body)? else {
        console_error!("user events dead-lettered (rules missed them): {body}");
        return Ok(());
    };
    insert(env, &rec).await?;
    let row: Option<Row> = env
        .d1(DB_BINDING)?
        .prepare("SELECT actions, attempts FROM rule_firings WHERE id = ?1")
        .bind(&[rec.id.as_str().into()])?
        .first(None)
        .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let mut outcomes: Vec<Outcome> = serde_json::from_str(&row.actions).unwrap_or_default();
    for o in outcomes
        .iter_mut()
        .filter(|o| o.status == "queued" || o.status == "retrying")
    {
        o.status = "dead_lettered".into();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    update(env, &rec.id, &outcomes, row.attempts as u32).await
}
