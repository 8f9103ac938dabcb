//! Replaying a stored bad row: the fix-ups a row needs before it can be judged again, and why a
//! row is still refused.
//!
//! Invariant: a row is re-judged with the *current* pipeline at its original receipt time and
//! with its kept request facts (without them when absent or unreadable, as for rows from before
//! facts were kept); a row whose payload was cut to fit is never judged (it would be judged on
//! a fragment); every refusal has a stable [`ReplayRefusal::code`].

use serde_json::Value;

use crate::error::Reason;
use crate::event::{Event, MessageType};
use crate::ingest::{replay, Replay};
use crate::request::KeptFacts;
use crate::{Pipeline, RequestError};

/// A bad row as read back from storage.
#[derive(Debug, Clone, Copy)]
pub struct StoredBadRow<'a> {
    /// The row's id (its replay's request id is `replay-{id}`).
    pub id: u64,
    /// Receipt time (RFC 3339).
    pub received_at: &'a str,
    /// The write key it came with.
    pub write_key: Option<&'a str>,
    /// The endpoint it came in on.
    pub endpoint: &'a str,
    /// The stored message.
    pub payload: &'a str,
    /// The kept request facts (JSON), if any.
    pub request: Option<&'a str>,
    /// The payload was cut to fit.
    pub payload_truncated: bool,
}

/// Why a replayed row is still refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayRefusal {
    /// The stored payload was cut to fit and cannot be judged again.
    PayloadTruncated,
    /// The row has no write key to replay with.
    MissingWriteKey,
    /// The stored receipt time is unreadable.
    InvalidTimestamp,
    /// The payload failed as a request (unreadable, write key no longer configured, …).
    Request(RequestError),
    /// The message was rejected again.
    Rejected {
        /// Why.
        reason: Reason,
        /// Detail.
        detail: String,
    },
    /// Nothing in the payload was accepted, without a rejection to name.
    NothingAccepted,
    /// The row records a refused alias link of an event that was stored: replaying it would
    /// store the event a second time.
    EventStored,
}

impl ReplayRefusal {
    /// The stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            ReplayRefusal::PayloadTruncated => "payload_truncated",
            ReplayRefusal::MissingWriteKey => "missing_write_key",
            ReplayRefusal::InvalidTimestamp => "invalid_timestamp",
            ReplayRefusal::Request(e) => e.code(),
            ReplayRefusal::Rejected { reason, .. } => reason.code(),
            ReplayRefusal::NothingAccepted => "rejected",
            ReplayRefusal::EventStored => "event_stored",
        }
    }

    /// A human-readable explanation.
    pub fn detail(&self) -> String {
        match self {
            ReplayRefusal::PayloadTruncated => {
                "the stored payload was cut to fit and cannot be judged again".to_owned()
            }
            ReplayRefusal::MissingWriteKey => "the row has no write key to replay with".to_owned(),
            ReplayRefusal::InvalidTimestamp => "stored receipt time is unreadable".to_owned(),
            ReplayRefusal::Request(e) => e.to_string(),
            ReplayRefusal::Rejected { detail, .. } => detail.clone(),
            ReplayRefusal::NothingAccepted => String::new(),
            ReplayRefusal::EventStored => {
                "the event was stored; only its alias link was refused".to_owned()
            }
        }
    }
}

/// Re-judges one stored row; the accepted events, or why it is still refused.
pub fn replay_row(
    row: &StoredBadRow<'_>,
    pipeline: &Pipeline,
) -> Result<Vec<Event>, ReplayRefusal> {
    if row.endpoint == crate::identity::ALIAS_LINK_ENDPOINT {
        return Err(ReplayRefusal::EventStored);
    }
    if row.payload_truncated {
        return Err(ReplayRefusal::PayloadTruncated);
    }
    let write_key = row.write_key.ok_or(ReplayRefusal::MissingWriteKey)?;
    let received_at = crate::instant::parse_rfc3339(row.received_at)
        .map_err(|_| ReplayRefusal::InvalidTimestamp)?;
    let payload = with_endpoint_type(row.payload, row.endpoint);
    let request_id = format!("replay-{}", row.id);
    let kept: Option<KeptFacts> = row.request.and_then(|r| serde_json::from_str(r).ok());
    let rep = Replay {
        received_at,
        write_key,
        request_id: &request_id,
        facts: kept.as_ref(),
    };
    let outcome = replay(&payload, &rep, pipeline).map_err(ReplayRefusal::Request)?;
    if let Some(r) = outcome.rejected.into_iter().next() {
        return Err(ReplayRefusal::Rejected {
            reason: r.reason,
            detail: r.detail,
        });
    }
    if outcome.accepted.is_empty() {
        return Err(ReplayRefusal::NothingAccepted);
    }
    Ok(outcome.accepted)
}

/// What an ingest path asks for: a batch (`Some(None)`: `/v1/batch`, `/v1/b`, `/v1/import`),
/// one message of a type (`/v1/track`, `/v1/t`, …), or nothing (`None`).
pub fn endpoint(path: &str) -> Option<Option<MessageType>> {
    match path.strip_prefix("/v1/")? {
        "batch" | "b" | "import" => Some(None),
        other => MessageType::from_endpoint(other).map(Some),
    }
}

/// A message from `/v1/track` (etc.) carries no `type`; replay needs it in the payload. Anything
/// else (a batch, a message that has a `type`, unreadable JSON) is returned unchanged.
pub fn with_endpoint_type(payload: &str, path: &str) -> String {
    let Some(Some(kind)) = endpoint(path) else {
        return payload.to_owned();
    };
    match serde_json::from_str::<Value>(payload) {
        Ok(Value::Object(mut m)) if !m.contains_key("type") => {
            m.insert("type".into(), Value::String(kind.as_str().into()));
            Value::Object(m).to_string()
        }
        _ => payload.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"sources": {"wk_1": {"name": "site", "allowedOrigins": ["*"]}}}"#;

    fn row(payload: &str) -> StoredBadRow<'_> {
        StoredBadRow {
            id: 7,
            received_at: "2024-05-01T12:00:00Z",
            write_key: Some("wk_1"),
            endpoint: "/v1/track",
            payload,
            request: None,
            payload_truncated: false,
        }
    }

    #[test]
    fn endpoints_and_type_fix_up() {
        assert_eq!(endpoint("/v1/batch"), Some(None));
        assert_eq!(endpoint("/v1/t"), Some(Some(MessageType::Track)));
        assert_eq!(endpoint("/v1/nope"), None);
        assert_eq!(endpoint("/healthz"), None);
        let fixed: Value =
            serde_json::from_str(&with_endpoint_type(r#"{"event":"A"}"#, "/v1/track")).unwrap();
        assert_eq!(fixed["type"], "track");
        let kept = r#"{"type":"page"}"#;
        assert_eq!(with_endpoint_type(kept, "/v1/track"), kept);
        assert_eq!(
            with_endpoint_type(r#"{"event":"A"}"#, "/v1/batch"),
            r#"{"event":"A"}"#
        );
        assert_eq!(with_endpoint_type("not json", "/v1/track"), "not json");
    }

    #[test]
    fn a_fixed_row_replays_with_its_original_time_and_id() {
        let pipeline = Pipeline::from_json(CONFIG).unwrap();
        let events = replay_row(&row(r#"{"event":"A","anonymousId":"a1"}"#), &pipeline).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, MessageType::Track);
        assert_eq!(events[0].message_id, "replay-7-0");
        assert_eq!(
            crate::instant::rfc3339(events[0].received_at),
            "2024-05-01T12:00:00Z"
        );
    }

    #[test]
    fn refusals_have_stable_codes() {
        let pipeline = Pipeline::from_json(CONFIG).unwrap();
        let ok = r#"{"event":"A","anonymousId":"a1"}"#;
        let cases = [
            (
                StoredBadRow {
                    payload_truncated: true,
                    ..row(ok)
                },
                "payload_truncated",
            ),
            (
                StoredBadRow {
                    write_key: None,
                    ..row(ok)
                },
                "missing_write_key",
            ),
            (
                StoredBadRow {
                    received_at: "then",
                    ..row(ok)
                },
                "invalid_timestamp",
            ),
            (
                StoredBadRow {
                    write_key: Some("gone"),
                    ..row(ok)
                },
                "unknown_write_key",
            ),
            (row(r#"{"anonymousId":"a1"}"#), "missing_field"),
            // A refused alias link of a stored event: replay would store the event again.
            (
                StoredBadRow {
                    endpoint: crate::identity::ALIAS_LINK_ENDPOINT,
                    ..row(r#"{"id":"a1","to":"u1"}"#)
                },
                "event_stored",
            ),
        ];
        for (r, code) in cases {
            let refusal = replay_row(&r, &pipeline).unwrap_err();
            assert_eq!(refusal.code(), code, "{refusal:?}");
            assert!(code == "rejected" || !refusal.detail().is_empty());
        }
        assert_eq!(ReplayRefusal::NothingAccepted.code(), "rejected");
    }
}
