//! Rules that read live segment membership (`segments.<id>`): they count as stateful (the
//! ingest request routes them to the person's object, never filing them under membership),
//! and fire there only when the membership handed in says so.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::*;
use crate::rules::compile_value;

const MSG: &str = r#"[{"type": "message", "title": "t", "body": "b"}]"#;

fn rule(id: &str, events: &[&str], condition: Value) -> Rule {
    let actions: Value = serde_json::from_str(MSG).unwrap();
    serde_json::from_value(
        json!({"id": id, "trigger": {"events": events, "condition": condition}, "actions": actions}),
    )
    .unwrap()
}

fn event(name: &str, plan: &str) -> Event {
    serde_json::from_value(
        json!({"messageId": format!("m-{name}-{plan}"), "type": "track",
        "event": name, "userId": "u", "properties": {"plan": plan},
        "timestamp": "2024-05-01T12:00:00Z", "receivedAt": "2024-05-01T12:00:00Z"}),
    )
    .unwrap()
}

fn membership(vip: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("vip".into(), Value::Bool(vip));
    m
}

fn ids(firings: &[Firing]) -> Vec<&str> {
    firings.iter().map(|f| f.rule.as_str()).collect()
}

#[test]
fn a_rule_reading_membership_is_stateful_and_lists_its_segments() {
    let vip =
        json!({"and": [{"var": "segments.vip"}, {"==": [{"var": "properties.plan"}, "pro"]}]});
    let c = compile_value(
        &Engine::new(),
        json!({"id": "r", "trigger": {"events": ["X"], "condition": vip},
        "absence": {"events": ["Y"], "within": "1h", "condition": {"var": "segments.gold"}},
        "actions": serde_json::from_str::<Value>(MSG).unwrap()}),
    )
    .unwrap();
    assert!(c.reads_segments());
    assert_eq!(c.segments(), ["gold".to_owned(), "vip".to_owned()]);
    let compiled = |r: Rule| compile(&Engine::new(), r).unwrap();
    let plain = compiled(rule("p", &["X"], json!(true)));
    assert!(!plain.reads_segments());
    assert!(
        !plain.is_stateful(),
        "an uncapped instant rule keeps the fast path"
    );
    let instant_vip = compiled(rule("v", &["X"], json!({"var": "segments.vip"})));
    assert!(instant_vip.is_stateful(), "membership lives in the object");
}

#[test]
fn ingest_routes_membership_rules_to_the_object_and_fires_the_rest_at_once() {
    let pro = json!({"==": [{"var": "properties.plan"}, "pro"]});
    let vip_pro = json!({"and": [{"var": "segments.vip"}, pro.clone()]});
    let index = RuleIndex::build(
        vec![
            rule("vip", &["X"], vip_pro),
            rule(
                "only-vip",
                &["Z"],
                json!({"===": [{"var": "segments.vip"}, true]}),
            ),
            rule("pro", &["Y"], pro),
        ],
        1,
    );
    assert!(index.needs_segments(&event("X", "pro")));
    assert!(!index.needs_segments(&event("Y", "pro")));
    // Filed under its other conjunct: a non-pro X never reaches the object.
    let routed = index.route(&event("X", "pro"), 0);
    assert!(routed.needs_state && routed.firings.is_empty());
    assert!(!index.route(&event("X", "free"), 0).needs_state);
    // Not filed under membership (the ingest request has none): still routed.
    assert!(index.route(&event("Z", "free"), 0).needs_state);
    assert!(index.needs_state(&event("Z", "free")));
    let plain = index.route(&event("Y", "pro"), 0);
    assert!(!plain.needs_state);
    assert_eq!(ids(&plain.firings), ["pro"]);
}

#[test]
fn the_object_fires_only_for_members() {
    let index = RuleIndex::build(
        vec![
            rule("vip", &["X"], json!({"var": "segments.vip"})),
            rule("not-vip", &["X"], json!({"!": {"var": "segments.vip"}})),
        ],
        1,
    );
    let mut states = BTreeMap::new();
    let e = event("X", "pro");
    let (yes, no) = (|_: i64| membership(true), |_: i64| membership(false));
    let member = index.apply_event(&mut states, &e, Facts::segments(&yes), 0);
    assert_eq!(ids(&member), ["vip"]);
    let other = index.apply_event(&mut states, &e, Facts::segments(&no), 0);
    assert_eq!(ids(&other), ["not-vip"]);
    // Without membership (no live set at hand) nobody is a member.
    let unknown = index.apply_event(&mut states, &e, Facts::default(), 0);
    assert_eq!(ids(&unknown), ["not-vip"]);
    assert!(states.is_empty(), "uncapped instant rules keep no state");
}

/// Issue 12: the person's object reads its stored live states only when membership is asked
/// for, so an event no membership-reading rule can meet must never ask.
#[test]
fn membership_is_asked_for_only_by_events_that_meet_a_rule_reading_it() {
    let index = RuleIndex::build(
        vec![
            rule("vip", &["X"], json!({"var": "segments.vip"})),
            rule(
                "plain",
                &["Y"],
                json!({"==": [{"var": "properties.plan"}, "pro"]}),
            ),
        ],
        1,
    );
    let asked = std::cell::RefCell::new(Vec::new());
    let probe = |t: i64| {
        asked.borrow_mut().push(t);
        membership(true)
    };
    let mut states = BTreeMap::new();
    // A stateless rule (the ingest request fires it) and an event no rule names.
    let plain = index.apply_event(&mut states, &event("Y", "pro"), Facts::segments(&probe), 0);
    assert!(plain.is_empty());
    let unnamed = index.apply_event(&mut states, &event("Z", "pro"), Facts::segments(&probe), 0);
    assert!(unnamed.is_empty());
    assert!(asked.borrow().is_empty(), "asked at {:?}", asked.borrow());
    // An event meeting the membership rule asks once, at the event's time (not after `now`).
    let now = 1_714_564_800_000 + 60_000;
    let vip = index.apply_event(
        &mut states,
        &event("X", "pro"),
        Facts::segments(&probe),
        now,
    );
    assert_eq!(ids(&vip), ["vip"]);
    assert_eq!(*asked.borrow(), [1_714_564_800_000]);
}
