//! Issue 9, defects 1 and 2: whatever a request the ingest limits accept holds, what the edge
//! queues fits Cloudflare Queues' limits by construction (≤ 128 KB a message, ≤ 100 messages
//! and ≤ 256 KB a `sendBatch`), and every accepted event and every rejection is in exactly one
//! message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{open_pipeline, run, server_facts};
use proptest::prelude::*;
use serde_json::{json, Value};
use spur_core::limits::{
    MAX_BATCH_BYTES, MAX_EVENT_BYTES, MAX_STORED_EVENT_BYTES, QUEUE_BATCH_MESSAGES,
    SEND_BATCH_BYTES, WORK_MESSAGE_BYTES,
};
use spur_core::work::{bad_rows, send_batches, split};
use spur_core::{Outcome, RequestFacts, Work};

/// How one generated message is built.
#[derive(Debug, Clone)]
enum Shape {
    /// A valid track event padded with a string property of this many bytes.
    Valid(usize),
    /// A valid event padded with many escapes (quotes, backslashes, NULs), each 2–6 bytes.
    Escapes(usize),
    /// An event with this many properties (over the limit when > 256).
    Wide(usize),
    /// A single array property of this many elements.
    LongArray(usize),
    /// Not an object.
    NotAnObject,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        6 => (0usize..MAX_EVENT_BYTES + 8 * 1024).prop_map(Shape::Valid),
        2 => (0usize..12 * 1024).prop_map(Shape::Escapes),
        1 => (0usize..6_000).prop_map(Shape::Wide),
        1 => (0usize..60_000).prop_map(Shape::LongArray),
        1 => Just(Shape::NotAnObject),
    ]
}

fn message(i: usize, s: &Shape) -> Value {
    let base = |props: Value| json!({"type": "track", "event": "Padded", "messageId": format!("m{i}"), "anonymousId": "a", "properties": props});
    match s {
        Shape::Valid(n) => base(json!({"pad": "p".repeat(*n)})),
        Shape::Escapes(n) => base(json!({"pad": "\"\\\u{0}".repeat(*n / 3)})),
        Shape::Wide(n) => base(Value::Object(
            (0..*n).map(|k| (format!("k{k}"), json!(k))).collect(),
        )),
        Shape::LongArray(n) => base(json!({"list": vec![1; *n]})),
        Shape::NotAnObject => json!(i),
    }
}

/// A batch body no larger than the request limit: shapes are taken while they fit.
fn body(shapes: &[Shape]) -> (Vec<u8>, usize) {
    let mut msgs = Vec::new();
    let mut size = 64;
    for (i, s) in shapes.iter().enumerate() {
        let m = message(i, s);
        let n = serde_json::to_vec(&m).unwrap().len() + 1;
        if size + n > MAX_BATCH_BYTES {
            break;
        }
        size += n;
        msgs.push(m);
    }
    let count = msgs.len();
    (serde_json::to_vec(&json!({"batch": msgs})).unwrap(), count)
}

/// Checks every queue limit and conservation for what the edge would send for `outcome`.
fn check(outcome: &Outcome, received: usize) {
    assert_eq!(outcome.received(), received);
    assert_eq!(outcome.accepted.len(), outcome.encoded.len());
    for e in &outcome.encoded {
        assert!(e.len() <= MAX_STORED_EVENT_BYTES);
    }
    let rows = bad_rows(outcome, "2026-11-29T00:00:00Z", "/v1/batch");
    let msgs = split(outcome.write_key.as_deref(), &outcome.encoded, rows);
    let (mut events, mut rejected) = (Vec::new(), 0);
    for m in &msgs {
        assert!(
            m.len() <= WORK_MESSAGE_BYTES,
            "message of {} bytes",
            m.len()
        );
        match serde_json::from_str::<Work>(m).unwrap() {
            Work::Events { events: e, .. } => events.extend(e),
            Work::BadRows { rows } => rejected += rows.len(),
        }
    }
    assert_eq!(
        events, outcome.accepted,
        "every accepted event exactly once, in order"
    );
    assert_eq!(rejected, outcome.rejected.len());
    let batches = send_batches(msgs.clone());
    for b in &batches {
        assert!(!b.is_empty() && b.len() <= QUEUE_BATCH_MESSAGES);
        let bytes: usize = b.iter().map(String::len).sum();
        // SEND_BATCH_BYTES < QUEUE_BATCH_BYTES (asserted at compile time in limits.rs).
        assert!(bytes <= SEND_BATCH_BYTES);
    }
    assert_eq!(batches.concat(), msgs);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn any_accepted_request_fits_the_queue(shapes in prop::collection::vec(shape(), 1..1200), ua_len in 0usize..40_000) {
        let (body, count) = body(&shapes);
        let ua = "Mozilla/5.0 ".repeat(ua_len / 12);
        let facts = RequestFacts { user_agent: Some(&ua), ..server_facts() };
        let outcome = run(&body, None, facts, &open_pipeline()).unwrap();
        check(&outcome, count);
    }
}

/// Defect 1 as reported: a 250-event batch of about 430 KB (under the 500 KB limit).
#[test]
fn issue_9_defect_1_large_valid_batch() {
    let (body, count) = body(&vec![Shape::Valid(1_700); 250]);
    assert_eq!(count, 250);
    assert!(body.len() > 420 * 1024 && body.len() < MAX_BATCH_BYTES);
    let outcome = run(&body, None, server_facts(), &open_pipeline()).unwrap();
    assert_eq!(outcome.accepted.len(), 250);
    check(&outcome, 250);
}

/// Defect 2 as reported: one very large or very wide event in a body under the limit is
/// rejected with its reason, and its bad row still fits.
#[test]
fn issue_9_defect_2_one_oversized_or_wide_event() {
    for shape in [
        Shape::LongArray(200_000),
        Shape::Wide(20_000),
        Shape::Escapes(120_000),
    ] {
        let (body, count) = body(&[shape.clone(), Shape::Valid(10)]);
        assert_eq!(count, 2, "{shape:?}");
        let outcome = run(&body, None, server_facts(), &open_pipeline()).unwrap();
        assert_eq!(outcome.accepted.len(), 1);
        assert_eq!(outcome.rejected[0].reason.code(), "event_too_large");
        check(&outcome, 2);
        let rows = bad_rows(&outcome, "t", "/v1/batch");
        let msgs = split(None, &[], rows);
        let Work::BadRows { rows } = serde_json::from_str(&msgs[0]).unwrap() else {
            panic!("bad rows expected");
        };
        assert!(rows[0].payload_truncated);
    }
}

/// A user agent so long that enrichment pushes an event over the stored-event bound: the event
/// is rejected `event_too_large` (not a 5xx), and the bad row drops the oversized facts.
#[test]
fn enrichment_cannot_overflow_a_message() {
    let ua = "x".repeat(MAX_STORED_EVENT_BYTES);
    let (body, count) = body(&[Shape::Valid(100)]);
    let facts = RequestFacts {
        user_agent: Some(&ua),
        ..server_facts()
    };
    let outcome = run(&body, None, facts, &open_pipeline()).unwrap();
    assert_eq!(count, 1);
    if let Some(r) = outcome.rejected.first() {
        assert_eq!(r.reason.code(), "event_too_large");
    }
    check(&outcome, 1);
}
