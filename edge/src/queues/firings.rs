//! Producing to the actions queue: rule firings (records for `rule_firings`, webhooks and
//! forwards) and user events deferred to their Durable Object. What a firing's actions are and
//! how their state moves is decided in `spur_core::rules::actions`.
//!
//! Invariant: every firing — including one the frequency cap suppressed — becomes exactly one
//! [`ActionWork::Fired`] message carrying a fresh firing id; the consumer records it idempotently
//! by that id, so a redelivered message never duplicates a firing row.

use spur_core::rules::{Firing, Prepared, RuleIndex};
use worker::Env;

use crate::clock::uuid;
use crate::http::error::ApiError;
use crate::queues::send::send;

pub use spur_core::rules::{ActionWork, FiringRecord};

/// The actions queue binding.
pub const ACTIONS_QUEUE: &str = "ACTIONS_QUEUE";
/// The actions queue's name (wrangler.toml).
pub const ACTIONS_QUEUE_NAME: &str = "spur-actions";
/// Its dead-letter queue's name.
pub const ACTIONS_DEAD_LETTER_QUEUE: &str = "spur-actions-dlq";

/// Builds firing records and in-app messages, each firing with a fresh platform UUID.
pub fn prepare(
    index: &RuleIndex,
    firings: Vec<Firing>,
    user: &str,
    source: &str,
    returned: bool,
) -> Prepared {
    spur_core::rules::actions::prepare(index, firings, user, source, returned, &mut uuid)
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
    send(&env.queue(ACTIONS_QUEUE)?, items).await
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
