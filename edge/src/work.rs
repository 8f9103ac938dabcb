//! Sends what the ingest request hands to the queue consumer (`spur_core::work` decides how it
//! is packed).
//!
//! Invariant: every message goes out as a `text` queue message, in `sendBatch` calls that
//! `spur_core::work::send_batches` keeps within the platform's limits (100 messages,
//! 256 KB per call; 128 KB per message), whatever the request held.

use spur_core::work::send_batches;
use worker::{Env, MessageBuilder, Queue, QueueContentType};

use crate::error::ApiError;

pub use spur_core::work::{bad_rows, split, BadRow, Work};

/// The queue binding the ingest request produces to and the consumer reads.
pub const EVENTS_QUEUE: &str = "EVENTS_QUEUE";
/// The dead-letter queue's name (wrangler.toml `dead_letter_queue`).
pub const DEAD_LETTER_QUEUE: &str = "spur-events-dlq";

/// Sends work items to the events queue.
pub async fn enqueue(env: &Env, items: Vec<String>) -> Result<(), ApiError> {
    send(&env.queue(EVENTS_QUEUE)?, items).await
}

/// Sends JSON messages to a queue in as many `sendBatch` calls as its limits need.
pub async fn send(queue: &Queue, items: Vec<String>) -> Result<(), ApiError> {
    for batch in send_batches(items) {
        let batch: Vec<_> = batch
            .into_iter()
            .map(|m| {
                MessageBuilder::new(m)
                    .content_type(QueueContentType::Text)
                    .build()
            })
            .collect();
        queue.send_batch(batch).await?;
    }
    Ok(())
}
