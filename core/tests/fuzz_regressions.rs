//! Defects found by fuzzing (`npm run fuzz`), one test each, named after what broke. The
//! crashing inputs themselves are in `fuzz/regressions/<target>/` and are replayed by
//! `fuzz-checks/tests/corpus.rs`; these tests state the fixed behaviour in plain terms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{batch, NOW};
use spur_core::Event;

/// The one accepted event of a one-event batch, after the JSON round trip the queue and D1
/// put it through.
fn stored(event: &str) -> Event {
    let out = batch(&format!(r#"{{"batch":[{event}]}}"#)).unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    assert_eq!(out.accepted.len(), 1);
    let text = serde_json::to_string(&out.accepted[0]).expect("the event serializes");
    let back: Event = serde_json::from_str(&text).unwrap();
    assert_eq!(back, out.accepted[0]);
    back
}

/// `sentAt` 9999 and `timestamp` 0000: the skew correction gave year −7976, which RFC 3339
/// cannot hold, so the accepted event could not be serialized for the queue (and the reverse
/// pair overflowed `time`'s range and panicked). Found by `ingest_raw`.
#[test]
fn skew_correction_out_of_rfc3339_range_keeps_the_event_storable() {
    for (ts, sent) in [
        ("0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z"),
        (
            "9999-12-31T23:59:59.999999999-23:59",
            "0000-01-01T00:00:00+23:59",
        ),
    ] {
        let e = stored(&format!(
            r#"{{"type":"track","event":"e","anonymousId":"a","timestamp":"{ts}","sentAt":"{sent}"}}"#
        ));
        // Arrived when it did; what the client sent is kept.
        assert_eq!(e.timestamp, NOW);
        assert!(e.original_timestamp.is_some() && e.sent_at.is_some());
    }
    // A correction that stays in range is still applied.
    let e = stored(
        r#"{"type":"track","event":"e","anonymousId":"a","timestamp":"2024-05-01T11:00:00Z","sentAt":"2024-05-01T12:00:00Z"}"#,
    );
    assert_eq!(e.timestamp, NOW - time::Duration::hours(1));
}
