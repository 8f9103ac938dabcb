//! Property tests: conservation (accepted + rejected = received, each index once), determinism,
//! no full IP in stored events, and the serde round-trip of `Event`.

// Test code: a failed unwrap is a failed test (clippy's allow-*-in-tests covers only #[test]
// functions, not the helpers beside them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{open_pipeline, run, server_facts};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Map, Value};
use spur_core::{Event, MessageType, RequestFacts};
use std::collections::BTreeSet;
use time::OffsetDateTime;

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object shaped like a Segment message, with random (often wrong) field values.
fn message_like() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("track"),
            Just("page"),
            Just("identify"),
            Just("group"),
            Just("alias"),
            Just("bogus")
        ],
        prop::option::of("[a-z]{0,6}"),
        prop::option::of("[a-z0-9]{0,6}"),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
    )
        .prop_map(|(kind, event, anon, properties, context)| {
            let mut m = Map::new();
            m.insert("type".into(), json!(kind));
            if let Some(e) = event {
                m.insert("event".into(), json!(e));
            }
            if let Some(a) = anon {
                m.insert("anonymousId".into(), json!(a));
            }
            if let Some(p) = properties {
                m.insert("properties".into(), p);
            }
            if let Some(c) = context {
                m.insert("context".into(), c);
            }
            Value::Object(m)
        })
}

/// A message that must be accepted: a track with identity and small properties.
fn valid_track() -> impl Strategy<Value = Value> {
    (
        "[A-Za-z ]{1,12}",
        "[a-z0-9-]{1,12}",
        prop::collection::btree_map("[a-z]{1,6}", json_leaf(), 0..5),
    )
        .prop_map(|(event, anon, props)| {
            json!({"type": "track", "event": event, "anonymousId": anon, "properties": props,
                   "context": {"ip": "198.51.100.201", "library": {"name": "proptest"}}})
        })
}

#[derive(Debug, Clone)]
enum Item {
    Valid(Value),
    Other(Value),
}

fn batch_items() -> impl Strategy<Value = Vec<Item>> {
    prop::collection::vec(
        prop_oneof![
            valid_track().prop_map(Item::Valid),
            message_like().prop_map(Item::Other),
            json_value().prop_map(Item::Other),
        ],
        0..40,
    )
}

fn body_of(items: &[Item]) -> String {
    let values: Vec<&Value> = items
        .iter()
        .map(|i| match i {
            Item::Valid(v) | Item::Other(v) => v,
        })
        .collect();
    json!({ "batch": values }).to_string()
}

/// Where failing cases are saved and replayed from: `properties.proptest-regressions` next to
/// this file (committed). Resolved from `file!()`, not from the working directory, so every
/// runner finds it. (A `Direct` path relative to the working directory once made proptest read
/// a different file than the committed one, so the saved seeds never ran.)
const REGRESSIONS: FileFailurePersistence =
    FileFailurePersistence::WithSource("proptest-regressions");

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(REGRESSIONS)),
        ..ProptestConfig::default()
    }
}

/// The committed seeds are found where the properties below look for them, so each saved
/// failure runs before any new case (regression test for issue 9's "never read" file).
#[test]
fn the_committed_regression_seeds_are_replayed() {
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/properties.proptest-regressions"),
    )
    .unwrap();
    let saved = committed.lines().filter(|l| l.starts_with("cc ")).count();
    assert!(saved >= 2, "the committed file holds the saved seeds");
    // What the proptest! block below loads for this file, through the same config.
    let loaded = config()
        .failure_persistence
        .unwrap()
        .load_persisted_failures2(Some(file!()));
    assert_eq!(loaded.len(), saved, "proptest loads every committed seed");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_message_ends_in_exactly_one_place(items in batch_items()) {
        let body = body_of(&items);
        let out = run(body.as_bytes(), None, server_facts(), &open_pipeline()).unwrap();
        prop_assert_eq!(out.received(), items.len());
        let indices: BTreeSet<usize> = out.rejected.iter().map(|r| r.index).collect();
        prop_assert_eq!(indices.len(), out.rejected.len(), "an index was rejected twice");
        prop_assert!(indices.iter().all(|i| *i < items.len()));
        prop_assert!(out.rejected.windows(2).all(|w| w[0].index < w[1].index), "rejections in order");
        for (i, item) in items.iter().enumerate() {
            if let Item::Valid(_) = item {
                prop_assert!(!indices.contains(&i), "valid message {} was rejected: {:?}", i, out.rejected);
            }
        }
        // Accepted messages without their own id carry their batch position.
        for e in &out.accepted {
            if let Some(i) = e.message_id.strip_prefix("req-").and_then(|n| n.parse::<usize>().ok()) {
                prop_assert!(!indices.contains(&i));
            }
        }
    }

    #[test]
    fn the_same_request_gives_the_same_outcome(items in batch_items()) {
        let body = body_of(&items);
        let facts = RequestFacts { origin: Some("https://x.example"), user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"), ..server_facts() };
        let a = run(body.as_bytes(), None, facts, &open_pipeline()).unwrap();
        let b = run(body.as_bytes(), None, facts, &open_pipeline()).unwrap();
        prop_assert_eq!(a.accepted, b.accepted);
        prop_assert_eq!(a.rejected, b.rejected);
    }

    #[test]
    fn no_full_ip_is_ever_stored(items in batch_items(), last in 1u8..=255) {
        let ip = format!("203.0.113.{last}");
        let facts = RequestFacts { ip: Some(&ip), ..server_facts() };
        let out = run(body_of(&items).as_bytes(), None, facts, &open_pipeline()).unwrap();
        for e in &out.accepted {
            let stored = serde_json::to_string(e).unwrap();
            prop_assert!(!stored.contains(&format!("\"{ip}\"")), "{}", stored);
            prop_assert!(!stored.contains("\"198.51.100.201\""), "{}", stored);
            if let Some(Value::String(kept)) = e.context.get("ip") {
                prop_assert!(kept.ends_with(".0"), "{}", kept);
            }
        }
    }

    #[test]
    fn events_round_trip_through_serde(e in event()) {
        let text = serde_json::to_string(&e).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, e);
    }
}

fn time_strategy() -> impl Strategy<Value = OffsetDateTime> {
    // 1970..2100, with nanoseconds: RFC 3339 carries them all.
    (0i64..4_102_444_800, 0u32..1_000_000_000).prop_map(|(s, ns)| {
        OffsetDateTime::from_unix_timestamp(s).unwrap() + time::Duration::nanoseconds(i64::from(ns))
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(".{0,8}", json_value(), 0..5).prop_map(|m| m.into_iter().collect())
}

fn event() -> impl Strategy<Value = Event> {
    let kind = prop_oneof![
        Just(MessageType::Track),
        Just(MessageType::Page),
        Just(MessageType::Screen),
        Just(MessageType::Identify),
        Just(MessageType::Group),
        Just(MessageType::Alias),
    ];
    let ids = (
        ".{1,16}",
        prop::option::of(".{0,12}"),
        prop::option::of(".{0,12}"),
        prop::option::of(".{0,12}"),
    );
    let names = (
        prop::option::of(".{0,12}"),
        prop::option::of(".{0,12}"),
        prop::option::of(".{0,12}"),
        prop::option::of(".{0,12}"),
    );
    let maps = (object(), object(), object(), object());
    let times = (
        time_strategy(),
        prop::option::of(time_strategy()),
        prop::option::of(time_strategy()),
        time_strategy(),
    );
    (kind, ids, names, maps, times).prop_map(
        |(
            kind,
            (message_id, user_id, anonymous_id, group_id),
            (event, name, category, previous_id),
            (properties, traits, context, integrations),
            (timestamp, original_timestamp, sent_at, received_at),
        )| Event {
            message_id,
            kind,
            event,
            name,
            category,
            user_id,
            anonymous_id,
            group_id,
            previous_id,
            properties,
            traits,
            context,
            integrations,
            timestamp,
            original_timestamp,
            sent_at,
            received_at,
        },
    )
}
