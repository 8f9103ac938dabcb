//! The event model: one Segment-spec message after decoding.
//!
//! Invariant: an [`Event`] has passed every limit and shape check, has an identity
//! (`userId` or `anonymousId`), a `messageId` and a server `receivedAt`; it serializes back to
//! Segment-spec JSON (camelCase keys), so anything downstream reads the ecosystem's format.
//! Top-level fields outside the spec (`writeKey`, `_metadata`, `channel`, …) are not kept: the
//! write key in particular is a credential and never stored with an event.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A JSON object, as used for `properties`, `traits`, `context` and `integrations`.
pub type Object = Map<String, Value>;

/// The Segment message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// `track`: a user did something (`event` names it).
    Track,
    /// `page`: a web page view (`name` optional).
    Page,
    /// `screen`: a mobile screen view (`name` optional).
    Screen,
    /// `identify`: who the user is (`traits`).
    Identify,
    /// `group`: the user belongs to a group (`groupId`, `traits`).
    Group,
    /// `alias`: `previousId` and `userId` are the same person.
    Alias,
}

impl MessageType {
    /// Parses the `type` field (also the path segment of `/v1/{type}`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "track" => Self::Track,
            "page" => Self::Page,
            "screen" => Self::Screen,
            "identify" => Self::Identify,
            "group" => Self::Group,
            "alias" => Self::Alias,
            _ => return None,
        })
    }

    /// Parses the last path segment of an ingest endpoint: `/v1/track` and analytics.js's
    /// short aliases (`/v1/t`, `/v1/p`, `/v1/s`, `/v1/i`, `/v1/g`, `/v1/a`). The batch
    /// endpoints (`/v1/batch`, `/v1/b`) are not a message type and give `None`.
    pub fn from_endpoint(segment: &str) -> Option<Self> {
        Some(match segment {
            "t" => Self::Track,
            "p" => Self::Page,
            "s" => Self::Screen,
            "i" => Self::Identify,
            "g" => Self::Group,
            "a" => Self::Alias,
            other => return Self::parse(other),
        })
    }

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Page => "page",
            Self::Screen => "screen",
            Self::Identify => "identify",
            Self::Group => "group",
            Self::Alias => "alias",
        }
    }
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique id; the dedupe key downstream.
    pub message_id: String,
    /// The message type.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// The event name (`track`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The page or screen name (`page`, `screen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The page or screen category (`page`, `screen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The known user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The anonymous (device/browser) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    /// The group id (`group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The previous id (`alias`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<String>,
    /// Event properties (`track`, `page`, `screen`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Object,
    /// User or group traits (`identify`, `group`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub traits: Object,
    /// Context: page, userAgent, locale, campaign, library, … plus Spur's enrichment (`ip`,
    /// `geo`, `spur`; see [`crate::enrich`]).
    #[serde(default)]
    pub context: Object,
    /// Destinations the sender asked for (kept as sent).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub integrations: Object,
    /// When the event happened, corrected for the client's clock skew.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The `timestamp` the client sent, uncorrected.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_timestamp: Option<OffsetDateTime>,
    /// When the client sent the batch, by its own clock.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub sent_at: Option<OffsetDateTime>,
    /// When the edge received it, by the server clock.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

impl Event {
    /// An `events` table row (column names as in `migrations/`, JSON columns as text) back into
    /// the event; `None` when the row does not make a valid event.
    pub fn from_row(row: &Map<String, Value>) -> Option<Event> {
        let mut out = Map::new();
        for (col, key) in [
            ("message_id", "messageId"),
            ("type", "type"),
            ("event", "event"),
            ("name", "name"),
            ("user_id", "userId"),
            ("anonymous_id", "anonymousId"),
            ("group_id", "groupId"),
            ("previous_id", "previousId"),
            ("timestamp", "timestamp"),
            ("received_at", "receivedAt"),
            ("sent_at", "sentAt"),
            ("original_timestamp", "originalTimestamp"),
        ] {
            if let Some(v) = row.get(col).filter(|v| !v.is_null()) {
                out.insert(key.into(), v.clone());
            }
        }
        for col in ["properties", "traits", "context", "integrations"] {
            let parsed = row
                .get(col)
                .and_then(Value::as_str)
                .and_then(|t| serde_json::from_str(t).ok());
            out.insert(
                col.into(),
                parsed.unwrap_or_else(|| Value::Object(Map::new())),
            );
        }
        // Through text, not `from_value`: `Event` then has one `Deserialize` path in the Worker
        // (issue 15, size).
        serde_json::from_str(&Value::Object(out).to_string()).ok()
    }

    /// The id the per-user state is keyed by: `userId`, else `anonymousId`.
    pub fn identity(&self) -> &str {
        self.user_id
            .as_deref()
            .or(self.anonymous_id.as_deref())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stored_row_reads_back_as_the_event() {
        let row = serde_json::json!({
            "message_id": "m1", "type": "track", "event": "Buy", "name": null, "user_id": "u1",
            "anonymous_id": "a1", "group_id": null, "previous_id": null,
            "timestamp": "2024-05-01T12:00:00Z", "received_at": "2024-05-01T12:00:01Z",
            "sent_at": null, "original_timestamp": null,
            "properties": "{\"total\":5}", "traits": "{}", "context": "not json", "integrations": null,
        });
        let e = super::Event::from_row(row.as_object().unwrap()).unwrap();
        assert_eq!(
            (
                e.message_id.as_str(),
                e.event.as_deref(),
                e.user_id.as_deref()
            ),
            ("m1", Some("Buy"), Some("u1"))
        );
        assert_eq!(e.properties["total"], 5);
        assert!(e.context.is_empty() && e.integrations.is_empty());
        assert_eq!(crate::instant::to_ms(e.timestamp), 1_714_564_800_000);
        let bad = serde_json::json!({"message_id": "m2", "type": "nonsense"});
        assert!(super::Event::from_row(bad.as_object().unwrap()).is_none());
    }

    use super::*;

    #[test]
    fn endpoints_and_their_short_aliases() {
        assert_eq!(MessageType::from_endpoint("t"), Some(MessageType::Track));
        assert_eq!(
            MessageType::from_endpoint("track"),
            Some(MessageType::Track)
        );
        assert_eq!(MessageType::from_endpoint("p"), Some(MessageType::Page));
        assert_eq!(MessageType::from_endpoint("s"), Some(MessageType::Screen));
        assert_eq!(MessageType::from_endpoint("i"), Some(MessageType::Identify));
        assert_eq!(MessageType::from_endpoint("g"), Some(MessageType::Group));
        assert_eq!(MessageType::from_endpoint("a"), Some(MessageType::Alias));
        assert_eq!(MessageType::from_endpoint("b"), None);
        assert_eq!(MessageType::from_endpoint("batch"), None);
        for t in ["track", "page", "screen", "identify", "group", "alias"] {
            assert_eq!(MessageType::parse(t).map(MessageType::as_str), Some(t));
        }
    }
}
