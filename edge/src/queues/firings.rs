//! Turning rule firings into actions: in-app messages now, everything else through the actions
//! queue (webhooks, forwards, the `rule_firings` record).
//!
//! Invariant: every firing — including one the frequency cap suppressed — becomes exactly one
//! [`ActionWork::Fired`] message carrying a fresh firing id; the consumer records it idempotently
//! by that id, so a redelivered message never duplicates a firing row.

use serde::{Deserialize, Serialize};
use spur_core::rules::{messages, Action, Firing, InAppMessage, RuleIndex, WebhookBody};
use spur_core::Event;
use worker::Env;

use crate::clock::uuid;
use crate::http::error::ApiError;

/// The actions queue binding.
pub const ACTIONS_QUEUE: &str = "ACTIONS_QUEUE";
/// The actions queue's name (wrangler.toml).
pub const ACTIONS_QUEUE_NAME: &str = "spur-actions";
/// Its dead-letter queue's name.
pub const ACTIONS_DEAD_LETTER_QUEUE: &str = "spur-actions-dlq";

/// One unit of work on the actions queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionWork {
    /// Record a firing and run its queued actions.
    Fired(Box<FiringRecord>),
    /// Events for a user's Durable Object that the ingest request did not hand over itself
    /// (too many users in one batch, or the object was unreachable).
    UserEvents {
        /// userId, else anonymousId.
        user: String,
        /// The rule set version the events were judged with.
        version: u64,
        /// The events.
        events: Vec<Event>,
    },
}

/// A firing as stored in `rule_firings`, plus the payload its webhooks and forwards send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FiringRecord {
    /// Firing id (also the webhook's `id` and `Spur-Delivery` header).
    pub id: String,
    /// Rule id.
    pub rule: String,
    /// userId, else anonymousId.
    pub user: String,
    /// When it fired (ms since 1970).
    pub at_ms: i64,
    /// The events that made it fire.
    pub message_ids: Vec<String>,
    /// `ingest`, `state` or `alarm`.
    pub source: String,
    /// Suppressed by the cap: recorded, no action runs.
    pub capped: bool,
    /// Each action's outcome so far.
    pub actions: Vec<Outcome>,
    /// What webhooks and forwards send.
    pub payload: WebhookBody,
}

/// One action's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `webhook`, `message`, `forward`.
    #[serde(rename = "type")]
    pub kind: String,
    /// URL, queue binding or message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `queued`, `returned`, `pending_pickup`, `capped`, `delivered`, `retrying`, `forwarded`,
    /// `failed`, `dead_lettered`.
    pub status: String,
    /// What happened last (HTTP status, error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Firings of one user, made ready: records for the queue and the messages they show.
#[derive(Debug, Default)]
pub struct Prepared {
    /// For the actions queue.
    pub records: Vec<FiringRecord>,
    /// In-app messages.
    pub messages: Vec<InAppMessage>,
}

/// Builds records and messages. `returned` says whether the messages go back in this response
/// (else they wait in the user's object for the tracker's next request).
pub fn prepare(
    index: &RuleIndex,
    firings: Vec<Firing>,
    user: &str,
    source: &str,
    returned: bool,
) -> Prepared {
    let mut out = Prepared::default();
    for f in firings {
        let Some(rule) = index.get(&f.rule) else {
            continue;
        };
        let id = uuid();
        let shown = if f.capped {
            Vec::new()
        } else {
            messages(&rule.rule, &id, user)
        };
        let mut shown_ids = shown.iter().map(|m| m.id.clone());
        let actions = rule
            .rule
            .actions
            .iter()
            .map(|a| {
                let (target, status) = match a {
                    Action::Webhook { url } => (Some(url.clone()), "queued"),
                    Action::Forward { queue } => (Some(queue.clone()), "queued"),
                    Action::Message { .. } => (
                        shown_ids.next(),
                        if returned {
                            "returned"
                        } else {
                            "pending_pickup"
                        },
                    ),
                };
                Outcome {
                    kind: a.kind().to_owned(),
                    target,
                    status: if f.capped { "capped" } else { status }.to_owned(),
                    detail: None,
                }
            })
            .collect();
        let payload = WebhookBody::new(&rule.rule, &f, &id, user);
        out.messages.extend(shown);
        out.records.push(FiringRecord {
            id,
            rule: f.rule,
            user: user.to_owned(),
            at_ms: f.at,
            message_ids: f.events,
            source: source.to_owned(),
            capped: f.capped,
            actions,
            payload,
        });
    }
    out
}

/// Sends work to the actions queue.
pub async fn enqueue(env: &Env, work: Vec<ActionWork>) -> Result<(), ApiError> {
    if work.is_empty() {
        return Ok(());
    }
    let items = work
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    crate::queues::send::send(&env.queue(ACTIONS_QUEUE)?, items).await
}

/// Sends firing records to the actions queue.
pub async fn record(env: &Env, records: Vec<FiringRecord>) -> Result<(), ApiError> {
    enqueue(
        env,
        records
            .into_iter()
            .map(|r| ActionWork::Fired(Box::new(r)))
            .collect(),
    )
    .await
}
