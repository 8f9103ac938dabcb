//! The wire-format contract: what the tracker sends is what the edge accepts, field for field.
//!
//! Both browser paths are checked against the edge's own core (`spur_core::ingest`, the code
//! the Worker runs): the wasm tracker, driven through its public API over the native fake
//! browser, and `tracker/js/fallback.js`, run under Node by `fallback-wire.mjs`. Every message
//! either sends must be accepted, in order, with every field it sent kept as sent (`context`
//! may gain the edge's enrichment; `timestamp` is compared as an instant). The tracker's limits
//! are imported from both crates and compared at compile time, so neither can drift past the
//! other unnoticed.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Map, Value};
use spur_core::{ingest, Ingest, Pipeline, RequestFacts};
use spur_tracker::host::fake::{with_fake, Fake};
use spur_tracker::host::{code, fact};
use spur_tracker::{call, flag, limits as tracker, on_event, op, start};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use spur_core::limits as core;

// Tracker limits never exceed the edge's: an event or body the tracker lets through is one
// the edge can accept.
const _: () = assert!(tracker::MAX_EVENT_BYTES <= core::MAX_EVENT_BYTES);
const _: () = assert!(tracker::MAX_BODY_BYTES <= core::MAX_BATCH_BYTES);
const _: () = assert!(tracker::MAX_BATCH_EVENTS <= core::MAX_BATCH_EVENTS);
const _: () = assert!(tracker::MAX_TEXT_CHARS <= core::MAX_STRING_CHARS);

const WRITE_KEY: &str = "spur_demo_write_key";
const ORIGIN: &str = "https://shop.example";
/// 2024-11-28T10:33:20Z.
const T0: f64 = 1_732_790_000_000.0;

fn pipeline() -> Pipeline {
    Pipeline::from_json(&format!(
        r#"{{"sources": {{"{WRITE_KEY}": {{"name": "site", "allowedOrigins": ["{ORIGIN}"]}}}}}}"#
    ))
    .unwrap()
}

fn instant(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339).unwrap()
}

/// Runs one request body through the edge's core, received at the body's own `sentAt` (no
/// clock skew to correct), and checks every message is accepted and kept field for field.
/// Returns the messages checked.
fn accepted_field_for_field(body: &str) -> usize {
    let sent: Value = serde_json::from_str(body).unwrap();
    let messages = sent["batch"].as_array().unwrap();
    let facts = RequestFacts {
        origin: Some(ORIGIN),
        ip: Some("203.0.113.9"),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"),
        ..RequestFacts::default()
    };
    let req = Ingest {
        now: instant(&sent["sentAt"]),
        request_id: "contract",
        single: None,
        request: facts,
    };
    let out = ingest(body.as_bytes(), &req, &pipeline()).unwrap();
    assert!(
        out.rejected.is_empty(),
        "the edge rejected tracker output: {:?}\nbody: {body}",
        out.rejected
    );
    assert_eq!(out.accepted.len(), messages.len());
    assert_eq!(out.write_key.as_deref(), Some(WRITE_KEY));
    for (m, event) in messages.iter().zip(&out.accepted) {
        let stored = serde_json::to_value(event).unwrap();
        for (key, value) in m.as_object().unwrap() {
            let kept = &stored[key];
            match key.as_str() {
                "timestamp" => {
                    assert_eq!(instant(kept), instant(value), "timestamp of {m}");
                    assert_eq!(instant(&stored["originalTimestamp"]), instant(value));
                }
                "context" => {
                    for (ck, cv) in value.as_object().unwrap() {
                        assert_eq!(&kept[ck], cv, "context.{ck} of {m}");
                    }
                }
                // The core stores an empty `properties`/`traits` as absent (same meaning).
                _ if kept.is_null() && value.as_object().is_some_and(Map::is_empty) => {}
                _ => assert_eq!(kept, value, "{key} of {m}"),
            }
        }
        assert_eq!(instant(&stored["sentAt"]), instant(&sent["sentAt"]));
    }
    messages.len()
}

/// The fake browser as host.js would describe a real page.
fn browser() {
    with_fake(|b| {
        *b = Fake::default();
        b.now = T0;
        b.seed = 7;
        b.beacon_room = 100;
        let doc = [
            (
                fact::HREF,
                "https://shop.example/p/42?utm_source=news&utm_campaign=spring",
            ),
            (fact::PATH, "/p/42"),
            (fact::SEARCH, "?utm_source=news&utm_campaign=spring"),
            (fact::TITLE, "Blue \"Spur\" shoes — 42 €"),
            (fact::REFERRER, "https://search.example/?q=shoes"),
            (fact::VISIBILITY, "visible"),
            (fact::CAMPAIGN, r#"{"source":"news","name":"spring"}"#),
            (
                fact::FACTS,
                r#"{"userAgent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0","locale":"en-GB","timezone":"Europe/Paris","screen":{"width":1280,"height":720,"density":1.5}}"#,
            ),
        ];
        for (i, v) in doc {
            b.doc[i as usize] = v.into();
        }
    });
}

/// Answers every request in flight with `status`, until none is left.
fn answer_all(status: f64) {
    let mut answered = 0;
    loop {
        let posts = with_fake(|b| b.posts.clone());
        let Some((_, _, c)) = posts.get(answered).cloned() else {
            break;
        };
        answered += 1;
        on_event(c, status);
    }
}

#[test]
fn the_wasm_tracker_speaks_what_the_edge_accepts() {
    browser();
    let flags = flag::PAGEVIEWS | flag::CLICKS | flag::TAGS | flag::GPC;
    start("https://edge.example/", WRITE_KEY, "granted", flags);
    call(
        op::TRACK,
        "Order Completed",
        r#"{"total":42.5,"currency":"EUR","items":[{"sku":"A-1","qty":2}],"gift":false,"note":"ünïcode \"quoted\" \\ ✓"}"#,
    );
    call(op::READY, "", ""); // the initial page view
    on_event(code::LEAD, code::HELD);
    call(op::PAGE, "Pricing", r#"{"plan":"pro"}"#);
    call(
        op::IDENTIFY,
        "user-7",
        r#"{"email":"a@example.com","plan":"pro"}"#,
    );
    call(op::ALIAS, "user-8", "");
    call(op::GROUP, "org-3", r#"{"name":"Acme","seats":12}"#);
    // Autocapture: a click on a link, and one on a data-spur-event tag (as host.js describes them).
    with_fake(|b| {
        b.click = r##"{"tag":"a","id":"buy","classes":"btn primary","text":"Buy now","href":"/cart","selector":"a#buy"}
Element Clicked"##
            .into();
    });
    on_event(code::CLICK, 0.0);
    with_fake(|b| b.click = "{\"plan\":\"pro\"}\nPlan Chosen".into());
    on_event(code::CLICK, 0.0);
    // An SPA navigation.
    with_fake(|b| b.doc[fact::HREF as usize] = "https://shop.example/cart".into());
    on_event(code::NAV, 0.0);
    call(op::FLUSH, "", "");
    // One request refused for good: its events are counted, and reported as an event of
    // their own with the next delivered batch.
    let refused = with_fake(|b| b.posts.len());
    assert_eq!(refused, 1);
    let first = with_fake(|b| b.posts[0].2);
    on_event(first, 400.0);
    call(op::TRACK, "After Refusal", "{}");
    call(op::FLUSH, "", "");
    answer_all(200.0);
    // A page being left: beacons.
    call(op::RESET, "", "");
    call(op::TRACK, "Left Page", r#"{"scrolled":0.8}"#);
    with_fake(|b| b.doc[fact::VISIBILITY as usize] = "hidden".into());
    on_event(code::HIDE, 0.0);

    let (posts, beacons) = with_fake(|b| (b.posts.clone(), b.beacons.clone()));
    let mut checked = 0;
    let mut names = Vec::new();
    for body in posts
        .iter()
        .map(|p| &p.1)
        .chain(beacons.iter().map(|b| &b.1))
    {
        checked += accepted_field_for_field(body);
        let v: Value = serde_json::from_str(body).unwrap();
        for m in v["batch"].as_array().unwrap() {
            names.push(format!(
                "{}:{}",
                m["type"].as_str().unwrap(),
                m["event"].as_str().or(m["name"].as_str()).unwrap_or("")
            ));
        }
    }
    assert!(
        checked >= 10,
        "only {checked} messages were sent: {names:?}"
    );
    for kind in [
        "track:Order Completed",
        "page:",
        "page:Pricing",
        "identify:",
        "alias:",
        "group:",
        "track:Element Clicked",
        "track:Plan Chosen",
        "track:Spur Events Dropped",
        "track:Left Page",
    ] {
        assert!(
            names.iter().any(|n| n == kind),
            "{kind} not sent: {names:?}"
        );
    }
}

#[test]
fn the_fallback_speaks_what_the_edge_accepts() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fallback-wire.mjs");
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let out = std::process::Command::new(&node)
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("running {node} {script}: {e} (Node is needed for this test)"));
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let max_body = run["maxBody"].as_u64().unwrap() as usize;
    assert!(max_body <= core::MAX_BATCH_BYTES);
    assert!(max_body <= tracker::MAX_BODY_BYTES);
    let bodies = run["bodies"].as_array().unwrap();
    let mut types = Vec::new();
    for body in bodies {
        let body = body.as_str().unwrap();
        assert!(body.len() <= max_body);
        accepted_field_for_field(body);
        let v: Value = serde_json::from_str(body).unwrap();
        for m in v["batch"].as_array().unwrap() {
            types.push(m["type"].as_str().unwrap().to_owned());
        }
    }
    for kind in ["page", "track", "identify", "alias", "group"] {
        assert!(types.iter().any(|t| t == kind), "no {kind} sent: {types:?}");
    }
    assert_eq!(types.len(), 7, "{types:?}");
}
