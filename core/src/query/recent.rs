//! The live event stream: the latest events, newest first.
//!
//! Invariant: at most [`limits::MAX_RECENT`] rows; JSON columns come back parsed (a value
//! that does not parse is returned as a string rather than dropped).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sql::{de_int, Params, Sql, EVENTS_WITH_ALIASES, PERSON};
use super::{limits, QueryError};

/// `GET /v1/events/recent?limit=N` (default 50).
#[derive(Debug, Clone, Copy)]
pub struct RecentQuery {
    /// How many events.
    pub limit: usize,
}

impl RecentQuery {
    /// Validates `limit` (from the query string, if given).
    pub fn parse(limit: Option<&str>) -> Result<Self, QueryError> {
        let limit = match limit {
            None => 50,
            Some(s) => s
                .parse()
                .map_err(|_| QueryError::value("limit", "not a number"))?,
        };
        if limit == 0 || limit > limits::MAX_RECENT {
            return Err(QueryError::value(
                "limit",
                format!("must be 1..={}", limits::MAX_RECENT),
            ));
        }
        Ok(RecentQuery { limit })
    }

    /// The statement; its rows are [`RecentRow`]s.
    pub fn sql(&self) -> Result<Sql, QueryError> {
        let limit = self.limit;
        Params::default().finish(format!(
            "SELECT e.message_id, e.type, e.event, e.name, {PERSON} AS person, e.user_id, \
             e.anonymous_id, e.timestamp, e.ts_ms, e.properties, \
             json_extract(e.context, '$.page.path') AS path \
             FROM {EVENTS_WITH_ALIASES} ORDER BY e.ts_ms DESC LIMIT {limit}"
        ))
    }
}

/// One row as the database returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct RecentRow {
    /// `messageId`.
    pub message_id: String,
    /// Message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Track event name.
    #[serde(default)]
    pub event: Option<String>,
    /// Page/screen name.
    #[serde(default)]
    pub name: Option<String>,
    /// Resolved person.
    #[serde(default)]
    pub person: Option<String>,
    /// `userId`.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `anonymousId`.
    #[serde(default)]
    pub anonymous_id: Option<String>,
    /// RFC 3339.
    pub timestamp: String,
    /// ms since 1970.
    #[serde(deserialize_with = "de_int")]
    pub ts_ms: i64,
    /// JSON text.
    #[serde(default)]
    pub properties: Option<String>,
    /// `context.page.path`.
    #[serde(default)]
    pub path: Option<String>,
}

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentEvent {
    /// `messageId`.
    pub message_id: String,
    /// Message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Event or page name.
    pub event: Option<String>,
    /// Resolved person.
    pub person: Option<String>,
    /// `userId`.
    pub user_id: Option<String>,
    /// `anonymousId`.
    pub anonymous_id: Option<String>,
    /// RFC 3339.
    pub timestamp: String,
    /// ms since 1970.
    pub ts_ms: i64,
    /// Parsed properties.
    pub properties: Value,
    /// `context.page.path`.
    pub path: Option<String>,
}

impl RecentEvent {
    /// An event as the live stream pushes it the moment it is stored. `person` is the event's
    /// own userId, else anonymousId (the stored stream resolves aliases; a pushed event has not
    /// been joined with them).
    pub fn from_event(e: &crate::Event) -> Self {
        let path = e
            .context
            .get("page")
            .and_then(|p| p.get("path"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        RecentEvent {
            message_id: e.message_id.clone(),
            kind: e.kind.as_str().to_owned(),
            event: e.event.clone().or_else(|| e.name.clone()),
            person: Some(e.identity().to_owned()),
            user_id: e.user_id.clone(),
            anonymous_id: e.anonymous_id.clone(),
            timestamp: crate::instant::rfc3339(e.timestamp),
            ts_ms: crate::instant::to_ms(e.timestamp),
            properties: Value::Object(e.properties.clone()),
            path,
        }
    }
}

/// What one push carries of a stored batch: its newest [`super::limits::MAX_LIVE_PUSH`] events,
/// newest first (a dashboard shows the latest; older ones of a large batch are in the stored
/// stream it reads on reconnect).
pub fn newest_for_push<'a>(events: impl IntoIterator<Item = &'a crate::Event>) -> Vec<RecentEvent> {
    let mut newest: Vec<RecentEvent> = events.into_iter().map(RecentEvent::from_event).collect();
    newest.sort_by_key(|e| std::cmp::Reverse(e.ts_ms));
    newest.truncate(super::limits::MAX_LIVE_PUSH);
    newest
}

impl From<RecentRow> for RecentEvent {
    fn from(r: RecentRow) -> Self {
        let properties = match r.properties {
            None => Value::Null,
            Some(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        };
        RecentEvent {
            message_id: r.message_id,
            event: r.event.or(r.name),
            kind: r.kind,
            person: r.person,
            user_id: r.user_id,
            anonymous_id: r.anonymous_id,
            timestamp: r.timestamp,
            ts_ms: r.ts_ms,
            properties,
            path: r.path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_bounded() {
        assert_eq!(RecentQuery::parse(None).unwrap().limit, 50);
        assert!(RecentQuery::parse(Some("200")).is_ok());
        assert!(RecentQuery::parse(Some("201")).is_err());
        assert!(RecentQuery::parse(Some("0")).is_err());
        assert!(RecentQuery::parse(Some("x")).is_err());
        assert!(RecentQuery::parse(Some("20"))
            .unwrap()
            .sql()
            .unwrap()
            .text
            .ends_with("LIMIT 20"));
    }

    #[test]
    fn a_stored_event_pushes_as_a_stream_row() {
        let row = serde_json::json!({
            "message_id": "m1", "type": "page", "event": null, "name": "Home", "user_id": null,
            "anonymous_id": "a1", "group_id": null, "previous_id": null,
            "timestamp": "2024-05-01T12:00:00Z", "received_at": "2024-05-01T12:00:01Z",
            "sent_at": null, "original_timestamp": null, "properties": "{\"q\":1}",
            "traits": "{}", "context": "{\"page\":{\"path\":\"/shop\"}}", "integrations": null,
        });
        let e = crate::Event::from_row(row.as_object().unwrap()).unwrap();
        let pushed = serde_json::to_value(RecentEvent::from_event(&e)).unwrap();
        assert_eq!(
            pushed,
            serde_json::json!({
                "messageId": "m1", "type": "page", "event": "Home", "person": "a1",
                "userId": null, "anonymousId": "a1", "timestamp": "2024-05-01T12:00:00Z",
                "tsMs": 1_714_564_800_000_i64, "properties": {"q": 1}, "path": "/shop"
            })
        );
    }

    #[test]
    fn a_push_carries_the_newest_max_live_push_events() {
        use super::super::limits::MAX_LIVE_PUSH;
        let at = |i: usize| {
            let row = serde_json::json!({
                "message_id": format!("m{i}"), "type": "track", "event": "E", "name": null,
                "user_id": "u", "anonymous_id": null, "group_id": null, "previous_id": null,
                "timestamp": format!("2024-05-01T12:00:{:02}.{:03}Z", i / 1000, i % 1000),
                "received_at": "2024-05-01T12:01:00Z", "sent_at": null,
                "original_timestamp": null, "properties": "{}", "traits": "{}",
                "context": "{}", "integrations": null,
            });
            crate::Event::from_row(row.as_object().unwrap()).unwrap()
        };
        let exactly: Vec<_> = (0..MAX_LIVE_PUSH).map(at).collect();
        assert_eq!(newest_for_push(&exactly).len(), MAX_LIVE_PUSH);
        let over: Vec<_> = (0..=MAX_LIVE_PUSH).map(at).collect();
        let pushed = newest_for_push(&over);
        assert_eq!(pushed.len(), MAX_LIVE_PUSH, "one over the bound is cut");
        assert_eq!(
            pushed[0].message_id,
            format!("m{MAX_LIVE_PUSH}"),
            "newest first"
        );
        assert!(
            pushed.iter().all(|e| e.message_id != "m0"),
            "the oldest is the one left out"
        );
        assert!(newest_for_push(&[]).is_empty());
    }

    #[test]
    fn rows_parse_properties() {
        let row: RecentRow = serde_json::from_value(serde_json::json!({
            "message_id": "m", "type": "page", "event": null, "name": "Home", "person": "p",
            "user_id": null, "anonymous_id": "p", "timestamp": "t", "ts_ms": 5.0,
            "properties": "{\"path\":\"/\"}", "path": "/"
        }))
        .unwrap();
        let e = RecentEvent::from(row);
        assert_eq!(e.event.as_deref(), Some("Home"));
        assert_eq!(e.properties["path"], "/");
        let out = serde_json::to_value(&e).unwrap();
        for key in [
            "messageId",
            "type",
            "userId",
            "anonymousId",
            "tsMs",
            "person",
            "path",
        ] {
            assert!(out.get(key).is_some(), "{key} in {out}");
        }
        assert!(out.get("ts_ms").is_none());
    }
}
