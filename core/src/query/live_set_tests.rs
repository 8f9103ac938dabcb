use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;

const T0: i64 = 1_700_000_000_000;

fn saved(v: Value, live: bool) -> SavedSegment {
    serde_json::from_value(json!({"name": "s", "where": v, "live": live})).unwrap()
}

fn set(v: &[(&str, Value)]) -> LiveSet {
    let (set, skipped) = LiveSet::build(
        7,
        v.iter()
            .map(|(id, c)| ((*id).to_owned(), saved(c.clone(), true))),
    );
    assert!(skipped.is_empty());
    set
}

fn buy(id: &str, at: i64) -> Event {
    serde_json::from_value(json!({
        "messageId": id, "type": "track", "event": "Buy", "userId": "u1",
        "timestamp": crate::instant::ms_to_rfc3339(at),
        "receivedAt": crate::instant::ms_to_rfc3339(at),
    }))
    .unwrap()
}

#[test]
fn build_keeps_only_live_segments() {
    let cond = json!({"did": {"event": "Buy"}});
    let (s, skipped) = LiveSet::build(
        3,
        [
            ("a".to_owned(), saved(cond.clone(), true)),
            ("b".to_owned(), saved(cond, false)),
        ],
    );
    assert_eq!(s.version(), 3);
    assert_eq!(s.segments().len(), 1);
    assert!(skipped.is_empty());
    assert!(s.wants(&buy("m", T0)));
    assert!(!LiveSet::default().wants(&buy("m", T0)));
}

#[test]
fn observe_then_tick_numbers_the_changes() {
    let s = set(&[("vip", json!({"did": {"event": "Buy", "within": "5s"}}))]);
    let mut states = BTreeMap::new();
    let e = buy("m1", T0);
    let changes = s.observe(&mut states, &[&e], None, T0 + 1000);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].transition, Transition::Entered);
    assert_eq!(changes[0].seq, 1);
    assert_eq!(members(&states), vec!["vip"]);
    let due = s.next_change(&states, T0 + 1000).unwrap();
    assert_eq!(due, T0 + 5001);
    assert!(s.tick(&mut states, None, due - 1).is_empty());
    let out = s.tick(&mut states, None, due);
    assert_eq!(out[0].transition, Transition::Exited);
    assert_eq!(out[0].seq, 2);
    let evs = events_of("u1", false, &out);
    assert_eq!(evs[0].message_id, "vip:u1:2:exited");
    assert_eq!(evs[0].event.as_deref(), Some("$segment_exited"));
    assert_eq!(evs[0].properties["segmentId"], json!("vip"));
    assert!(members(&states).is_empty());
}

#[test]
fn a_segment_gone_loses_its_state() {
    let s = set(&[("a", json!({"did": {"event": "Buy"}}))]);
    let mut states = BTreeMap::new();
    s.observe(&mut states, &[&buy("m1", T0)], None, T0);
    assert!(states.contains_key("a"));
    let none = set(&[("b", json!({"did": {"event": "Other"}}))]);
    assert!(none.tick(&mut states, None, T0).is_empty());
    assert!(states.is_empty());
}

#[test]
fn merge_unites_hits_and_ticks_after() {
    let s = set(&[("two", json!({"did": {"event": "Buy", "min": 2}}))]);
    let mut ours = BTreeMap::new();
    let mut theirs = BTreeMap::new();
    assert!(s.observe(&mut ours, &[&buy("m1", T0)], None, T0).is_empty());
    assert!(s
        .observe(&mut theirs, &[&buy("m2", T0 + 1)], None, T0 + 1)
        .is_empty());
    s.merge(&mut ours, &theirs);
    let out = s.tick(&mut ours, None, T0 + 2);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].transition, Transition::Entered);
}

#[test]
fn events_are_observed_in_time_order() {
    let s = set(&[(
        "w",
        json!({"did": {"event": "Buy", "min": 2, "within": "10s"}}),
    )]);
    let mut states = BTreeMap::new();
    let late = buy("m2", T0 + 2000);
    let early = buy("m1", T0);
    let out = s.observe(&mut states, &[&late, &early], None, T0 + 3000);
    assert_eq!(out.len(), 1, "one entry, not enter-exit churn");
}

#[test]
fn absorb_announces_the_union_once_numbered_after_both_sides() {
    let s = set(&[
        (
            "two",
            json!({"did": {"event": "Buy", "min": 2, "within": "7d"}}),
        ),
        ("one", json!({"did": {"event": "Buy"}})),
    ]);
    let (mut ours, mut theirs) = (BTreeMap::new(), BTreeMap::new());
    // The anonymous side already entered `one` (seq 1); the user side saw nothing yet.
    let anon = s.observe(&mut theirs, &[&buy("m1", T0)], None, T0);
    assert_eq!(anon.len(), 1);
    assert!(s.observe(&mut ours, &[], None, T0).is_empty());
    let out = s.absorb(&mut ours, &theirs, None, T0 + 10);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].segment, "one");
    assert_eq!(out[0].transition, Transition::Entered);
    assert_eq!(out[0].seq, 2, "after the anonymous side's transition 1");
    assert_eq!(
        events_of("u1", false, &out)[0].message_id,
        "one:u1:2:entered"
    );
    // The user's own purchase completes `two` with the anonymous one: one entry.
    let out = s.observe(&mut ours, &[&buy("m2", T0 + 20)], None, T0 + 20);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].segment, "two");
    assert_eq!(out[0].transition, Transition::Entered);
    assert_eq!(members(&ours), vec!["one", "two"]);
}

#[test]
fn absorb_changes_nothing_for_a_member_already_in_and_drops_unknown_segments() {
    let s = set(&[("one", json!({"did": {"event": "Buy"}}))]);
    let (mut ours, mut theirs) = (BTreeMap::new(), BTreeMap::new());
    s.observe(&mut ours, &[&buy("m1", T0)], None, T0);
    s.observe(&mut theirs, &[&buy("m2", T0)], None, T0);
    theirs.insert("gone".to_owned(), LiveState::default());
    assert!(s.absorb(&mut ours, &theirs, None, T0 + 1).is_empty());
    assert_eq!(ours.keys().collect::<Vec<_>>(), vec!["one"]);
    assert_eq!(ours["one"].seq, 1);
}

#[test]
fn build_keeps_at_most_the_cap_first_by_id_whatever_the_order() {
    use crate::limits::MAX_LIVE_SEGMENTS;
    let cond = json!({"did": {"event": "Buy"}});
    let n = MAX_LIVE_SEGMENTS + 5;
    let ids: Vec<String> = (0..n).rev().map(|i| format!("s{i:02}")).collect();
    let (s, skipped) = LiveSet::build(
        1,
        ids.iter()
            .map(|id| (id.clone(), saved(cond.clone(), true)))
            .chain([("plain".to_owned(), saved(cond.clone(), false))]),
    );
    let kept: Vec<&str> = s.segments().iter().map(|g| g.id.as_str()).collect();
    let first: Vec<String> = (0..MAX_LIVE_SEGMENTS).map(|i| format!("s{i:02}")).collect();
    assert_eq!(kept, first);
    let dropped: Vec<&str> = skipped.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(dropped, ["s20", "s21", "s22", "s23", "s24"]);
    assert!(skipped
        .iter()
        .all(|(_, why)| why.contains("MAX_LIVE_SEGMENTS")));
}
