//! Sends messages to a queue (`spur_core::work` decides how they are packed).
//!
//! Invariant: every message goes out as a `text` queue message, in `sendBatch` calls that
//! `spur_core::work::send_batches` keeps within the platform's limits (100 messages,
//! 256 KB per call; 128 KB per message), whatever the request held.

use spur_core::work::send_batches;
use worker::{MessageBuilder, Queue, QueueContentType};

use crate::http::error::ApiError;

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
