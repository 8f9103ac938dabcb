use serde_json::{json, Map, Value};

use super::*;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_700_000_000_000;

fn seg(v: Value) -> LiveSegment {
    let saved: SavedSegment = serde_json::from_value(json!({"name": "s", "where": v})).unwrap();
    LiveSegment::compile("s1", &saved).unwrap()
}

fn refuse(v: Value) -> QueryError {
    let saved: SavedSegment = serde_json::from_value(json!({"name": "s", "where": v})).unwrap();
    LiveSegment::compile("s1", &saved).unwrap_err()
}

fn ev(id: &str, kind: &str, name: &str, props: Value, at: i64) -> Event {
    let mut e = json!({
        "messageId": id, "type": kind, "userId": "u1",
        "properties": props, "context": {},
        "timestamp": crate::instant::ms_to_rfc3339(at),
        "receivedAt": crate::instant::ms_to_rfc3339(at),
    });
    if kind == "track" {
        e["event"] = json!(name);
    }
    if kind == "identify" {
        e["traits"] = e["properties"].take();
        e["properties"] = json!({});
    }
    serde_json::from_value(e).unwrap()
}

fn buy(id: &str, props: Value, at: i64) -> Event {
    ev(id, "track", "Buy", props, at)
}

#[test]
fn did_within_enters_and_leaves_by_tick() {
    let s = seg(json!({"did": {"event": "Buy", "within": "7d"}}));
    let mut st = LiveState::default();
    assert_eq!(
        s.observe(&mut st, &buy("m1", json!({}), T0), None, T0),
        Some(Transition::Entered)
    );
    assert!(st.member);
    let due = s.next_change(&st, T0).unwrap();
    assert_eq!(due, T0 + 7 * DAY + 1);
    assert_eq!(s.tick(&mut st, None, T0 + 7 * DAY), None, "still inside");
    assert_eq!(s.tick(&mut st, None, due), Some(Transition::Exited));
    assert_eq!(st.seq, 2);
    assert!(st.hits[0].is_empty(), "expired hits are dropped");
    assert_eq!(s.next_change(&st, due), None);
}

#[test]
fn counts_are_capped_but_exact() {
    let s = seg(json!({"did": {"event": "Buy", "min": 2, "max": 3, "within": "1d"}}));
    let mut st = LiveState::default();
    let mut changes = Vec::new();
    for i in 0..6 {
        let t = T0 + i * 1000;
        changes.push(s.observe(&mut st, &buy(&format!("m{i}"), json!({}), t), None, t));
    }
    assert_eq!(
        changes,
        vec![
            None,
            Some(Transition::Entered),
            None,
            Some(Transition::Exited),
            None,
            None
        ]
    );
    assert_eq!(st.hits[0].len(), 4, "keeps max + 1 hits");
    // The oldest two leave the window: 4 -> 2 counted, a member again.
    let t = T0 + DAY + 3500;
    assert_eq!(s.tick(&mut st, None, t), Some(Transition::Entered));
    assert!(refuse(json!({"did": {"event": "Buy", "min": 500}}))
        .to_string()
        .contains(NOT_LIVE));
}

#[test]
fn filters_follow_sqlite_types() {
    let cases = [
        // (filter, property value, SQL answer)
        (
            json!({"field": "properties.n", "op": "eq", "value": 5}),
            json!(5),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "eq", "value": 5}),
            json!(5.0),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "eq", "value": 5}),
            json!("5"),
            false,
        ),
        (
            json!({"field": "properties.n", "op": "gt", "value": 5}),
            json!("1"),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "lt", "value": "a"}),
            json!(99),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "gte", "value": 5}),
            json!(null),
            false,
        ),
        (
            json!({"field": "properties.n", "op": "neq", "value": 5}),
            json!(null),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "neq", "value": 5}),
            json!(5),
            false,
        ),
        (
            json!({"field": "properties.n", "op": "eq", "value": true}),
            json!(true),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "eq", "value": 1}),
            json!(true),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "contains", "value": "2"}),
            json!(123),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "contains", "value": "ro"}),
            json!("pro"),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "contains", "value": "\"a\""}),
            json!({"a": 1}),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "in", "value": [1, "x"]}),
            json!("x"),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "in", "value": [1, "x"]}),
            json!("1"),
            false,
        ),
        (
            json!({"field": "properties.n", "op": "exists"}),
            json!(null),
            false,
        ),
        (
            json!({"field": "properties.n", "op": "not_exists"}),
            json!(null),
            true,
        ),
        (
            json!({"field": "properties.n", "op": "exists"}),
            json!(0),
            true,
        ),
    ];
    for (f, v, want) in cases {
        let s = seg(json!({"did": {"event": "Buy", "filters": [f.clone()]}}));
        let mut st = LiveState::default();
        s.observe(&mut st, &buy("m", json!({"n": v}), T0), None, T0);
        assert_eq!(st.member, want, "{f} on {v}");
    }
    // Missing entirely: like null.
    let s = seg(json!({"did": {"event": "Buy", "filters": [
        {"field": "properties.a.b", "op": "neq", "value": 1}]}}));
    let mut st = LiveState::default();
    s.observe(&mut st, &buy("m", json!({"a": 3}), T0), None, T0);
    assert!(st.member);
    let s = seg(json!({"did": {"event": "$pageview", "filters": [
        {"field": "type", "value": "page"}]}}));
    let mut st = LiveState::default();
    s.observe(&mut st, &buy("m", json!({}), T0), None, T0);
    assert!(!st.member);
    s.observe(&mut st, &ev("p", "page", "Home", json!({}), T0), None, T0);
    assert!(st.member);
}

#[test]
fn absolute_windows_and_future_hits() {
    let s = seg(json!({"did": {"event": "Buy",
        "from": crate::instant::ms_to_rfc3339(T0), "to": crate::instant::ms_to_rfc3339(T0 + DAY)}}));
    let mut st = LiveState::default();
    assert_eq!(
        s.observe(&mut st, &buy("a", json!({}), T0 - 1), None, T0),
        None
    );
    assert_eq!(
        s.observe(&mut st, &buy("b", json!({}), T0 + DAY), None, T0 + DAY),
        None
    );
    // An event stamped ahead of now counts from its time on.
    assert_eq!(
        s.observe(&mut st, &buy("c", json!({}), T0 + 10), None, T0),
        None
    );
    assert_eq!(s.next_change(&st, T0), Some(T0 + 10));
    assert_eq!(s.tick(&mut st, None, T0 + 10), Some(Transition::Entered));
}

#[test]
fn last_seen_leaves_and_enters_by_time() {
    let s = seg(json!({"lastSeen": {"before": "3d"}}));
    let mut st = LiveState::default();
    assert_eq!(s.observe(&mut st, &buy("a", json!({}), T0), None, T0), None);
    let due = s.next_change(&st, T0).unwrap();
    assert_eq!(due, T0 + 3 * DAY + 1);
    assert_eq!(s.tick(&mut st, None, due), Some(Transition::Entered));
    assert_eq!(
        s.observe(&mut st, &buy("b", json!({}), due), None, due),
        Some(Transition::Exited)
    );
    let active = seg(json!({"lastSeen": {"after": "1d"}}));
    let mut st = LiveState::default();
    assert_eq!(
        active.observe(&mut st, &buy("a", json!({}), T0), None, T0),
        Some(Transition::Entered)
    );
    assert_eq!(active.tick(&mut st, None, T0 + DAY), None);
    assert_eq!(
        active.tick(&mut st, None, T0 + DAY + 1),
        Some(Transition::Exited)
    );
}

#[test]
fn traits_read_profile_then_latest_identify() {
    let s = seg(json!({"and": [
        {"trait": {"name": "plan", "value": "pro"}},
        {"not": {"did": {"event": "Churned"}}}
    ]}));
    let mut st = LiveState::default();
    assert_eq!(
        s.observe(
            &mut st,
            &ev("i1", "identify", "", json!({"plan": "pro"}), T0),
            None,
            T0
        ),
        Some(Transition::Entered)
    );
    assert_eq!(
        s.observe(
            &mut st,
            &ev("i0", "identify", "", json!({"plan": "free"}), T0 - 5),
            None,
            T0
        ),
        None,
        "an older identify does not replace the latest"
    );
    let mut profile = Map::new();
    profile.insert("plan".into(), json!("free"));
    assert_eq!(
        s.tick(&mut st, Some(&profile), T0),
        Some(Transition::Exited)
    );
    assert_eq!(s.tick(&mut st, None, T0), Some(Transition::Entered));
    assert_eq!(
        s.observe(
            &mut st,
            &ev("c", "track", "Churned", json!({}), T0 + 1),
            None,
            T0 + 1
        ),
        Some(Transition::Exited)
    );
}

#[test]
fn merge_unites_hits_and_transition_ids_are_stable() {
    let s = seg(json!({"did": {"event": "Buy", "min": 2, "within": "7d"}}));
    let mut anon = LiveState::default();
    let mut known = LiveState::default();
    s.observe(&mut anon, &buy("a", json!({}), T0), None, T0);
    s.observe(&mut known, &buy("b", json!({}), T0 + 1), None, T0 + 1);
    assert!(!anon.member && !known.member);
    s.merge(&mut known, &anon);
    assert_eq!(known.hits[0], vec![T0, T0 + 1]);
    assert_eq!(s.tick(&mut known, None, T0 + 2), Some(Transition::Entered));
    let e = transition_event("s1", "u1", false, Transition::Entered, known.seq, T0 + 2);
    assert_eq!(e.message_id, "s1:u1:1:entered");
    assert_eq!(e.event.as_deref(), Some(ENTERED));
    assert_eq!(e.properties["segmentId"], json!("s1"));
    assert_eq!(
        transition_event("s1", "u1", false, Transition::Entered, 1, T0 + 99).message_id,
        e.message_id
    );
    assert_eq!(
        (e.user_id.as_deref(), e.anonymous_id.as_deref()),
        (Some("u1"), None)
    );
    let anon = transition_event("s1", "a1", true, Transition::Exited, 2, T0 + 3);
    assert_eq!(anon.message_id, "s1:a1:2:exited");
    assert_eq!(
        (anon.user_id.as_deref(), anon.anonymous_id.as_deref()),
        (None, Some("a1"))
    );
    assert_eq!(anon.identity(), "a1");
}

#[test]
fn routing_hints() {
    let s = seg(json!({"did": {"event": "Buy"}}));
    assert!(!s.wants_every_event());
    assert!(s.wants(&buy("a", json!({}), T0)));
    assert!(!s.wants(&ev("p", "page", "Home", json!({}), T0)));
    assert!(seg(json!({"lastSeen": {"after": "1d"}})).wants_every_event());
    assert!(seg(json!({"trait": {"name": "plan", "value": "x"}})).reads_traits());
}

#[test]
fn replay_recomputes_from_history_in_any_order() {
    let s = seg(json!({"did": {"event": "Buy", "min": 2, "within": "2d"}}));
    let events = vec![
        buy("b", json!({}), T0 + DAY),
        buy("a", json!({}), T0),
        buy("later", json!({}), T0 + 9 * DAY),
    ];
    assert_eq!(
        replay(&s, &events, None, T0 + DAY),
        (true, Some(T0 + 2 * DAY + 1))
    );
    assert_eq!(
        replay(&s, &events, None, T0 + 2 * DAY + 1),
        (false, Some(T0 + 3 * DAY + 1))
    );
    let sql = history_sql("u1", T0).unwrap();
    assert!(sql.text.contains("LEFT JOIN aliases"), "{}", sql.text);
    assert_eq!(sql.params.len(), 2);
}
