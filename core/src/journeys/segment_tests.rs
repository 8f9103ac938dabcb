//! Journeys that read live segment membership (`segments.<id>`): every condition may read it,
//! matchers at the event's time and branches at the time they are taken; without membership
//! (dry-run) the paths read `null`.

use serde_json::{json, Map, Value};

use super::tests::{ev, index_of, meet, MIN, T0};
use super::*;
use crate::rules::condition_engine;

/// A journey whose branch sends members of `vip` to `vip_hook`, everyone else to `std_hook`,
/// after a `wait` (none when `wait` is `None`).
fn routed(wait: Option<&str>) -> Value {
    let start = if wait.is_some() { "pause" } else { "tier" };
    json!({
        "id": "routed", "trigger": {"type": "event", "events": ["Signed Up"]},
        "start": start,
        "nodes": [
            {"id": "pause", "type": "delay", "for": wait.unwrap_or("1m"), "next": "tier"},
            {"id": "tier", "type": "branch", "branches": [
                {"condition": {"var": "segments.vip"}, "next": "vip_hook"}],
             "else": "std_hook"},
            {"id": "vip_hook", "type": "action", "action": {"type": "webhook", "url": "https://h.example.com/vip"}, "next": "bye"},
            {"id": "std_hook", "type": "action", "action": {"type": "webhook", "url": "https://h.example.com/std"}, "next": "bye"},
            {"id": "bye", "type": "exit"}
        ]
    })
}

fn index_with(doc: Value) -> JourneyIndex {
    let mut doc = doc;
    // An unused `pause` would be unreachable: drop it when the journey starts at the branch.
    if doc["start"] == "tier" {
        if let Some(nodes) = doc["nodes"].as_array_mut() {
            nodes.retain(|n| n["id"] != "pause");
        }
    }
    index_of(vec![doc])
}

/// [`routed`] (no wait) as text, its branch reading `path` instead of `segments.vip`.
fn routed_reading(path: &str) -> String {
    routed(None).to_string().replace("segments.vip", path)
}

/// The index of [`routed`] reading `vars.vip` instead: a journey that reads no membership.
fn plain_index() -> JourneyIndex {
    index_with(routed_reading("vars.vip").parse().unwrap())
}

fn vip(member: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("vip".into(), Value::Bool(member));
    m
}

/// The nodes of the actions sent.
fn sent(out: &Output) -> Vec<&str> {
    out.effects.iter().map(|e| e.node.as_str()).collect()
}

#[test]
fn every_journey_condition_may_read_membership_and_lists_it() {
    let j = compile::compile(
        &condition_engine(),
        parse(
            &json!({
                "id": "all", "trigger": {"type": "event", "events": ["A"], "condition": {"var": "segments.gold"}},
                "start": "w",
                "nodes": [
                    {"id": "w", "type": "wait_until", "events": ["B"], "condition": {"!": {"var": "segments.vip"}},
                     "timeout": "1h", "next": "b", "onTimeout": "b"},
                    {"id": "b", "type": "branch", "branches": [
                        {"condition": {"and": [{"var": "segments.vip"}, {"var": "segments.zeta"}]}, "next": "x"}],
                     "else": "x"},
                    {"id": "x", "type": "exit"}
                ],
                "goal": {"events": ["C"], "within": "1d", "condition": {"var": "segments.gold"}}
            })
            .to_string(),
        )
        .unwrap(),
        1,
    )
    .unwrap();
    assert!(j.reads_segments());
    assert_eq!(
        j.segments(),
        [
            ("gold".to_owned(), "/trigger/condition".to_owned()),
            ("vip".to_owned(), "/nodes/0/condition".to_owned()),
            (
                "zeta".to_owned(),
                "/nodes/1/branches/0/condition".to_owned()
            ),
        ]
    );
    assert!(!plain_index().get("routed").unwrap().reads_segments());
    // The path is still exactly `segments.<id>`.
    let bad = routed_reading("segments.vip.since");
    let e = compile::compile(&condition_engine(), parse(&bad).unwrap(), 1).unwrap_err();
    assert_eq!(e.code(), "invalid_condition");
    assert!(
        e.at.starts_with("/nodes/1/branches/0/condition"),
        "{}",
        e.at
    );
}

#[test]
fn a_branch_routes_members_and_non_members_apart() {
    let index = index_with(routed(None));
    for (member, hook) in [(true, "vip_hook"), (false, "std_hook")] {
        let m = move |_: i64| vip(member);
        let mut person = PersonJourneys::default();
        let e = ev("Signed Up", T0, json!({}));
        let out = on_event(&index, &mut person, "u1", &e, Facts::segments(&m), T0);
        assert_eq!(sent(&out), [hook], "member={member}");
        let step = person.history["routed"].entries;
        assert_eq!(step, 1);
    }
    // Without membership (dry-run) `segments.vip` reads null: the else path.
    let mut person = PersonJourneys::default();
    let out = meet(&index, &mut person, &ev("Signed Up", T0, json!({})), T0);
    assert_eq!(sent(&out), ["std_hook"]);
}

#[test]
fn a_branch_reads_membership_when_it_is_taken_not_at_entry() {
    let index = index_with(routed(Some("1h")));
    // A member from T0 + 30 min on: not at entry, but when the delay ends.
    let m = |t: i64| vip(t >= T0 + 30 * MIN);
    let seen = std::cell::RefCell::new(Vec::new());
    let probe = |t: i64| {
        seen.borrow_mut().push(t);
        m(t)
    };
    let mut person = PersonJourneys::default();
    let e = ev("Signed Up", T0, json!({}));
    let probed = Facts::segments(&probe);
    let out = on_event(&index, &mut person, "u1", &e, probed, T0);
    assert!(sent(&out).is_empty());
    // The alarm rings late; the branch runs at the delay's due time.
    let out = on_time(&index, &mut person, "u1", probed, T0 + 2 * 60 * MIN);
    assert_eq!(sent(&out), ["vip_hook"]);
    assert!(
        seen.borrow().contains(&(T0 + 60 * MIN)),
        "{:?}",
        seen.borrow()
    );
    assert!(person.active("routed").is_empty(), "the run ended");
    // On time, someone else gets the same.
    let mut person = PersonJourneys::default();
    let out = on_event(&index, &mut person, "u2", &e, probed, T0);
    assert!(out.effects.is_empty());
    let out = on_time(&index, &mut person, "u2", probed, T0 + 60 * MIN);
    assert_eq!(sent(&out), ["vip_hook"]);
}

#[test]
fn matchers_read_membership_at_the_event_time() {
    let doc = json!({
        "id": "gate", "trigger": {"type": "event", "events": ["Visit"], "condition": {"var": "segments.vip"}},
        "start": "hook",
        "nodes": [
            {"id": "hook", "type": "action", "action": {"type": "webhook", "url": "https://h.example.com/g"}, "next": "bye"},
            {"id": "bye", "type": "exit"}
        ],
        "entry": {"policy": "after_exit"}
    });
    let index = index_of(vec![doc]);
    let m = |t: i64| vip(t >= T0 + 10 * MIN);
    let mut person = PersonJourneys::default();
    let before = ev("Visit", T0, json!({}));
    let facts = Facts::segments(&m);
    let out = on_event(&index, &mut person, "u1", &before, facts, T0);
    assert!(out.effects.is_empty(), "not a member at T0");
    let after = ev("Visit", T0 + 20 * MIN, json!({}));
    let out = on_event(&index, &mut person, "u1", &after, facts, T0 + 20 * MIN);
    assert_eq!(sent(&out), ["hook"]);
    // A journey that reads no membership never asks for it.
    let plain = plain_index();
    let never = |_: i64| -> Map<String, Value> { panic!("membership asked for") };
    let mut person = PersonJourneys::default();
    let unasked = Facts::segments(&never);
    let out = on_event(&plain, &mut person, "u1", &before, unasked, T0);
    assert!(out.effects.is_empty());
    let signed = ev("Signed Up", T0, json!({}));
    let out = on_event(&plain, &mut person, "u1", &signed, unasked, T0);
    assert_eq!(sent(&out), ["std_hook"]);
}

/// Issue 12: the person's object reads its stored live states only on the first ask for
/// membership, so a transition must ask only when a journey it runs may read it — not for
/// every input once some published journey reads a segment.
#[test]
fn membership_is_asked_for_only_when_a_journey_in_play_reads_it() {
    let index = index_with(routed(Some("1h")));
    assert!(index.reads_segments());
    let asked = std::cell::RefCell::new(Vec::new());
    let probe = |t: i64| {
        asked.borrow_mut().push(t);
        vip(true)
    };
    let facts = Facts::segments(&probe);
    let mut person = PersonJourneys::default();
    // An event no journey names and timers with nothing due: nothing asks.
    let browse = ev("Browse", T0, json!({}));
    on_event(&index, &mut person, "u1", &browse, facts, T0);
    on_time(&index, &mut person, "u1", facts, T0 + MIN);
    assert!(asked.borrow().is_empty(), "asked at {:?}", asked.borrow());
    // The trigger's matchers see membership at the event's time; the run then waits.
    let signed = ev("Signed Up", T0 + MIN, json!({}));
    let out = on_event(&index, &mut person, "u1", &signed, facts, T0 + MIN);
    assert!(sent(&out).is_empty());
    on_time(&index, &mut person, "u1", facts, T0 + 30 * MIN);
    assert_eq!(*asked.borrow(), [T0 + MIN]);
    // The branch after the delay asks at its due time.
    let out = on_time(&index, &mut person, "u1", facts, T0 + 3 * 60 * MIN);
    assert_eq!(sent(&out), ["vip_hook"]);
    assert_eq!(*asked.borrow(), [T0 + MIN, T0 + MIN + 60 * MIN]);
}
