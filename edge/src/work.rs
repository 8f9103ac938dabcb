//! What the ingest request hands to the queue consumer.
//!
//! Invariant: every accepted event and every rejection of a request is in exactly one queue
//! message; a queue message's JSON stays under [`MAX_MESSAGE_BYTES`] (the platform's limit is
//! 128 KB), so no batch is too large to enqueue.

use serde::{Deserialize, Serialize};
use spur_core::Event;
use worker::{Env, Queue};

use crate::error::ApiError;

/// The queue binding the ingest request produces to and the consumer reads.
pub const EVENTS_QUEUE: &str = "EVENTS_QUEUE";
/// The dead-letter queue's name (wrangler.toml `dead_letter_queue`).
pub const DEAD_LETTER_QUEUE: &str = "spur-events-dlq";
/// Largest JSON payload put in one queue message.
pub const MAX_MESSAGE_BYTES: usize = 100 * 1024;

/// A message turned away, as stored in `bad_rows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadRow {
    /// Server receipt time (RFC 3339).
    pub received_at: String,
    /// The write key, when the request had one.
    pub write_key: Option<String>,
    /// The endpoint it came in on (`/v1/batch`, `/v1/track`, …).
    pub endpoint: String,
    /// Stable reason code.
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// Its `messageId`, when readable.
    pub message_id: Option<String>,
    /// The message (or body) as received.
    pub payload: String,
    /// The request's kept facts (`spur_core::KeptFacts` as JSON), for replay.
    #[serde(default)]
    pub request: Option<String>,
}

/// One unit of work for the consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    /// Accepted events to store and archive.
    Events {
        /// The write key they were sent with.
        write_key: Option<String>,
        /// The events.
        events: Vec<Event>,
    },
    /// Rejections to record.
    BadRows {
        /// The rows.
        rows: Vec<BadRow>,
    },
}

/// Splits events and bad rows into queue-sized work items.
pub fn split(
    write_key: Option<&str>,
    events: Vec<Event>,
    rows: Vec<BadRow>,
) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let wk = write_key.map(str::to_owned);
    chunk(events, &mut out, |events| Work::Events {
        write_key: wk.clone(),
        events,
    })?;
    chunk(rows, &mut out, |rows| Work::BadRows { rows })?;
    Ok(out)
}

/// Packs items greedily into JSON messages under the size cap. A single item over the cap
/// cannot happen: events are ≤ 32 KB by core's limits and bad-row payloads are truncated.
fn chunk<T: Serialize>(
    items: Vec<T>,
    out: &mut Vec<String>,
    wrap: impl Fn(Vec<T>) -> Work,
) -> Result<(), ApiError> {
    let mut current: Vec<T> = Vec::new();
    let mut size = 0;
    for item in items {
        let n = serde_json::to_vec(&item)
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .len()
            + 1;
        if !current.is_empty() && size + n > MAX_MESSAGE_BYTES {
            out.push(encode(&wrap(std::mem::take(&mut current)))?);
            size = 0;
        }
        size += n;
        current.push(item);
    }
    if !current.is_empty() {
        out.push(encode(&wrap(current))?);
    }
    Ok(())
}

fn encode(work: &Work) -> Result<String, ApiError> {
    serde_json::to_string(work).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Sends work items to the queue (one batch call).
pub async fn enqueue(env: &Env, items: Vec<String>) -> Result<(), ApiError> {
    if items.is_empty() {
        return Ok(());
    }
    let queue: Queue = env.queue(EVENTS_QUEUE)?;
    queue.send_batch(items).await?;
    Ok(())
}
