//! Every limit at exactly N (accepted) and N+1 (rejected with the limit's reason), through
//! the public `ingest` entry point. Limits below the request path are tested beside their code:
//! `MAX_DECOMPRESSED_BYTES` and `MAX_COMPRESSION_RATIO` in `gzip.rs`, `MAX_USER_AGENT_CHARS`
//! and `MAX_CLIENT_HINT_BRANDS` in `enrich/ua_tests.rs`, `MAX_CAMPAIGN_KEYS` in
//! `enrich/web.rs`, `MAX_VIOLATIONS` in `plan_tests.rs`.

// Test code: a failed unwrap is a failed test (clippy's allow-*-in-tests covers only #[test]
// functions, not the helpers beside them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{batch, track, verdict_of};
use spur_core::limits::*;
use spur_core::RequestError;

/// A batch body padded with whitespace to exactly `len` bytes.
fn batch_of_len(len: usize) -> String {
    let head = format!(r#"{{"batch":[{}]"#, track(""));
    let pad = len - head.len() - 1;
    format!("{head}{}}}", " ".repeat(pad))
}

#[test]
fn batch_bytes() {
    let at = batch_of_len(MAX_BATCH_BYTES);
    assert_eq!(at.len(), MAX_BATCH_BYTES);
    assert_eq!(batch(&at).unwrap().accepted.len(), 1);
    let over = batch_of_len(MAX_BATCH_BYTES + 1);
    assert_eq!(
        batch(&over).unwrap_err(),
        RequestError::BodyTooLarge(MAX_BATCH_BYTES + 1)
    );
    assert_eq!(batch(&over).unwrap_err().code(), "body_too_large");
}

/// An event padded with inner whitespace to exactly `len` bytes.
fn event_of_len(len: usize) -> String {
    let base = track("");
    let pad = len - base.len();
    format!("{}{}}}", &base[..base.len() - 1], " ".repeat(pad))
}

#[test]
fn event_bytes() {
    let at = event_of_len(MAX_EVENT_BYTES);
    assert_eq!(at.len(), MAX_EVENT_BYTES);
    assert_eq!(verdict_of(&at), "accepted");
    assert_eq!(
        verdict_of(&event_of_len(MAX_EVENT_BYTES + 1)),
        "event_too_large"
    );
}

#[test]
fn batch_events() {
    let body = |n: usize| format!(r#"{{"batch":[{}]}}"#, vec![track(""); n].join(","));
    let at = batch(&body(MAX_BATCH_EVENTS)).unwrap();
    assert_eq!(
        (at.accepted.len(), at.rejected.len()),
        (MAX_BATCH_EVENTS, 0)
    );
    // One message over the cap refuses the whole request: nothing is half stored, and a body
    // of 100k tiny elements costs one answer, not 100k rejections.
    let over = batch(&body(MAX_BATCH_EVENTS + 1)).unwrap_err();
    assert_eq!(over.code(), "batch_too_long");
    let tiny = format!(r#"{{"batch":[{}]}}"#, vec!["0"; 100_000].join(","));
    assert_eq!(batch(&tiny).unwrap_err().code(), "batch_too_long");
}

/// An event whose deepest container sits at exactly `depth`: the event object is 1,
/// `properties` is 2, and `properties.p` starts a chain of `depth - 2` containers.
fn nested_to_depth(depth: usize, array: bool) -> String {
    let mut chain = String::from(if array { "[]" } else { "{}" });
    for _ in 1..depth - 2 {
        chain = if array {
            format!("[{chain}]")
        } else {
            format!(r#"{{"a":{chain}}}"#)
        };
    }
    track(&format!(r#","properties":{{"p":{chain}}}"#))
}

#[test]
fn json_depth() {
    for array in [false, true] {
        assert_eq!(
            verdict_of(&nested_to_depth(MAX_JSON_DEPTH, array)),
            "accepted",
            "array={array}"
        );
        assert_eq!(
            verdict_of(&nested_to_depth(MAX_JSON_DEPTH + 1, array)),
            "too_deep",
            "array={array}"
        );
    }
}

#[test]
fn properties_and_traits_count() {
    let props = |n: usize| {
        (0..n)
            .map(|i| format!(r#""k{i}":1"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        verdict_of(&track(&format!(
            r#","properties":{{{}}}"#,
            props(MAX_PROPERTIES)
        ))),
        "accepted"
    );
    assert_eq!(
        verdict_of(&track(&format!(
            r#","properties":{{{}}}"#,
            props(MAX_PROPERTIES + 1)
        ))),
        "too_many_properties"
    );
    let identify = |n: usize| {
        format!(
            r#"{{"type":"identify","userId":"u","traits":{{{}}}}}"#,
            props(n)
        )
    };
    assert_eq!(verdict_of(&identify(MAX_PROPERTIES)), "accepted");
    assert_eq!(
        verdict_of(&identify(MAX_PROPERTIES + 1)),
        "too_many_properties"
    );
}

#[test]
fn event_name_chars() {
    // Multi-byte characters: the limit counts characters, not bytes.
    let name = |n: usize| {
        format!(
            r#"{{"type":"track","event":"{}","anonymousId":"a"}}"#,
            "é".repeat(n)
        )
    };
    assert_eq!(verdict_of(&name(MAX_EVENT_NAME_CHARS)), "accepted");
    assert_eq!(
        verdict_of(&name(MAX_EVENT_NAME_CHARS + 1)),
        "string_too_long"
    );
    let page = |n: usize| {
        format!(
            r#"{{"type":"page","name":"{}","anonymousId":"a"}}"#,
            "n".repeat(n)
        )
    };
    assert_eq!(verdict_of(&page(MAX_EVENT_NAME_CHARS)), "accepted");
    assert_eq!(
        verdict_of(&page(MAX_EVENT_NAME_CHARS + 1)),
        "string_too_long"
    );
}

#[test]
fn id_chars() {
    for field in ["userId", "anonymousId", "messageId"] {
        let ev = |n: usize| {
            track(&format!(r#","{field}":"{}""#, "ü".repeat(n))).replacen(
                r#""anonymousId":"a","#,
                "",
                usize::from(field == "anonymousId"),
            )
        };
        assert_eq!(verdict_of(&ev(MAX_ID_CHARS)), "accepted", "{field}");
        assert_eq!(
            verdict_of(&ev(MAX_ID_CHARS + 1)),
            "string_too_long",
            "{field}"
        );
    }
}

#[test]
fn string_chars() {
    let value = |n: usize| track(&format!(r#","properties":{{"s":"{}"}}"#, "é".repeat(n)));
    assert_eq!(verdict_of(&value(MAX_STRING_CHARS)), "accepted");
    assert_eq!(verdict_of(&value(MAX_STRING_CHARS + 1)), "string_too_long");
    // Keys count too.
    let key = |n: usize| track(&format!(r#","properties":{{"{}":1}}"#, "k".repeat(n)));
    assert_eq!(verdict_of(&key(MAX_STRING_CHARS)), "accepted");
    assert_eq!(verdict_of(&key(MAX_STRING_CHARS + 1)), "string_too_long");
}

#[test]
fn timestamp_chars() {
    // RFC 3339 allows any number of fractional digits, so a valid timestamp can be padded.
    let ts = |n: usize| {
        let head = "2024-05-01T12:00:00.";
        format!("{head}{}Z", "1".repeat(n - head.len() - 1))
    };
    assert_eq!(ts(MAX_TIMESTAMP_CHARS).len(), MAX_TIMESTAMP_CHARS);
    let ev = |n: usize| track(&format!(r#","timestamp":"{}""#, ts(n)));
    assert_eq!(verdict_of(&ev(MAX_TIMESTAMP_CHARS)), "accepted");
    assert_eq!(verdict_of(&ev(MAX_TIMESTAMP_CHARS + 1)), "string_too_long");
}
