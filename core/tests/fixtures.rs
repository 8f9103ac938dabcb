//! Golden fixtures: payloads shaped exactly as the Segment and RudderStack SDKs send them
//! (field names, `context.library`, `integrations`, `sentAt`, `_metadata`, messageId formats),
//! run through `ingest` as the edge would, and checked field by field.

// Test code: a failed unwrap is a failed test (clippy's allow-*-in-tests covers only #[test]
// functions, not the helpers beside them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{open_pipeline, run, NOW};
use serde_json::{json, Value};
use spur_core::{CfFacts, Event, MessageType, Outcome, Pipeline, RequestFacts};
use std::io::Write;
use time::macros::datetime;

const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1";
const EDGE_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0";

fn pipeline() -> Pipeline {
    Pipeline::from_json(
        r#"{"sources": {"wk_fixture": {"name": "site", "allowedOrigins": ["https://shop.example"]}}}"#,
    )
    .unwrap()
}

fn berlin() -> CfFacts {
    serde_json::from_value(json!({
        "country": "DE", "region": "Berlin", "regionCode": "BE", "city": "Berlin",
        "timezone": "Europe/Berlin", "asn": 3320, "colo": "TXL", "postalCode": "10115",
        "latitude": "52.52000", "longitude": "13.40500", "botManagement": {"score": 87, "verifiedBot": false}
    }))
    .unwrap()
}

fn browser<'a>(ua: &'a str, cf: &'a CfFacts) -> RequestFacts<'a> {
    RequestFacts {
        ip: Some("203.0.113.77"),
        user_agent: Some(ua),
        origin: Some("https://shop.example"),
        cf: Some(cf),
        ..Default::default()
    }
}

fn ctx<'e>(e: &'e Event, key: &str) -> &'e Value {
    e.context.get(key).unwrap_or(&Value::Null)
}

/// Nothing the edge stores may hold a full client address or the write key.
fn assert_clean(out: &Outcome) {
    for e in &out.accepted {
        let text = serde_json::to_string(e).unwrap();
        for secret in [
            "203.0.113.77",
            "198.51.100.23",
            "192.0.2.10",
            "wk_fixture",
            "_metadata",
        ] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }
}

#[test]
fn analytics_next_single_track_as_text_plain() {
    let cf = berlin();
    let body = include_str!("fixtures/analytics-next-track.json");
    let out = run(
        body.as_bytes(),
        MessageType::from_endpoint("t"),
        browser(CHROME_MAC, &cf),
        &pipeline(),
    )
    .unwrap();
    assert_eq!((out.accepted.len(), out.rejected.len()), (1, 0));
    assert_eq!(out.write_key.as_deref(), Some("wk_fixture"));
    assert_eq!(out.source, "site");
    let e = &out.accepted[0];
    assert_eq!(e.message_id, "ajs-next-5f0a6f3c2b7e4d1a9c8b7a6f5e4d3c2b");
    assert_eq!(e.kind, MessageType::Track);
    assert_eq!(e.event.as_deref(), Some("Product Added"));
    assert_eq!(e.user_id, None, "userId: null");
    assert_eq!(
        e.anonymous_id.as_deref(),
        Some("6b9f8c52-3f1e-4a7d-9b2c-0e1f2a3b4c5d")
    );
    assert_eq!(
        Value::Object(e.properties.clone()),
        json!({"product_id": "sku-1042", "name": "Trail Runner 3", "price": 129.5, "currency": "EUR"})
    );
    assert!(e.integrations.is_empty());
    assert_eq!(
        e.original_timestamp,
        Some(datetime!(2024-05-01 12:00:01.250 UTC))
    );
    assert_eq!(e.sent_at, Some(datetime!(2024-05-01 12:00:01.300 UTC)));
    // Clock skew: receivedAt − (sentAt − timestamp) = 12:00:05 − 50 ms.
    assert_eq!(e.timestamp, datetime!(2024-05-01 12:00:04.950 UTC));
    assert_eq!(e.received_at, NOW);
    assert_eq!(
        ctx(e, "library"),
        &json!({"name": "analytics.js", "version": "next-1.70.0"})
    );
    assert_eq!(ctx(e, "locale"), &json!("de-DE"));
    assert_eq!(ctx(e, "timezone"), &json!("Europe/Berlin"));
    assert_eq!(
        ctx(e, "campaign"),
        &json!({"source": "newsletter", "medium": "email", "name": "spring_sale"})
    );
    assert_eq!(ctx(e, "page")["path"], json!("/products/trail-runner-3"));
    assert_eq!(ctx(e, "userAgent"), &json!(CHROME_MAC));
    assert_eq!(ctx(e, "ip"), &json!("203.0.113.0"));
    assert_eq!(
        ctx(e, "geo"),
        &json!({"country": "DE", "region": "Berlin", "regionCode": "BE", "city": "Berlin", "timezone": "Europe/Berlin", "asn": 3320, "colo": "TXL"})
    );
    assert_eq!(
        ctx(e, "spur"),
        &json!({
            "source": "site",
            "writeKeySource": "body",
            "ua": {"browser": {"name": "Chrome", "version": "124.0.0.0"}, "os": {"name": "macOS", "version": "10.15.7"}, "device": {"type": "desktop"}},
            "botScore": 87,
            "bot": false,
            "referrerDomain": "google.com"
        })
    );
    assert_clean(&out);
}

#[test]
fn analytics_next_batched_dispatcher() {
    let cf = berlin();
    let body = include_str!("fixtures/analytics-next-batch.json");
    let out = run(
        body.as_bytes(),
        MessageType::from_endpoint("b"),
        browser(IPHONE, &cf),
        &pipeline(),
    )
    .unwrap();
    assert_eq!((out.accepted.len(), out.rejected.len()), (3, 0));
    let [page, identify, track] = &out.accepted[..] else {
        panic!()
    };

    assert_eq!(page.kind, MessageType::Page);
    assert_eq!(page.name.as_deref(), Some("Home"));
    assert_eq!(page.category.as_deref(), Some("Landing"));
    assert_eq!(page.properties["title"], json!("Example Shop"));
    assert_eq!(page.user_id, None);
    // The batch's sentAt (12:00:02) applies to every message: 12:00:05 − 3.899 s.
    assert_eq!(page.sent_at, Some(datetime!(2024-05-01 12:00:02 UTC)));
    assert_eq!(page.timestamp, datetime!(2024-05-01 12:00:01.101 UTC));
    assert!(
        ctx(page, "campaign").is_null(),
        "no UTM in the URL, none invented"
    );
    assert_eq!(
        ctx(page, "spur")["referrerDomain"],
        json!("news.ycombinator.com")
    );
    assert_eq!(
        ctx(page, "spur")["ua"],
        json!({"browser": {"name": "Safari", "version": "17.4.1"}, "os": {"name": "iOS", "version": "17.4.1"}, "device": {"type": "mobile"}})
    );

    assert_eq!(identify.kind, MessageType::Identify);
    assert_eq!(identify.user_id.as_deref(), Some("user-8842"));
    assert_eq!(
        identify.anonymous_id.as_deref(),
        Some("0d6f1e2a-7b8c-4d9e-a0f1-b2c3d4e5f607")
    );
    assert_eq!(
        Value::Object(identify.traits.clone()),
        json!({"email": "ada@example.com", "plan": "pro", "logins": 3})
    );
    assert_eq!(
        Value::Object(identify.integrations.clone()),
        json!({"Segment.io": true})
    );

    assert_eq!(track.event.as_deref(), Some("Order Completed"));
    assert_eq!(
        track.message_id,
        "ajs-next-a1b2c3d4e5f60718293a4b5c6d7e8f90"
    );
    assert_eq!(track.properties["products"][0]["quantity"], json!(2));
    assert_eq!(ctx(track, "spur")["referrerDomain"], json!("shop.example"));
    assert_clean(&out);
}

#[test]
fn analytics_node_batch_with_basic_auth() {
    // A server in a data center; its own location is what request.cf describes.
    let cf: CfFacts = serde_json::from_value(json!({"country": "US", "region": "Virginia", "city": "Ashburn", "timezone": "America/New_York", "asn": 14618, "colo": "IAD"})).unwrap();
    let facts = RequestFacts {
        ip: Some("192.0.2.10"),
        user_agent: Some("analytics-node-next/latest"),
        authorization: Some("Basic d2tfZml4dHVyZTo="), // base64("wk_fixture:")
        cf: Some(&cf),
        ..Default::default()
    };
    let body = include_str!("fixtures/analytics-node-batch.json");
    let out = run(body.as_bytes(), None, facts, &pipeline()).unwrap();
    assert_eq!((out.accepted.len(), out.rejected.len()), (5, 0));
    let [track, identify, group, alias, page] = &out.accepted[..] else {
        panic!()
    };
    let kinds = [track.kind, identify.kind, group.kind, alias.kind, page.kind];
    use MessageType::*;
    assert_eq!(kinds, [Track, Identify, Group, Alias, Page]);

    assert_eq!(
        track.message_id,
        "node-next-1714564800000-3f2c8a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    );
    assert_eq!(track.event.as_deref(), Some("Subscription Renewed"));
    assert_eq!(
        track.timestamp,
        datetime!(2024-05-01 12:00:04 UTC),
        "batch sentAt 12:00:01, ts 12:00:00"
    );
    assert_eq!(
        ctx(track, "library"),
        &json!({"name": "@segment/analytics-node", "version": "2.1.2"})
    );
    // The end user's IP as the server reported it, truncated; the relay's geo is not used.
    assert_eq!(ctx(track, "ip"), &json!("198.51.100.0"));
    assert!(ctx(track, "geo").is_null());
    assert_eq!(
        ctx(track, "spur"),
        &json!({"source": "site", "writeKeySource": "basic", "bot": false})
    );

    assert_eq!(ctx(identify, "ip"), &json!("192.0.2.0"));
    assert_eq!(ctx(identify, "geo")["city"], json!("Ashburn"));
    assert_eq!(identify.traits["name"], json!("Ada Lovelace"));
    assert_eq!(
        Value::Object(identify.integrations.clone()),
        json!({"Intercom": false})
    );
    assert_eq!(group.group_id.as_deref(), Some("org-17"));
    assert_eq!(group.traits["employees"], json!(12));
    assert_eq!(
        alias.previous_id.as_deref(),
        Some("0d6f1e2a-7b8c-4d9e-a0f1-b2c3d4e5f607")
    );
    assert_eq!(alias.user_id.as_deref(), Some("user-8842"));
    assert_eq!(page.anonymous_id.as_deref(), Some("srv-render-0042"));
    assert_eq!(
        (page.name.as_deref(), page.category.as_deref()),
        (Some("Pricing"), Some("Marketing"))
    );
    assert!(
        ctx(page, "userAgent").is_null(),
        "a server request's UA is not the user's"
    );
    assert_clean(&out);
}

#[test]
fn analytics_python_gzip_batch() {
    let body = include_str!("fixtures/analytics-python-batch.json");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let facts = RequestFacts {
        ip: Some("192.0.2.10"),
        user_agent: Some("analytics-python/2.3.3"),
        authorization: Some("Basic d2tfZml4dHVyZTo="),
        content_encoding: Some("gzip"),
        ..Default::default()
    };
    let out = run(&gz, None, facts, &pipeline()).unwrap();
    assert_eq!((out.accepted.len(), out.rejected.len()), (3, 0));
    let [track, identify, screen] = &out.accepted[..] else {
        panic!()
    };

    assert_eq!(track.message_id, "8b8ff2f4-7c3a-4b0f-9f1e-0b3c2d1e4f5a");
    assert_eq!(
        (track.user_id.as_deref(), track.anonymous_id.as_deref()),
        (Some("1d8f3f02"), None)
    );
    assert_eq!(
        track.properties["coupon"],
        Value::Null,
        "null properties are kept"
    );
    assert_eq!(
        track.original_timestamp,
        Some(datetime!(2024-05-01 12:00:00.120 UTC))
    );
    assert_eq!(
        track.sent_at,
        Some(datetime!(2024-05-01 12:00:01.234567 UTC))
    );
    assert_eq!(track.timestamp, datetime!(2024-05-01 12:00:03.885433 UTC));
    assert_eq!(
        ctx(track, "library"),
        &json!({"name": "analytics-python", "version": "2.3.3"})
    );
    assert_eq!(ctx(track, "ip"), &json!("192.0.2.0"));

    assert_eq!(identify.traits["age"], json!(42));
    assert_eq!(ctx(identify, "traits"), &json!({"source": "crm"}));

    assert_eq!(screen.kind, MessageType::Screen);
    assert_eq!(
        (screen.name.as_deref(), screen.category.as_deref()),
        (Some("Settings"), None)
    );
    assert_eq!(
        screen.anonymous_id.as_deref(),
        Some("c5b3e0a2-9d4f-4e61-8a7b-2f0e1d3c5b7a")
    );
    assert_clean(&out);
}

#[test]
fn rudderstack_js_batch() {
    let cf = berlin();
    let facts = RequestFacts {
        authorization: Some("Basic d2tfZml4dHVyZTo="),
        ..browser(EDGE_WIN, &cf)
    };
    let body = include_str!("fixtures/rudderstack-js-batch.json");
    let out = run(body.as_bytes(), None, facts, &pipeline()).unwrap();
    assert_eq!((out.accepted.len(), out.rejected.len()), (2, 0));
    let [page, track] = &out.accepted[..] else {
        panic!()
    };

    assert_eq!(page.kind, MessageType::Page);
    assert_eq!(page.name.as_deref(), Some("Launch post"));
    assert_eq!(page.event, None, "event: null");
    assert_eq!(page.user_id, None, "userId: \"\" is no id");
    assert_eq!(
        page.anonymous_id.as_deref(),
        Some("9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b")
    );
    // RudderStack sends originalTimestamp and a per-message sentAt.
    assert_eq!(
        page.original_timestamp,
        Some(datetime!(2024-05-01 11:59:59.500 UTC))
    );
    assert_eq!(page.timestamp, datetime!(2024-05-01 12:00:04.500 UTC));
    assert_eq!(
        Value::Object(page.integrations.clone()),
        json!({"All": true})
    );
    assert_eq!(
        ctx(page, "library"),
        &json!({"name": "RudderLabs JavaScript SDK", "version": "3.7.7"})
    );
    assert_eq!(ctx(page, "app")["installType"], json!("npm"));
    assert_eq!(ctx(page, "sessionId"), &json!(1714564790123u64));
    // `campaign: {}` is filled from the page's UTM parameters.
    assert_eq!(
        ctx(page, "campaign"),
        &json!({"source": "twitter", "medium": "social", "name": "launch", "content": "thread"})
    );
    assert_eq!(ctx(page, "spur")["referrerDomain"], json!("t.co"));
    assert_eq!(ctx(page, "spur")["writeKeySource"], json!("basic"));
    assert_eq!(
        ctx(page, "spur")["ua"],
        json!({"browser": {"name": "Edge", "version": "124.0.0.0"}, "os": {"name": "Windows", "version": "10"}, "device": {"type": "desktop"}})
    );

    assert_eq!(track.event.as_deref(), Some("Newsletter Subscribed"));
    assert_eq!(track.properties["position"], json!("footer"));
    assert_clean(&out);
}

#[test]
fn stored_events_are_segment_spec_json() {
    let cf = berlin();
    let body = include_str!("fixtures/analytics-next-batch.json");
    let out = run(body.as_bytes(), None, browser(IPHONE, &cf), &pipeline()).unwrap();
    let page = serde_json::to_value(&out.accepted[0]).unwrap();
    let keys: Vec<&str> = page
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "messageId",
        "type",
        "name",
        "category",
        "anonymousId",
        "properties",
        "context",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "receivedAt",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    for k in ["writeKey", "_metadata", "userId", "integrations"] {
        assert!(!keys.contains(&k), "{k} should not be stored: {keys:?}");
    }
    assert_eq!(page["type"], json!("page"));
    assert_eq!(page["receivedAt"], json!("2024-05-01T12:00:05Z"));
    let back: Event = serde_json::from_value(page).unwrap();
    assert_eq!(back, out.accepted[0]);
}

#[test]
fn fixtures_from_the_wrong_origin_or_key_are_refused() {
    let cf = berlin();
    let body = include_str!("fixtures/analytics-next-track.json");
    let evil = RequestFacts {
        origin: Some("https://evil.example"),
        ..browser(CHROME_MAC, &cf)
    };
    let err = run(body.as_bytes(), Some(MessageType::Track), evil, &pipeline()).unwrap_err();
    assert_eq!(err.code(), "origin_not_allowed");
    let err = run(
        body.as_bytes(),
        Some(MessageType::Track),
        browser(CHROME_MAC, &cf),
        &open_pipeline(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "unknown_write_key");
}
