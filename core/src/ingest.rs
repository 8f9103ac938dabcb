//! One request in, one [`Outcome`] out: decode → authorize → per message (limits and shape →
//! GPC → tracking plan → enrichment).
//!
//! Invariant (conservation): every message in a request that passes the request-level checks
//! ends in exactly one of `accepted` or `rejected`, in order, so `accepted.len() +
//! rejected.len()` equals the number received and each index appears once.

use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::config::{write_key_from_basic_auth, GpcPolicy, Pipeline};
use crate::decode::{self, DecodeFacts, Envelope};
use crate::enrich::{Enricher, WriteKeySource};
use crate::error::{AuthError, Reason, RequestError};
use crate::event::{Event, MessageType};
use crate::gzip;
use crate::limits;
use crate::plan::{self, Verdict};
use crate::request::{KeptFacts, RequestFacts};

/// The facts of one ingest request that the core cannot know by itself.
#[derive(Debug, Clone, Copy)]
pub struct Ingest<'a> {
    /// Server time at receipt.
    pub now: OffsetDateTime,
    /// A unique id for this request; messages without a `messageId` get `{request_id}-{index}`.
    pub request_id: &'a str,
    /// `Some(type)` for `/v1/{type}` endpoints (one message), `None` for `/v1/batch`.
    pub single: Option<MessageType>,
    /// Headers and connection facts (IP, User-Agent, Origin, Authorization, `request.cf`, …).
    pub request: RequestFacts<'a>,
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
    /// The message exactly as received, for the bad row and replay; empty when the reason
    /// forbids keeping it ([`Reason::keeps_payload`], i.e. a GPC opt-out).
    #[serde(skip)]
    pub raw: String,
}

fn reason_code<S: serde::Serializer>(r: &Reason, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.code())
}

/// What became of a request's messages.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The write key the request was authorized with (header or body); bad rows keep it.
    pub write_key: Option<String>,
    /// The configured name of that write key's source.
    pub source: String,
    /// Messages that passed, in order, enriched.
    pub accepted: Vec<Event>,
    /// `accepted`, each encoded as JSON (same order and length), each at most
    /// [`limits::MAX_STORED_EVENT_BYTES`]: what [`crate::work::split`] packs for the queue, so
    /// an event is serialized once per request.
    pub encoded: Vec<String>,
    /// Messages that did not, in order.
    pub rejected: Vec<Rejection>,
    /// The request facts to store with bad rows, so a replay enriches as this request did.
    pub kept: KeptFacts,
}

impl Outcome {
    /// How many messages the request held.
    pub fn received(&self) -> usize {
        self.accepted.len() + self.rejected.len()
    }
}

/// Judges one ingest request: decodes the body (gzip per `Content-Encoding`), authorizes the
/// write key (HTTP Basic username, else `writeKey` in the body) against `Origin`, then runs
/// every message through limits, GPC policy, the tracking plan and enrichment.
pub fn ingest(body: &[u8], req: &Ingest<'_>, pipeline: &Pipeline) -> Result<Outcome, RequestError> {
    let facts = &req.request;
    let header_key = facts.authorization.and_then(write_key_from_basic_auth);
    // A header key is checked before the body is inflated or parsed, so an unauthorized
    // sender costs no decompression.
    if let Some(key) = header_key.as_deref() {
        pipeline.authorize(Some(key), facts.origin)?;
    }
    let body = gzip::decode_body(body, facts.content_encoding)?;
    let env = decode::envelope(&body, req.single)?;
    let (write_key, key_source) = match header_key {
        Some(key) => (key, WriteKeySource::Basic),
        None => (
            env.write_key.clone().ok_or(AuthError::MissingWriteKey)?,
            WriteKeySource::Body,
        ),
    };
    let source = pipeline.authorize(Some(&write_key), facts.origin)?;

    let gpc = if facts.gpc() {
        pipeline.gpc()
    } else {
        GpcPolicy::Ignore
    };
    let enricher = Enricher::new(
        *facts,
        &source.name,
        key_source,
        gpc == GpcPolicy::Anonymize,
    );
    let mut run = Run {
        out: Outcome {
            write_key: Some(write_key.clone()),
            source: source.name.clone(),
            accepted: Vec::with_capacity(env.messages.len().min(limits::MAX_BATCH_EVENTS)),
            encoded: Vec::with_capacity(env.messages.len().min(limits::MAX_BATCH_EVENTS)),
            rejected: Vec::new(),
            kept: KeptFacts::keep(facts, env.sent_at.as_deref()),
        },
        enricher,
        pipeline,
    };
    for (index, raw) in env.messages.iter().enumerate() {
        if gpc == GpcPolicy::Drop {
            run.reject(
                index,
                raw,
                Reason::GpcOptOut,
                "the browser sent Sec-GPC: 1 and this source drops such events".into(),
            );
            continue;
        }
        run.message(index, raw, &env, req);
    }
    Ok(run.out)
}

/// What a stored bad row needs to be judged again.
#[derive(Debug, Clone, Copy)]
pub struct Replay<'a> {
    /// When the message was first received (its `receivedAt`, so clock-skew correction holds).
    pub received_at: OffsetDateTime,
    /// The write key stored with the bad row.
    pub write_key: &'a str,
    /// The id a message without `messageId` gets (`{request_id}-0`); use the original.
    pub request_id: &'a str,
    /// The original request's facts, when the bad row kept them ([`Outcome::kept`]).
    pub facts: Option<&'a KeptFacts>,
}

/// Re-runs one stored message (a bad row's original JSON) through the current pipeline, e.g.
/// after a tracking-plan fix. The write key must still be configured. With the kept request
/// facts, enrichment (truncated IP, geo, user agent, GPC policy) and clock-skew correction
/// (the batch `sentAt`) come out as they would have; without them, enrichment uses what the
/// message itself holds. `context.spur.writeKeySource` is `replay`.
pub fn replay(raw: &str, rep: &Replay<'_>, pipeline: &Pipeline) -> Result<Outcome, RequestError> {
    let source = pipeline.authorize(Some(rep.write_key), None)?;
    let raw: &RawValue =
        serde_json::from_str(raw).map_err(|e| RequestError::Malformed(e.to_string()))?;
    let facts = rep.facts.map(KeptFacts::as_request).unwrap_or_default();
    let env = Envelope {
        messages: vec![raw],
        write_key: None,
        sent_at: rep.facts.and_then(|f| f.sent_at.clone()),
        context: None,
        integrations: None,
    };
    let req = Ingest {
        now: rep.received_at,
        request_id: rep.request_id,
        single: None,
        request: facts,
    };
    let gpc = if facts.gpc() {
        pipeline.gpc()
    } else {
        GpcPolicy::Ignore
    };
    let mut run = Run {
        out: Outcome {
            write_key: Some(rep.write_key.to_owned()),
            source: source.name.clone(),
            accepted: Vec::with_capacity(1),
            encoded: Vec::with_capacity(1),
            rejected: Vec::new(),
            kept: rep.facts.cloned().unwrap_or_default(),
        },
        enricher: Enricher::new(
            facts,
            &source.name,
            WriteKeySource::Replay,
            gpc == GpcPolicy::Anonymize,
        ),
        pipeline,
    };
    run.message(0, raw, &env, &req);
    Ok(run.out)
}

struct Run<'p, 'e> {
    out: Outcome,
    enricher: Enricher<'e>,
    pipeline: &'p Pipeline,
}

impl Run<'_, '_> {
    fn message(&mut self, index: usize, raw: &RawValue, env: &Envelope<'_>, req: &Ingest<'_>) {
        let fallback = format!("{}-{index}", req.request_id);
        let facts = DecodeFacts {
            received_at: req.now,
            single: req.single,
            fallback_message_id: &fallback,
            batch_sent_at: env.sent_at.as_deref(),
            batch_context: env.context.as_ref(),
            batch_integrations: env.integrations.as_ref(),
        };
        let mut event = match decode::message(raw, &facts) {
            Ok(event) => event,
            Err((reason, detail)) => return self.reject(index, raw, reason, detail),
        };
        let verdict = self
            .pipeline
            .plan()
            .map_or(Verdict::Pass, |p| p.check(&mut event));
        if let Verdict::Reject(reason, detail) = verdict {
            return self.reject(index, raw, reason, detail);
        }
        self.enricher.apply(&mut event);
        if let Verdict::Flag { violations, total } = verdict {
            plan::record_violations(&mut event, &violations, total);
        }
        // Enrichment adds request facts (a user agent can be long): bound what is stored.
        let json = match serde_json::to_string(&event) {
            Ok(json) => json,
            Err(e) => {
                let detail = format!("event cannot be encoded: {e}");
                return self.reject(index, raw, Reason::NotAnObject, detail);
            }
        };
        if json.len() > limits::MAX_STORED_EVENT_BYTES {
            let detail = format!(
                "event is {} bytes once enriched; the limit is {}",
                json.len(),
                limits::MAX_STORED_EVENT_BYTES
            );
            return self.reject(index, raw, Reason::EventTooLarge, detail);
        }
        self.out.accepted.push(event);
        self.out.encoded.push(json);
    }

    fn reject(&mut self, index: usize, raw: &RawValue, reason: Reason, detail: String) {
        self.out.rejected.push(Rejection {
            index,
            message_id: readable_message_id(raw.get()),
            reason,
            detail,
            raw: if reason.keeps_payload() {
                scrub_ip(raw.get())
            } else {
                String::new()
            },
        });
    }
}

/// The payload a bad row keeps: as received, except that a client-sent `context.ip` is
/// truncated like a stored event's, so no raw IP is ever stored, not even in bad rows.
/// Payloads without one (or that are not JSON objects) are kept byte for byte.
pub fn scrub_ip(raw: &str) -> String {
    if !raw.contains("\"ip\"") {
        return raw.to_owned();
    }
    let Ok(serde_json::Value::Object(mut msg)) = serde_json::from_str::<serde_json::Value>(raw)
    else {
        return raw.to_owned();
    };
    let Some(serde_json::Value::Object(ctx)) = msg.get_mut("context") else {
        return raw.to_owned();
    };
    let Some(ip) = ctx.get("ip") else {
        return raw.to_owned();
    };
    let truncated = ip
        .as_str()
        .and_then(crate::enrich::ip::truncate_ip)
        .map_or(serde_json::Value::Null, serde_json::Value::String);
    ctx.insert("ip".into(), truncated);
    serde_json::Value::Object(msg).to_string()
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

#[cfg(test)]
mod scrub_tests {
    use super::scrub_ip;

    #[test]
    fn client_ip_in_a_bad_row_is_truncated() {
        let raw = r#"{"type":"track","context":{"ip":"198.51.100.77","locale":"en"}}"#;
        let out: serde_json::Value = serde_json::from_str(&scrub_ip(raw)).unwrap();
        assert_eq!(out["context"]["ip"], "198.51.100.0");
        assert_eq!(out["context"]["locale"], "en");
        assert_eq!(out["type"], "track");
    }

    #[test]
    fn payloads_without_a_context_ip_are_kept_byte_for_byte() {
        for raw in [
            r#"{"type":"track", "event":"x"}"#,
            "{not json",
            r#"{"ip":"1.2.3.4"}"#,
        ] {
            assert_eq!(scrub_ip(raw), raw);
        }
        let unreadable = r#"{"context":{"ip":"not an ip"}}"#;
        assert_eq!(scrub_ip(unreadable), r#"{"context":{"ip":null}}"#);
    }
}
