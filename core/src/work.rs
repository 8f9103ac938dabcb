//! What the ingest request hands to the queue consumer, packed to the platform's queue limits.
//!
//! Invariant: every accepted event and every bad row given to [`split`] is in exactly one
//! message, in order; every message is at most [`limits::WORK_MESSAGE_BYTES`] when each event
//! is at most [`limits::MAX_STORED_EVENT_BYTES`] (which [`crate::ingest()`] guarantees) and each
//! bad row went through [`BadRow::bounded`]; [`send_batches`] groups messages into `sendBatch`
//! calls of at most [`limits::QUEUE_BATCH_MESSAGES`] messages and [`limits::SEND_BATCH_BYTES`]
//! bytes. Sizes are the UTF-8 bytes of the JSON text, sent as `text` queue messages, which is
//! what the platform counts for them.

use serde::{Deserialize, Deserializer, Serialize};

use crate::event::Event;
use crate::limits;

/// A message turned away, as stored in `bad_rows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The message (or body) as received; cut to [`limits::MAX_BAD_ROW_PAYLOAD_BYTES`] when
    /// larger ([`BadRow::payload_truncated`]).
    pub payload: String,
    /// The request's kept facts ([`crate::KeptFacts`] as JSON), for replay.
    #[serde(default)]
    pub request: Option<String>,
    /// The payload was cut to fit storage and the queue: the row records the rejection, but
    /// cannot be replayed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub payload_truncated: bool,
}

// serde's skip_serializing_if takes the field by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

impl BadRow {
    /// The row with every field bounded, so its JSON stays under
    /// [`limits::MAX_BAD_ROW_BYTES`] whatever a client sent: the payload is cut to
    /// [`limits::MAX_BAD_ROW_PAYLOAD_BYTES`] (JSON-escaped bytes, on a character boundary) and
    /// flagged, the detail and ids are cut, and request facts larger than
    /// [`limits::MAX_BAD_ROW_REQUEST_BYTES`] are dropped (a replay then runs without them, as
    /// rows from before facts were kept do).
    #[must_use]
    pub fn bounded(mut self) -> Self {
        let (payload, cut) = truncate_escaped(&self.payload, limits::MAX_BAD_ROW_PAYLOAD_BYTES);
        if cut {
            self.payload = payload;
            self.payload_truncated = true;
        }
        if let (detail, true) = truncate_escaped(&self.detail, limits::MAX_BAD_ROW_DETAIL_BYTES) {
            self.detail = detail;
        }
        for id in [&mut self.message_id, &mut self.write_key] {
            if let Some(v) = id.as_mut() {
                if let (short, true) = truncate_escaped(v, limits::MAX_BAD_ROW_ID_BYTES) {
                    *v = short;
                }
            }
        }
        if let (endpoint, true) = truncate_escaped(&self.endpoint, limits::MAX_BAD_ROW_ID_BYTES) {
            self.endpoint = endpoint;
        }
        if self
            .request
            .as_deref()
            .is_some_and(|r| escaped_len(r) > limits::MAX_BAD_ROW_REQUEST_BYTES)
        {
            self.request = None;
        }
        self
    }
}

/// The bad rows of a request's rejected messages: one per [`crate::Rejection`], in order,
/// carrying the request's write key and kept facts (for replay).
pub fn bad_rows(outcome: &crate::Outcome, received_at: &str, endpoint: &str) -> Vec<BadRow> {
    if outcome.rejected.is_empty() {
        return Vec::new();
    }
    let kept = serde_json::to_string(&outcome.kept).ok();
    outcome
        .rejected
        .iter()
        .map(|r| BadRow {
            received_at: received_at.to_owned(),
            write_key: outcome.write_key.clone(),
            endpoint: endpoint.to_owned(),
            reason: r.reason.code().to_owned(),
            detail: r.detail.clone(),
            message_id: r.message_id.clone(),
            payload: r.raw.clone(),
            request: kept.clone(),
            payload_truncated: false,
        })
        .collect()
}

/// One unit of work for the consumer, as it reads a queue message. Read tag-first
/// ([`crate::tag_first`]): a message whose `kind` is not its first key is refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

impl crate::tag_first::TagFirst for Work {
    const TAG: &'static str = "kind";
    const VARIANTS: &'static [&'static str] = &["events", "bad_rows"];

    fn variant<'de, D: Deserializer<'de>>(index: usize, rest: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Events {
            write_key: Option<String>,
            events: Vec<Event>,
        }
        #[derive(Deserialize)]
        struct BadRows {
            rows: Vec<BadRow>,
        }
        Ok(if index == 0 {
            let Events { write_key, events } = Events::deserialize(rest)?;
            Work::Events { write_key, events }
        } else {
            Work::BadRows {
                rows: BadRows::deserialize(rest)?.rows,
            }
        })
    }
}

impl<'de> Deserialize<'de> for Work {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::tag_first::deserialize(d)
    }
}

/// Packs events (each already encoded as JSON, see [`crate::Outcome::encoded`]) and bad rows
/// into queue messages, greedily and in order. Bad rows are bounded here
/// ([`BadRow::bounded`]). A lone item that could not fit a message on its own still gets one
/// (never dropped); [`crate::ingest()`] makes that impossible for events by rejecting any over
/// [`limits::MAX_STORED_EVENT_BYTES`].
pub fn split(write_key: Option<&str>, events: &[String], rows: Vec<BadRow>) -> Vec<String> {
    let mut out = Vec::new();
    let head = format!(
        "{{\"kind\":\"events\",\"write_key\":{},\"events\":[",
        json_string_or_null(write_key)
    );
    pack(events.iter().map(String::as_str), &head, &mut out);
    let rows: Vec<String> = rows
        .into_iter()
        .filter_map(|r| serde_json::to_string(&r.bounded()).ok())
        .collect();
    pack(
        rows.iter().map(String::as_str),
        "{\"kind\":\"bad_rows\",\"rows\":[",
        &mut out,
    );
    out
}

/// Encodes events for [`split`] (for events that did not come from [`crate::ingest()`], e.g. a
/// dead-lettered message's). An event that cannot be encoded is impossible (every field is a
/// JSON value or a string); it would be skipped, so callers compare lengths.
pub fn encode_events(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| serde_json::to_string(e).ok())
        .collect()
}

/// Appends messages `head` + items joined by commas + `]}`, each at most
/// [`limits::WORK_MESSAGE_BYTES`] unless a single item alone is larger.
fn pack<'a>(items: impl Iterator<Item = &'a str>, head: &str, out: &mut Vec<String>) {
    const TAIL: &str = "]}";
    let mut current = String::new();
    let mut count = 0usize;
    for item in items {
        let extra = item.len() + usize::from(count > 0);
        if count > 0 && current.len() + extra + TAIL.len() > limits::WORK_MESSAGE_BYTES {
            current.push_str(TAIL);
            out.push(std::mem::take(&mut current));
            count = 0;
        }
        if count == 0 {
            current.reserve(head.len() + item.len() + TAIL.len());
            current.push_str(head);
        } else {
            current.push(',');
        }
        current.push_str(item);
        count += 1;
    }
    if count > 0 {
        current.push_str(TAIL);
        out.push(current);
    }
}

/// Groups queue messages into `sendBatch` calls within the platform's limits, in order.
pub fn send_batches(messages: Vec<String>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 0usize;
    for m in messages {
        if !current.is_empty()
            && (current.len() == limits::QUEUE_BATCH_MESSAGES
                || size + m.len() > limits::SEND_BATCH_BYTES)
        {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += m.len();
        current.push(m);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether the consumer may add a message of `next` events to a run of stored-together
/// messages already holding `held` events: a run holds at most
/// [`limits::STORE_BATCH_EVENTS`] events, except a lone message larger than that, which is a
/// run of its own (never split, never dropped).
pub fn joins_store_run(held: usize, next: usize) -> bool {
    held == 0 || held.saturating_add(next) <= limits::STORE_BATCH_EVENTS
}

fn json_string_or_null(v: Option<&str>) -> String {
    v.and_then(|s| serde_json::to_string(s).ok())
        .unwrap_or_else(|| "null".to_owned())
}

/// Bytes a character takes inside a JSON string as serde_json writes it.
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Bytes `s` takes inside a JSON string (without the quotes).
pub fn escaped_len(s: &str) -> usize {
    s.chars().map(escaped_char_len).sum()
}

/// `s` cut on a character boundary so that its JSON-escaped form is at most `max` bytes, and
/// whether anything was cut.
pub fn truncate_escaped(s: &str, max: usize) -> (String, bool) {
    // Fast path: escaping at most sextuples a byte, so a short string always fits.
    if s.len().saturating_mul(6) <= max {
        return (s.to_owned(), false);
    }
    let mut used = 0usize;
    for (i, c) in s.char_indices() {
        used += escaped_char_len(c);
        if used > max {
            return (s.get(..i).unwrap_or_default().to_owned(), true);
        }
    }
    (s.to_owned(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_run_holds_at_most_the_limit_unless_one_message_is_larger() {
        let n = limits::STORE_BATCH_EVENTS;
        assert!(joins_store_run(n - 1, 1), "exactly the limit joins");
        assert!(!joins_store_run(n, 1), "one over starts a new run");
        assert!(!joins_store_run(1, n), "one over starts a new run");
        assert!(
            joins_store_run(0, n + 1),
            "a larger lone message is its own run"
        );
        assert!(joins_store_run(0, 0));
    }

    fn row(payload: &str) -> BadRow {
        BadRow {
            received_at: "2026-11-29T00:00:00Z".into(),
            write_key: Some("wk".into()),
            endpoint: "/v1/batch".into(),
            reason: "event_too_large".into(),
            detail: "too large".into(),
            message_id: Some("m1".into()),
            payload: payload.into(),
            request: Some("{}".into()),
            payload_truncated: false,
        }
    }

    #[test]
    fn escaped_len_matches_serde_json() {
        let s = "a\"b\\c\n\u{1}é😀\u{7f}";
        let json = serde_json::to_string(s).unwrap();
        assert_eq!(escaped_len(s), json.len() - 2);
    }

    #[test]
    fn truncation_at_the_limit_and_one_over() {
        let max = limits::MAX_BAD_ROW_PAYLOAD_BYTES;
        let at = "x".repeat(max);
        assert_eq!(truncate_escaped(&at, max), (at.clone(), false));
        let over = "x".repeat(max + 1);
        let (cut, truncated) = truncate_escaped(&over, max);
        assert!(truncated);
        assert_eq!(cut.len(), max);
        // NULs escape to six bytes each: the budget counts the escaped form.
        let nuls = "\0".repeat(max);
        let (cut, truncated) = truncate_escaped(&nuls, max);
        assert!(truncated);
        assert!(escaped_len(&cut) <= max);
        // Never splits a character.
        let wide = "😀".repeat(max);
        let (cut, _) = truncate_escaped(&wide, max);
        assert!(cut.chars().all(|c| c == '😀'));
        assert!(cut.len() <= max);
    }

    #[test]
    fn bounded_row_fits_and_says_so() {
        let big = row(&"\"".repeat(400 * 1024)).bounded();
        assert!(big.payload_truncated);
        let json = serde_json::to_string(&big).unwrap();
        assert!(json.len() <= limits::MAX_BAD_ROW_BYTES, "{}", json.len());
        let small = row("{\"type\":\"track\"}").bounded();
        assert!(!small.payload_truncated);
        assert_eq!(small.payload, "{\"type\":\"track\"}");
        // The flag is omitted when false, so old consumers and rows read the same.
        assert!(!serde_json::to_string(&small)
            .unwrap()
            .contains("payload_truncated"));
        let mut huge_facts = row("{}");
        huge_facts.request = Some("u".repeat(100 * 1024));
        assert_eq!(huge_facts.bounded().request, None);
    }

    #[test]
    fn split_round_trips_through_work() {
        let events = vec![
            r#"{"type":"track","event":"A"}"#.to_owned(),
            r#"{"type":"track","event":"B"}"#.to_owned(),
        ];
        let msgs = split(Some("wk\"1"), &events, vec![row("p")]);
        assert_eq!(msgs.len(), 2);
        let w: serde_json::Value = serde_json::from_str(&msgs[0]).unwrap();
        assert_eq!(w["kind"], "events");
        assert_eq!(w["write_key"], "wk\"1");
        assert_eq!(w["events"][1]["event"], "B");
        let w: Work = serde_json::from_str(&msgs[1]).unwrap();
        assert_eq!(
            w,
            Work::BadRows {
                rows: vec![row("p")]
            }
        );
        assert!(split(None, &[], Vec::new()).is_empty());
    }

    #[test]
    fn messages_and_batches_respect_every_limit() {
        let item = format!("\"{}\"", "e".repeat(30 * 1024));
        let events = vec![item; 250];
        let msgs = split(None, &events, Vec::new());
        assert!(msgs.iter().all(|m| m.len() <= limits::WORK_MESSAGE_BYTES));
        let batches = send_batches(msgs.clone());
        assert!(batches.len() > 1);
        for b in &batches {
            assert!(b.len() <= limits::QUEUE_BATCH_MESSAGES);
            assert!(b.iter().map(String::len).sum::<usize>() <= limits::SEND_BATCH_BYTES);
        }
        assert_eq!(batches.concat(), msgs);
        let tiny = vec!["{}".to_owned(); 250];
        let batches = send_batches(tiny);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 50]
        );
    }
}
