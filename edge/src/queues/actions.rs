//! The actions queue consumer: records firings, delivers signed webhooks, forwards events, hands
//! deferred user events to their Durable Object. Outcomes, transitions and backoff are decided
//! in `spur_core::rules::actions`; this module only performs the attempts.
//!
//! Invariant: a firing row is inserted once (by firing id) and each webhook is POSTed until it
//! answers 2xx — skipped on later retries once delivered —, retried with exponential backoff,
//! and marked `dead_lettered` when the queue gives up; an outcome is always written back to
//! `rule_firings`, so an operator can see what happened to every action. A push or email goes
//! out only after the person's object admitted it under the frequency policy ([`Gate`]; no
//! hop when no policy is active); a refused one is recorded `skipped` with its reason. An
//! email or push outcome that closes leaves its campaign events ([`campaign`]).

use std::collections::BTreeMap;

use futures_util::future::{join, join_all};
use spur_core::frequency::{Ask, Channel};
use spur_core::push::{self as web_push, Answer, Entropy, PushError, VapidKey};
use spur_core::rules::actions::{self, backoff, Attempt, Outcome, PushSpec, PushTally};
use spur_core::rules::sign::{sign, SIGNATURE_HEADER};
use wasm_bindgen::JsValue;
use worker::{
    console_error, Env, Fetch, Headers, Message, MessageBatch, MessageExt, Method,
    QueueRetryOptionsBuilder, Request, RequestInit,
};

use crate::clock::{now, random_bytes};
use crate::http::error::ApiError;
use crate::objects::user_state::{self, Delivery, LiveDelivery};
use crate::queues::firings::{
    ActionWork, FiringRecord, ACTIONS_DEAD_LETTER_QUEUE, ACTIONS_QUEUE_NAME,
};
use crate::queues::{campaign, email};
use crate::storage::firings;
use crate::storage::push as push_store;
use crate::storage::settings;

/// The secret that signs webhooks.
pub const WEBHOOK_SECRET: &str = "WEBHOOK_SECRET";
/// The var holding the first retry's delay in seconds (doubling per attempt).
pub const RETRY_BASE_VAR: &str = "WEBHOOK_RETRY_BASE_SECONDS";

/// Whether a queue is one this module consumes.
pub fn handles(queue: &str) -> bool {
    queue == ACTIONS_QUEUE_NAME || queue == ACTIONS_DEAD_LETTER_QUEUE
}

enum Next {
    Done,
    RetryIn(u32),
}

/// Handles one delivery of the actions queue (or its dead-letter queue).
///
/// Firings are independent (each is one row keyed by its firing id), so they run concurrently:
/// a slow webhook endpoint does not hold up the rest of the batch, and a burst of journey
/// wake-ups drains at the pace of its slowest delivery rather than the sum of them. A person's
/// deferred events keep their order: each person's messages are handed over one after another,
/// different people's side by side.
pub async fn consume(batch: MessageBatch<String>, env: &Env) -> Result<(), ApiError> {
    let dead = batch.queue() == ACTIONS_DEAD_LETTER_QUEUE;
    let messages = batch.messages()?;
    let mut independent = Vec::new();
    let mut people: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for msg in &messages {
        let work = decode(msg.body());
        match &work {
            Ok(ActionWork::UserEvents { user, .. } | ActionWork::Live { user, .. }) => {
                people.entry(user.clone()).or_default().push((msg, work));
            }
            _ => independent.push((msg, work)),
        }
    }
    let firings = join_all(
        independent
            .into_iter()
            .map(|(msg, work)| async move { settle(msg, handle(env, work, dead).await) }),
    );
    let handovers = join_all(people.into_values().map(|chain| async move {
        for (msg, work) in chain {
            settle(msg, handle(env, work, dead).await);
        }
    }));
    join(firings, handovers).await;
    Ok(())
}

fn settle(msg: &Message<String>, result: Result<Next, ApiError>) {
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

async fn handle(
    env: &Env,
    work: Result<ActionWork, ApiError>,
    dead: bool,
) -> Result<Next, ApiError> {
    let work = work?;
    if dead {
        dead_letter(env, work).await.map(|()| Next::Done)
    } else {
        process(env, work).await
    }
}

fn decode(body: &str) -> Result<ActionWork, ApiError> {
    serde_json::from_str(body)
        .map_err(|e| ApiError::Internal(format!("undecodable action work: {e}")))
}

async fn process(env: &Env, work: ActionWork) -> Result<Next, ApiError> {
    match work {
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
                journeys: 0,
                enter: None,
                profile: None,
                hops: 0,
            };
            user_state::deliver(env, &delivery).await?;
            Ok(Next::Done)
        }
        ActionWork::Merge(link) => {
            user_state::merge(env, &link).await?;
            Ok(Next::Done)
        }
        ActionWork::Live {
            user,
            version,
            anonymous,
            events,
        } => {
            let delivery = LiveDelivery {
                user,
                version,
                events,
                anonymous,
                hops: 0,
            };
            user_state::upkeep(env, &delivery).await?;
            Ok(Next::Done)
        }
    }
}

async fn run(env: &Env, rec: &FiringRecord) -> Result<Next, ApiError> {
    firings::insert(env, rec).await?;
    let Some((mut outcomes, attempts)) = firings::outcomes(env, &rec.id).await? else {
        return Err(ApiError::Internal("firing row vanished".into()));
    };
    if rec.capped || !outcomes.iter().any(Outcome::is_open) {
        return Ok(Next::Done);
    }
    let body =
        serde_json::to_string(&rec.payload).map_err(|e| ApiError::Internal(e.to_string()))?;
    let attempts = attempts + u32::from(actions::counts_attempt(&outcomes));
    let before: Vec<_> = outcomes.iter().map(|o| o.status).collect();
    let counted = outcomes
        .iter()
        .any(|o| o.attemptable() && Channel::of_action(&o.kind).is_some());
    let gate = Gate {
        env,
        user: &rec.user,
        active: counted && settings::frequency(env).await?.is_active(),
    };
    for o in outcomes.iter_mut().filter(|o| o.attemptable()) {
        let target = o.target.clone().unwrap_or_default();
        let attempt = match o.kind.as_str() {
            "webhook" => post(env, &target, rec, &body).await,
            "push" => push(env, rec, &target, &mut o.done, &gate).await,
            "email" => email::send(env, rec, &target, &gate).await,
            _ => forward(env, &target, &body).await,
        };
        o.record(&attempt);
    }
    firings::update(env, &rec.id, &outcomes, attempts).await?;
    campaign::record(env, rec, &before, &outcomes).await;
    Ok(if actions::wants_retry(&outcomes) {
        Next::RetryIn(backoff(retry_base(env), attempts))
    } else {
        Next::Done
    })
}

/// The frequency cap of one firing's person: asks their Durable Object (which keeps the tally)
/// only when a policy is active.
pub struct Gate<'a> {
    env: &'a Env,
    user: &'a str,
    active: bool,
}

impl Gate<'_> {
    /// Asks right before a send, once nothing else stops it (so a send that could not go out
    /// is not counted). Keyed by the action id: a retry gets the first answer, counted once.
    /// `Some` is the attempt that records the refusal (or a failed ask, retried).
    pub async fn check(&self, key: &str, channel: Channel) -> Option<Attempt> {
        if !self.active {
            return None;
        }
        let ask = Ask {
            key: key.to_owned(),
            channel,
        };
        match user_state::admit(self.env, self.user, &[ask]).await {
            Ok(v) => v
                .into_iter()
                .next()
                .and_then(|v| v.skip)
                .map(Attempt::NotAdmitted),
            Err(e) => Some(Attempt::RequestFailed(format!("frequency check: {e:?}"))),
        }
    }
}

/// The configured first retry delay (seconds).
fn retry_base(env: &Env) -> u32 {
    env.var(RETRY_BASE_VAR)
        .ok()
        .and_then(|v| v.to_string().parse().ok())
        .unwrap_or(actions::DEFAULT_RETRY_BASE_SECS)
}

async fn post(env: &Env, url: &str, rec: &FiringRecord, body: &str) -> Attempt {
    let Some(secret) = env
        .secret(WEBHOOK_SECRET)
        .ok()
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
    else {
        return Attempt::NoSecret;
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
        Ok(resp) => Attempt::Answered(resp.status_code()),
        Err(e) => Attempt::RequestFailed(e.to_string()),
    }
}

async fn forward(env: &Env, binding: &str, body: &str) -> Attempt {
    let Ok(queue) = env.queue(binding) else {
        return Attempt::NoBinding(binding.to_owned());
    };
    match queue.send(body.to_owned()).await {
        Ok(()) => Attempt::Forwarded(binding.to_owned()),
        Err(e) => Attempt::SendFailed(e.to_string()),
    }
}

/// Sends push action `target` of `rec` to each of the person's subscriptions not in `done`,
/// adding those answered for good to `done`; a subscription whose push service says 404/410
/// is deleted.
async fn push(
    env: &Env,
    rec: &FiringRecord,
    target: &str,
    done: &mut Vec<String>,
    gate: &Gate<'_>,
) -> Attempt {
    let Ok((vapid, subject)) = crate::http::push::vapid(env) else {
        return Attempt::NoVapid;
    };
    let mut tally = PushTally::default();
    let Some(spec) = rec.pushes.iter().find(|p| p.id == target) else {
        tally.add(Answer::Rejected, "the firing has no push spec".into());
        return Attempt::Pushed(tally);
    };
    let subs = match push_store::for_person(env, &rec.user).await {
        Ok(subs) => subs,
        Err(e) => return Attempt::RequestFailed(format!("{e:?}")),
    };
    let todo: Vec<_> = subs
        .into_iter()
        .filter(|s| !done.contains(&s.endpoint))
        .collect();
    if !todo.is_empty() {
        if let Some(refused) = gate.check(target, Channel::Push).await {
            return refused;
        }
    }
    for s in &todo {
        let (answer, what) = push_one(&vapid, &subject, rec, spec, s).await;
        if answer == Answer::Gone {
            if let Err(e) = push_store::delete(env, &s.endpoint).await {
                console_error!("deleting a gone push subscription failed: {e:?}");
            }
        }
        if tally.add(answer, what) {
            done.push(s.endpoint.clone());
        }
    }
    Attempt::Pushed(tally)
}

async fn push_one(
    vapid: &VapidKey,
    subject: &str,
    rec: &FiringRecord,
    spec: &PushSpec,
    stored: &push_store::Stored,
) -> (Answer, String) {
    let payload = match spec.payload(
        &rec.rule,
        stored.user_id.as_deref(),
        stored.anonymous_id.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => return (Answer::Rejected, e.code().to_owned()),
    };
    let mut random = [0u8; 48];
    random_bytes(&mut random);
    let (ephemeral, salt) = random.split_at(32);
    let (Ok(ephemeral), Ok(salt)) = (ephemeral.try_into(), salt.try_into()) else {
        return (Answer::Retry, "entropy".into());
    };
    let entropy = Entropy { ephemeral, salt };
    let request = match web_push::request(
        &stored.subscription(),
        &payload,
        &spec.options(),
        vapid,
        subject,
        now().unix_timestamp(),
        &entropy,
    ) {
        Ok(r) => r,
        // A drawn key outside the curve order (p < 2^-32): draw again on the retry.
        Err(PushError::InvalidEntropy) => return (Answer::Retry, "invalid_push_entropy".into()),
        Err(e) => return (Answer::Rejected, e.code().to_owned()),
    };
    let result = async {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.set(name, value)?;
        }
        let body = js_sys::Uint8Array::from(request.body.as_slice());
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.into()));
        let req = Request::new_with_init(&request.endpoint, &init)?;
        Fetch::Request(req).send().await
    }
    .await;
    match result {
        Ok(resp) => {
            let status = resp.status_code();
            (Answer::from_status(status), format!("HTTP {status}"))
        }
        Err(e) => (Answer::Retry, format!("request failed: {e}")),
    }
}

/// The queue gave up: whatever was still open is dead-lettered (the payload stays in the row's
/// firing for a manual resend).
async fn dead_letter(env: &Env, work: ActionWork) -> Result<(), ApiError> {
    let rec = match work {
        ActionWork::Fired(rec) => rec,
        ActionWork::UserEvents { user, events, .. } => {
            console_error!(
                "{} events of {user} dead-lettered (rules missed them)",
                events.len()
            );
            return Ok(());
        }
        ActionWork::Merge(link) => {
            console_error!(
                "merge of {} into {} dead-lettered (state stays with the anonymous id)",
                link.from,
                link.into
            );
            return Ok(());
        }
        ActionWork::Live { user, events, .. } => {
            console_error!(
                "live segment upkeep of {user} dead-lettered ({} stored events not observed)",
                events.len()
            );
            return Ok(());
        }
    };
    firings::insert(env, &rec).await?;
    let Some((mut outcomes, attempts)) = firings::outcomes(env, &rec.id).await? else {
        return Ok(());
    };
    let before: Vec<_> = outcomes.iter().map(|o| o.status).collect();
    actions::dead_letter(&mut outcomes);
    firings::update(env, &rec.id, &outcomes, attempts).await?;
    campaign::record(env, &rec, &before, &outcomes).await;
    Ok(())
}
