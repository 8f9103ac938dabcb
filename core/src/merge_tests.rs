use super::*;
use crate::journeys::{History, Run};
use crate::rules::state::Hit;
use crate::rules::Rule;
use serde_json::{json, Value};

const MIN: i64 = 60_000;
const T0: i64 = 1_714_564_800_000;

fn index(extra: Value) -> RuleIndex {
    let mut r = json!({"id": "r", "trigger": {"events": ["View"]},
        "actions": [{"type": "message", "title": "t", "body": "b"}]});
    if let (Value::Object(b), Value::Object(e)) = (&mut r, extra) {
        b.extend(e);
    }
    let rule: Rule = serde_json::from_value(r).unwrap();
    RuleIndex::build([rule], 1)
}

fn hits(ids: &[(&str, i64)]) -> RuleState {
    RuleState {
        hits: ids
            .iter()
            .map(|(id, at)| Hit {
                at: *at,
                id: (*id).into(),
            })
            .collect(),
        ..RuleState::default()
    }
}

fn one(state: RuleState) -> BTreeMap<String, RuleState> {
    BTreeMap::from([("r".to_owned(), state)])
}

#[test]
fn window_counts_begun_anonymously_add_and_complete() {
    let idx = index(json!({"window": {"count": 3, "within": "10m"}}));
    let mut d = Dropped::default();
    let mut into = one(hits(&[("c", T0 + 2 * MIN)]));
    let from = one(hits(&[("a", T0), ("b", T0 + MIN)]));
    let fired = merge_rules(&idx, &mut into, from, T0 + 3 * MIN, &mut d);
    assert_eq!(fired.len(), 1, "2 anonymous + 1 identified reach 3");
    assert_eq!(fired[0].events, ["a", "b", "c"]);
    assert!(into.is_empty(), "the window starts over after firing");
}

#[test]
fn window_merge_is_idempotent() {
    let idx = index(json!({"window": {"count": 3, "within": "10m"}}));
    let mut d = Dropped::default();
    let anon = one(hits(&[("a", T0), ("b", T0 + MIN)]));
    let mut into = BTreeMap::new();
    assert!(merge_rules(&idx, &mut into, anon.clone(), T0, &mut d).is_empty());
    assert!(
        merge_rules(&idx, &mut into, anon.clone(), T0, &mut d).is_empty(),
        "the same hits merged twice count once"
    );
    assert_eq!(into["r"].hits.len(), 2);
}

#[test]
fn window_merge_forgets_hits_outside_the_window() {
    let idx = index(json!({"window": {"count": 3, "within": "10m"}}));
    let mut d = Dropped::default();
    let mut into = one(hits(&[("c", T0 + 20 * MIN)]));
    let from = one(hits(&[("a", T0), ("b", T0 + 15 * MIN)]));
    assert!(merge_rules(&idx, &mut into, from, T0 + 20 * MIN, &mut d).is_empty());
    assert_eq!(into["r"].hits.len(), 2, "the view 20 minutes back fell out");
}

#[test]
fn sequences_take_the_furthest_progress() {
    let idx = index(json!({"trigger": {"events": ["A"]},
        "sequence": {"then": [{"events": ["B"]}, {"events": ["C"]}], "within": "1h"}}));
    let mut d = Dropped::default();
    let mut into = one(hits(&[("a2", T0 + MIN)]));
    let from = one(hits(&[("a1", T0), ("b1", T0 + 2 * MIN)]));
    merge_rules(&idx, &mut into, from.clone(), T0, &mut d);
    assert_eq!(into["r"].hits.len(), 2);
    merge_rules(&idx, &mut into, from, T0, &mut d);
    assert_eq!(into["r"].hits.len(), 2, "idempotent");
}

#[test]
fn absence_keeps_the_later_trigger() {
    let idx = index(json!({"trigger": {"events": ["Cart"]},
        "absence": {"events": ["Order"], "within": "30m"}}));
    let mut d = Dropped::default();
    let later = RuleState {
        deadline: Some(T0 + 35 * MIN),
        ..hits(&[("c2", T0 + 5 * MIN)])
    };
    let earlier = RuleState {
        deadline: Some(T0 + 30 * MIN),
        ..hits(&[("c1", T0)])
    };
    let mut into = one(earlier);
    merge_rules(&idx, &mut into, one(later.clone()), T0, &mut d);
    assert_eq!(into["r"].deadline, later.deadline);
}

#[test]
fn caps_unite_firing_times() {
    let idx = index(json!({"cap": {"max": 2, "per": "1d"}}));
    let mut d = Dropped::default();
    let st = |t: &[i64]| RuleState {
        fired: t.to_vec(),
        ..RuleState::default()
    };
    let mut into = one(st(&[T0]));
    merge_rules(&idx, &mut into, one(st(&[T0, T0 + 1, T0 + 2])), T0, &mut d);
    assert_eq!(into["r"].fired, [T0 + 1, T0 + 2], "the latest max kept");
}

#[test]
fn states_of_rules_no_longer_live_are_dropped_and_counted() {
    let idx = index(json!({}));
    let mut d = Dropped::default();
    let mut into = BTreeMap::new();
    let from = BTreeMap::from([("gone".to_owned(), hits(&[("a", T0)]))]);
    merge_rules(&idx, &mut into, from, T0, &mut d);
    assert!(into.is_empty());
    assert_eq!(d.rules, 1);
}

fn pending(id: &str, at: i64, user: &str) -> Pending {
    Pending {
        message: InAppMessage {
            id: id.into(),
            rule: "r".into(),
            user: user.into(),
            title: "t".into(),
            body: "b".into(),
            url: None,
        },
        at,
    }
}

#[test]
fn pending_messages_unite_by_id_and_go_to_the_user() {
    let mut d = Dropped::default();
    let from = vec![pending("m1", T0, "anon"), pending("m2", T0 + 1, "anon")];
    let once = merge_outbox(vec![pending("m0", T0 - 1, "u")], from.clone(), "u", &mut d);
    let twice = merge_outbox(once.clone(), from, "u", &mut d);
    assert_eq!(once, twice, "idempotent");
    let ids: Vec<_> = twice.iter().map(|p| p.message.id.as_str()).collect();
    assert_eq!(ids, ["m0", "m1", "m2"]);
    assert!(twice.iter().all(|p| p.message.user == "u"));
}

#[test]
fn pending_messages_stay_bounded() {
    let mut d = Dropped::default();
    let n = i64::try_from(MAX_PENDING_MESSAGES).unwrap();
    let mk = |p: &str| -> Vec<Pending> {
        (0..n)
            .map(|i| pending(&format!("{p}{i}"), T0 + i, "x"))
            .collect()
    };
    let out = merge_outbox(mk("a"), mk("b"), "u", &mut d);
    assert_eq!(out.len(), MAX_PENDING_MESSAGES);
    assert_eq!(d.messages, MAX_PENDING_MESSAGES);
}

fn run(seq: u64, node: &str, wake: Option<i64>) -> Run {
    serde_json::from_value(json!({"seq": seq, "revision": 1, "node": node,
        "enteredAt": T0, "wakeAt": wake, "trigger": null}))
    .unwrap()
}

#[test]
fn a_waiting_anonymous_run_moves_with_its_wake_up() {
    let mut d = Dropped::default();
    let mut from = PersonJourneys::default();
    from.runs
        .insert("j".into(), vec![run(0, "wait", Some(T0 + MIN))]);
    from.history.insert(
        "j".into(),
        History {
            entries: 1,
            last_entered: Some(T0),
            ended: vec![],
        },
    );
    let mut into = PersonJourneys::default();
    merge_journeys(&mut into, from, &mut d);
    assert_eq!(into.active("j").len(), 1);
    assert_eq!(into.next_wake(), Some(T0 + MIN));
    assert_eq!(into.history["j"].entries, 1);
}

#[test]
fn the_identified_run_wins_in_the_same_journey() {
    let mut d = Dropped::default();
    let mut from = PersonJourneys::default();
    from.runs
        .insert("j".into(), vec![run(0, "anon-node", None)]);
    let mut into = PersonJourneys::default();
    into.runs
        .insert("j".into(), vec![run(0, "user-node", None)]);
    merge_journeys(&mut into, from, &mut d);
    assert_eq!(into.active("j")[0].node, "user-node");
    assert_eq!(d.runs, 1);
}

#[test]
fn a_moved_run_is_renumbered_after_the_users_entries() {
    let mut d = Dropped::default();
    let mut from = PersonJourneys::default();
    from.runs.insert("j".into(), vec![run(0, "wait", None)]);
    let mut into = PersonJourneys::default();
    into.history.insert(
        "j".into(),
        History {
            entries: 2,
            last_entered: Some(T0 - MIN),
            ended: vec![],
        },
    );
    merge_journeys(&mut into, from, &mut d);
    assert_eq!(
        into.active("j")[0].seq,
        2,
        "seq 0 and 1 are the user's ended runs"
    );
    assert_eq!(into.history["j"].entries, 3);
}

#[test]
fn whole_merge_twice_equals_once() {
    let idx = index(json!({"window": {"count": 5, "within": "10m"}}));
    let mut journeys = PersonJourneys::default();
    journeys
        .runs
        .insert("k".into(), vec![run(0, "wait", Some(T0 + MIN))]);
    let h = Handover {
        from: "anon".into(),
        rules: one(hits(&[("a", T0), ("b", T0 + 1)])),
        journeys,
        outbox: vec![pending("m1", T0, "anon")],
        tally: None,
        ..Handover::default()
    };
    let mut rules = one(hits(&[("c", T0 + 2)]));
    let mut pj = PersonJourneys::default();
    let (out1, f1, _) = merge(&idx, "u", &mut rules, &mut pj, vec![], h.clone(), T0);
    let (rules1, pj1) = (rules.clone(), pj.clone());
    let (out2, f2, _) = merge(&idx, "u", &mut rules, &mut pj, out1.clone(), h, T0);
    assert!(f1.is_empty() && f2.is_empty());
    assert_eq!(out1, out2);
    assert_eq!(rules, rules1);
    assert_eq!(rules["r"].hits.len(), 3);
    assert_eq!(
        pj, pj1,
        "the user's run of k is kept, the anonymous copy dropped"
    );
}

fn event(
    kind: crate::MessageType,
    user: Option<&str>,
    anon: Option<&str>,
    prev: Option<&str>,
) -> Event {
    let mut e: Event = serde_json::from_value(json!({
        "messageId": "m", "type": "track", "event": "x",
        "timestamp": "2024-05-01T12:00:00Z", "receivedAt": "2024-05-01T12:00:00Z"}))
    .unwrap();
    e.kind = kind;
    e.user_id = user.map(Into::into);
    e.anonymous_id = anon.map(Into::into);
    e.previous_id = prev.map(Into::into);
    e
}

#[test]
fn identify_with_both_ids_and_alias_ask_for_a_merge() {
    use crate::MessageType::{Alias, Identify, Track};
    let link = |from: &str, into: &str| {
        Some(Link {
            from: from.into(),
            into: into.into(),
        })
    };
    assert_eq!(
        link_of(&event(Identify, Some("u"), Some("a"), None)),
        link("a", "u")
    );
    assert_eq!(
        link_of(&event(Alias, Some("u"), None, Some("p"))),
        link("p", "u")
    );
    assert_eq!(link_of(&event(Identify, Some("u"), None, None)), None);
    assert_eq!(link_of(&event(Identify, Some("u"), Some("u"), None)), None);
    assert_eq!(link_of(&event(Track, Some("u"), Some("a"), None)), None);
    let long = "x".repeat(MAX_ID_CHARS + 1);
    assert_eq!(
        link_of(&event(Identify, Some("u"), Some(&long), None)),
        None
    );
    let at_limit = "x".repeat(MAX_ID_CHARS);
    assert!(link_of(&event(Identify, Some("u"), Some(&at_limit), None)).is_some());
    let twice = vec![
        event(Identify, Some("u"), Some("a"), None),
        event(Identify, Some("u"), Some("a"), None),
    ];
    assert_eq!(links(&twice).len(), 1);
}

#[test]
fn a_handover_carries_live_states_and_reads_old_snapshots() {
    let mut h = Handover {
        from: "anon".into(),
        ..Handover::default()
    };
    h.live.insert(
        "buyers".into(),
        LiveState {
            member: true,
            seq: 1,
            ..LiveState::default()
        },
    );
    h.live_seen.push("m1".into());
    let text = serde_json::to_string(&h).unwrap();
    assert_eq!(serde_json::from_str::<Handover>(&text).unwrap(), h);
    // A snapshot taken before live states travelled reads as having none.
    let old: Handover = serde_json::from_str(r#"{"from":"anon"}"#).unwrap();
    assert!(old.live.is_empty() && old.live_seen.is_empty());
    // An empty hand-over keeps its old shape.
    let empty = serde_json::to_string(&Handover::default()).unwrap();
    assert!(!empty.contains("live"), "{empty}");
}
