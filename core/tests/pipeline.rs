//! The whole request path through `ingest` and `replay`: auth, encodings, GPC policy and the
//! tracking plan, as the edge sees them.

// Test code: a failed unwrap is a failed test (clippy's allow-*-in-tests covers only #[test]
// functions, not the helpers beside them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{run, server_facts, track, NOW};
use serde_json::json;
use spur_core::{replay, CompiledPlan, MessageType, Pipeline, Reason, Replay, RequestFacts};
use std::io::Write;

fn pipeline(extra: &str) -> Pipeline {
    Pipeline::from_json(&format!(
        r#"{{"sources": {{"wk": {{"name": "site", "allowedOrigins": ["https://shop.example"]}}}}{extra}}}"#
    ))
    .unwrap()
}

fn browser() -> RequestFacts<'static> {
    RequestFacts {
        ip: Some("203.0.113.77"),
        origin: Some("https://shop.example"),
        user_agent: Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        ),
        ..Default::default()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn write_key_errors() {
    let p = pipeline("");
    let body = format!(r#"{{"batch":[{}]}}"#, track(""));
    let err = run(body.as_bytes(), None, browser(), &p).unwrap_err();
    assert_eq!(err.code(), "missing_write_key");
    let keyed = format!(r#"{{"writeKey":"nope","batch":[{}]}}"#, track(""));
    assert_eq!(
        run(keyed.as_bytes(), None, browser(), &p)
            .unwrap_err()
            .code(),
        "unknown_write_key"
    );
    // The header wins over the body.
    let facts = RequestFacts {
        authorization: Some("Basic d2s6"),
        ..browser()
    };
    let out = run(keyed.as_bytes(), None, facts, &p).unwrap();
    assert_eq!(out.write_key.as_deref(), Some("wk"));
    assert_eq!(
        out.accepted[0].context["spur"]["writeKeySource"],
        json!("basic")
    );
}

#[test]
fn a_bad_header_key_is_refused_before_the_body_is_inflated() {
    let p = pipeline("");
    let facts = RequestFacts {
        authorization: Some("Basic bm9wZTo="), // "nope:"
        content_encoding: Some("gzip"),
        ..browser()
    };
    let err = run(b"not gzip at all", None, facts, &p).unwrap_err();
    assert_eq!(err.code(), "unknown_write_key");
}

#[test]
fn gzip_bodies_and_bombs() {
    let p = pipeline("");
    let facts = RequestFacts {
        authorization: Some("Basic d2s6"),
        content_encoding: Some("gzip"),
        ..browser()
    };
    let body = format!(r#"{{"batch":[{}]}}"#, track(""));
    assert_eq!(
        run(&gzip(body.as_bytes()), None, facts, &p)
            .unwrap()
            .accepted
            .len(),
        1
    );

    // 1 MiB of spaces inside valid JSON: a ratio far past the limit.
    let bomb = format!(r#"{{"batch":[{}]{}}}"#, track(""), " ".repeat(1 << 20));
    assert_eq!(
        run(&gzip(bomb.as_bytes()), None, facts, &p)
            .unwrap_err()
            .code(),
        "compression_ratio_exceeded"
    );
    let br = RequestFacts {
        content_encoding: Some("br"),
        ..facts
    };
    assert_eq!(
        run(body.as_bytes(), None, br, &p).unwrap_err().code(),
        "unsupported_encoding"
    );
    assert_eq!(
        run(b"\x1f\x8b\x08garbage", None, facts, &p)
            .unwrap_err()
            .code(),
        "malformed_gzip"
    );
}

#[test]
fn gpc_drop_rejects_every_event_and_keeps_no_payload() {
    let p = pipeline(r#", "gpc": "drop""#);
    let facts = RequestFacts {
        authorization: Some("Basic d2s6"),
        sec_gpc: Some("1"),
        ..browser()
    };
    let body = format!(
        r#"{{"batch":[{},{},{}]}}"#,
        track(r#","messageId":"m1","properties":{"email":"a@b.example"}"#),
        track(r#","messageId":"m2""#),
        "42"
    );
    let out = run(body.as_bytes(), None, facts, &p).unwrap();
    assert_eq!((out.accepted.len(), out.rejected.len()), (0, 3));
    for (i, r) in out.rejected.iter().enumerate() {
        assert_eq!(r.index, i);
        assert_eq!(r.reason, Reason::GpcOptOut);
        assert_eq!(r.reason.code(), "gpc_opt_out");
        assert!(r.raw.is_empty(), "the opted-out payload is not kept");
    }
    assert_eq!(out.rejected[0].message_id.as_deref(), Some("m1"));
    // Without the header the same source stores events.
    let plain = RequestFacts {
        sec_gpc: None,
        ..facts
    };
    assert_eq!(
        run(body.as_bytes(), None, plain, &p)
            .unwrap()
            .accepted
            .len(),
        2
    );
}

#[test]
fn gpc_anonymize_is_the_default() {
    let p = pipeline("");
    let facts = RequestFacts {
        authorization: Some("Basic d2s6"),
        sec_gpc: Some("1"),
        ..browser()
    };
    let out = run(track("").as_bytes(), Some(MessageType::Track), facts, &p).unwrap();
    let e = &out.accepted[0];
    assert!(e.context.get("ip").is_none());
    assert!(e.context.get("userAgent").is_none());
    assert_eq!(e.context["spur"]["gpc"], json!(true));
}

const PLAN: &str = r#", "trackingPlan": {
    "mode": "flag",
    "unknownEvents": "block",
    "events": {
        "Order Completed": {"properties": {"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}},
        "Refunded": {"mode": "block", "properties": {"required": ["orderId"]}}
    }
}"#;

#[test]
fn the_plan_flags_blocks_and_refuses_unknown_events() {
    let p = pipeline(PLAN);
    let facts = RequestFacts {
        authorization: Some("Basic d2s6"),
        ..browser()
    };
    let ev = |name: &str, props: &str| {
        format!(
            r#"{{"type":"track","event":"{name}","anonymousId":"a","properties":{props},"context":{{"spur":{{"violations":[]}}}}}}"#
        )
    };
    let body = format!(
        r#"{{"batch":[{},{},{},{}]}}"#,
        ev("Order Completed", r#"{"total":"12"}"#),
        ev("Order Completed", r#"{"total":12}"#),
        ev("Refunded", "{}"),
        ev("Mystery", "{}"),
    );
    let out = run(body.as_bytes(), None, facts, &p).unwrap();
    assert_eq!((out.accepted.len(), out.rejected.len()), (2, 2));

    let flagged = &out.accepted[0].context["spur"];
    assert_eq!(flagged["violationCount"], json!(1));
    assert_eq!(
        flagged["violations"][0]["pointer"],
        json!("/properties/total")
    );
    assert_eq!(flagged["violations"][0]["keyword"], json!("type"));
    // A client cannot forge violations (or clear them): the server's replace what was sent.
    let clean = &out.accepted[1].context["spur"];
    assert!(clean.get("violations").is_none(), "{clean}");

    let blocked = &out.rejected[0];
    assert_eq!(
        (blocked.index, blocked.reason.code()),
        (2, "plan_violation")
    );
    assert!(
        blocked.detail.contains("`/properties`") && blocked.detail.contains("orderId"),
        "{}",
        blocked.detail
    );
    assert!(
        blocked.raw.contains(r#""event":"Refunded""#),
        "bad rows keep the original"
    );
    let unknown = &out.rejected[1];
    assert_eq!((unknown.index, unknown.reason.code()), (3, "unknown_event"));
}

/// The geo a fresh request with these facts gets (to compare a replay against).
fn out_geo(facts: &RequestFacts<'_>) -> Option<serde_json::Value> {
    let p = common::open_pipeline();
    let body = r#"{"type":"track","event":"Geo","anonymousId":"a"}"#;
    let out = run(body.as_bytes(), Some(MessageType::Track), *facts, &p).ok()?;
    out.accepted.first()?.context.get("geo").cloned()
}

#[test]
fn a_bad_row_replays_after_the_plan_is_fixed() {
    let mut p = pipeline(PLAN);
    let cf = spur_core::CfFacts {
        country: Some("DE".into()),
        city: Some("Berlin".into()),
        ..Default::default()
    };
    let facts = RequestFacts {
        authorization: Some("Basic d2s6"),
        cf: Some(&cf),
        ..browser()
    };
    let body = r#"{"type":"track","event":"Refunded","anonymousId":"a","timestamp":"2024-05-01T11:00:00Z","properties":{"order":"o1"}}"#;
    let out = run(body.as_bytes(), Some(MessageType::Track), facts, &p).unwrap();
    let row = &out.rejected[0];
    assert_eq!(row.reason, Reason::PlanViolation);

    let rep = Replay {
        received_at: NOW,
        write_key: "wk",
        request_id: "req",
        facts: None,
    };
    let again = replay(&row.raw, &rep, &p).unwrap();
    assert_eq!(
        again.rejected[0].reason,
        Reason::PlanViolation,
        "same plan, same verdict"
    );

    p.set_plan(Some(
        CompiledPlan::from_json(r#"{"events": {"Refunded": {}}}"#).unwrap(),
    ));
    let fixed = replay(&row.raw, &rep, &p).unwrap();
    assert_eq!((fixed.accepted.len(), fixed.rejected.len()), (1, 0));
    let e = &fixed.accepted[0];
    assert_eq!(
        e.message_id, "req-0",
        "no messageId: the original request's fallback"
    );
    assert_eq!(e.received_at, NOW);
    assert_eq!(e.context["spur"]["writeKeySource"], json!("replay"));
    assert!(
        e.context.get("ip").is_none(),
        "without kept facts, no request facts are invented"
    );

    // With the facts the bad row kept, the replay enriches as the original request did.
    let kept = &out.kept;
    assert!(kept
        .ip
        .as_deref()
        .is_some_and(|ip| ip.ends_with(".0") || ip.ends_with("::")));
    let with_facts = Replay {
        facts: Some(kept),
        ..rep
    };
    let enriched = replay(&row.raw, &with_facts, &p).unwrap();
    let e2 = &enriched.accepted[0];
    assert_eq!(
        e2.context.get("ip"),
        kept.ip.as_ref().map(|ip| json!(ip)).as_ref()
    );
    let geo = e2.context.get("geo").expect("geo from the kept request.cf");
    assert_eq!(geo["country"], json!("DE"));
    assert_eq!(
        Some(geo),
        out_geo(&facts).as_ref(),
        "as a fresh request would get"
    );
    assert!(
        e2.context["spur"].get("ua").is_some(),
        "user agent parsed again"
    );

    let gone = Replay {
        write_key: "revoked",
        ..rep
    };
    assert_eq!(
        replay(&row.raw, &gone, &p).unwrap_err().code(),
        "unknown_write_key"
    );
    assert_eq!(replay("", &rep, &p).unwrap_err().code(), "malformed_json");
}

#[test]
fn messages_without_ids_get_request_scoped_ones_and_bad_ones_keep_their_index() {
    let body = format!(
        r#"{{"batch":[{},{},{},{}]}}"#,
        track(""),
        r#"{"type":"track","anonymousId":"a"}"#,
        r#"{"type":"nope","anonymousId":"a","messageId":"m-bad"}"#,
        track(r#","messageId":"m-own""#)
    );
    let out = run(
        body.as_bytes(),
        None,
        server_facts(),
        &common::open_pipeline(),
    )
    .unwrap();
    let ids: Vec<&str> = out.accepted.iter().map(|e| e.message_id.as_str()).collect();
    assert_eq!(ids, ["req-0", "m-own"]);
    let rejected: Vec<(usize, &str, Option<&str>)> = out
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.code(), r.message_id.as_deref()))
        .collect();
    assert_eq!(
        rejected,
        [
            (1, "missing_field", None),
            (2, "invalid_type", Some("m-bad"))
        ]
    );
}
