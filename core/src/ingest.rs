//! One request in, one [`Outcome`] out.
//!
//! Invariant (conservation): every message in a request that parses ends in exactly one of
//! `accepted` or `rejected`, so `accepted.len() + rejected.len()` equals the number received.

use serde::Serialize;
use time::OffsetDateTime;

use crate::decode::{self, DecodeFacts};
use crate::error::{Reason, RequestError};
use crate::event::{Event, MessageType};
use crate::limits;

/// The facts of one ingest request that the core cannot know by itself.
#[derive(Debug, Clone, Copy)]
pub struct Ingest<'a> {
    /// Server time at receipt.
    pub now: OffsetDateTime,
    /// A unique id for this request; messages without a `messageId` get `{request_id}-{index}`.
    pub request_id: &'a str,
    /// `Some(type)` for `/v1/{type}` endpoints (one message), `None` for `/v1/batch`.
    pub single: Option<MessageType>,
}

/// A message that was turned away, with everything needed to store it as a bad row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// Position in the batch.
    pub index: usize,
    /// The message's own `messageId`, when it had a readable one.
    pub message_id: Option<String>,
    /// The stable reason.
    #[serde(serialize_with = "reason_code")]
    pub reason: Reason,
    /// A human-readable explanation.
    pub detail: String,
    /// The message exactly as received.
    #[serde(skip)]
    pub raw: String,
}

fn reason_code<S: serde::Serializer>(r: &Reason, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.code())
}

/// What became of a request's messages.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The write key from the body, if one was sent there.
    pub write_key: Option<String>,
    /// Messages that passed, in order.
    pub accepted: Vec<Event>,
    /// Messages that did not, in order.
    pub rejected: Vec<Rejection>,
}

impl Outcome {
    /// How many messages the request held.
    pub fn received(&self) -> usize {
        self.accepted.len() + self.rejected.len()
    }
}

/// Decodes a request body and judges each message in it.
pub fn ingest(body: &[u8], req: &Ingest<'_>) -> Result<Outcome, RequestError> {
    let env = decode::envelope(body, req.single)?;
    let mut out = Outcome {
        write_key: env.write_key.clone(),
        accepted: Vec::with_capacity(env.messages.len().min(limits::MAX_BATCH_EVENTS)),
        rejected: Vec::new(),
    };
    for (index, raw) in env.messages.iter().enumerate() {
        if index >= limits::MAX_BATCH_EVENTS {
            out.rejected.push(Rejection {
                index,
                message_id: readable_message_id(raw.get()),
                reason: Reason::BatchTooLong,
                detail: format!("a batch holds at most {} events", limits::MAX_BATCH_EVENTS),
                raw: raw.get().to_owned(),
            });
            continue;
        }
        let fallback = format!("{}-{index}", req.request_id);
        let facts = DecodeFacts {
            received_at: req.now,
            single: req.single,
            fallback_message_id: &fallback,
            batch_sent_at: env.sent_at.as_deref(),
            batch_context: env.context.as_ref(),
            batch_integrations: env.integrations.as_ref(),
        };
        match decode::message(raw, &facts) {
            Ok(event) => out.accepted.push(event),
            Err((reason, detail)) => out.rejected.push(Rejection {
                index,
                message_id: readable_message_id(raw.get()),
                reason,
                detail,
                raw: raw.get().to_owned(),
            }),
        }
    }
    Ok(out)
}

/// The `messageId` of a message that may be malformed, when it can be read at all.
fn readable_message_id(raw: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "messageId")]
        message_id: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_str(raw).ok()?;
    match head.message_id? {
        serde_json::Value::String(s) if s.len() <= limits::MAX_ID_CHARS => Some(s),
        _ => None,
    }
}
