//! Property tests over random acyclic journeys and random event/time sequences.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::tests::{ev, index_of, meet, wake, MIN, T0};
use super::*;

/// A random journey: node i's first edge goes to i+1 (so every node is reachable), others to
/// any later node; the last node exits.
fn journey(kinds: &[(u8, u8, u8)], goal: bool, holdout: u8) -> Value {
    let n = kinds.len() + 1;
    let id = |i: usize| format!("n{i}");
    let later = |i: usize, r: u8| id(i + 1 + usize::from(r) % (n - i - 1).max(1));
    let mut nodes: Vec<Value> = kinds
        .iter()
        .enumerate()
        .map(|(i, (k, r, d))| {
            let mins = format!("{}m", 1 + d % 20);
            match k % 5 {
                0 => json!({"id": id(i), "type": "delay", "for": mins, "next": id(i + 1)}),
                1 => json!({"id": id(i), "type": "wait_until", "events": ["B"], "timeout": mins,
                            "next": id(i + 1), "onTimeout": later(i, *r)}),
                2 => json!({"id": id(i), "type": "branch", "branches": [
                        {"condition": {">": [{"var": "event.properties.x"}, 5]}, "next": id(i + 1)}],
                        "else": later(i, *r)}),
                3 => json!({"id": id(i), "type": "split", "paths": [
                        {"percent": 50, "next": id(i + 1)}, {"percent": 50, "next": later(i, *r)}]}),
                _ => json!({"id": id(i), "type": "action",
                            "action": {"type": "webhook", "url": "https://h.example.com/x"}, "next": id(i + 1)}),
            }
        })
        .collect();
    nodes.push(json!({"id": id(n - 1), "type": "exit"}));
    let mut doc = json!({"id": "j", "trigger": {"type": "event", "events": ["A"]},
                         "start": "n0", "nodes": nodes, "holdout": holdout});
    if goal {
        doc["goal"] = json!({"events": ["C"], "within": "1h"});
    }
    doc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn runs_are_never_lost_never_repeat_a_node_and_always_end_in_bounds(
        kinds in prop::collection::vec((0u8..5, any::<u8>(), any::<u8>()), 1..8),
        goal in any::<bool>(),
        holdout in prop::sample::select(vec![0u8, 50, 100]),
        inputs in prop::collection::vec((0u8..4, 0i64..30, 0u8..10), 0..40),
    ) {
        let index = index_of(vec![journey(&kinds, goal, holdout)]);
        let span = index.get("j").unwrap().max_span_ms;
        let mut p = PersonJourneys::default();
        let mut now = T0;
        let mut outs = Vec::new();
        for (what, step, x) in inputs {
            now += step * MIN / 3;
            let out = match what {
                0 => meet(&index, &mut p, &ev("A", now, json!({"x": x})), now),
                1 => meet(&index, &mut p, &ev("B", now, json!({"x": x})), now),
                2 => meet(&index, &mut p, &ev("C", now, json!({})), now),
                _ => wake(&index, &mut p, now),
            };
            outs.push(out);
        }
        outs.push(wake(&index, &mut p, now + span + 1));
        // Every run ended, and within its bound.
        prop_assert!(p.runs.is_empty());
        let entered = outs.iter().flat_map(|o| &o.ticks).filter(|t| t.what == "entered").count();
        let exited = outs.iter().flat_map(|o| &o.ticks).filter(|t| t.what == "exited").count();
        prop_assert_eq!(entered, exited, "no run lost");
        let h = p.history.get("j");
        prop_assert_eq!(h.map_or(0, |h| h.entries), u64::try_from(entered).unwrap());
        for run in h.map(|h| h.ended.as_slice()).unwrap_or_default() {
            let end = run.ended.as_ref().unwrap();
            prop_assert!(end.at <= run.entered_at + span, "{:?} after {}", end, span);
            let unique: HashSet<&String> = run.done.iter().collect();
            prop_assert_eq!(unique.len(), run.done.len(), "a node ran twice");
        }
        // Idempotency keys never repeat; holdout runs send nothing.
        let keys: Vec<&String> = outs.iter().flat_map(|o| &o.effects).map(|e| &e.key).collect();
        let unique: HashSet<&&String> = keys.iter().collect();
        prop_assert_eq!(unique.len(), keys.len());
        if holdout == 100 {
            prop_assert!(keys.is_empty());
        }
    }
}

#[test]
fn sticky_splits_follow_their_percentages_within_binomial_bounds() {
    let doc = json!({"id": "ab", "trigger": {"type": "api"}, "start": "s",
        "nodes": [
            {"id": "s", "type": "split", "paths": [{"percent": 20, "next": "a"}, {"percent": 80, "next": "b"}]},
            {"id": "a", "type": "exit"}, {"id": "b", "type": "exit"}]});
    let index = index_of(vec![doc]);
    let n = 10_000;
    let mut to_a = 0;
    for i in 0..n {
        let user = format!("user-{i}");
        let mut p = PersonJourneys::default();
        enter(
            &index,
            &mut p,
            &user,
            "ab",
            Value::Null,
            Value::Null,
            Facts::default(),
            T0,
        )
        .unwrap();
        let first = p.history["ab"].ended[0].path[1].node.clone();
        // Sticky: the same person takes the same path again.
        let mut again = PersonJourneys::default();
        enter(
            &index,
            &mut again,
            &user,
            "ab",
            Value::Null,
            Value::Null,
            Facts::default(),
            T0 + 1,
        )
        .unwrap();
        assert_eq!(again.history["ab"].ended[0].path[1].node, first);
        if first == "a" {
            to_a += 1;
        }
    }
    // Expected 2,000; σ = sqrt(n·p·(1−p)) = 40; allow 4σ.
    assert!(
        (1_840..=2_160).contains(&to_a),
        "{to_a} of {n} took the 20% path"
    );
}

#[test]
fn holdout_share_is_within_binomial_bounds() {
    let mut doc = super::tests::cart(10);
    doc["entry"] = json!({"policy": "after_exit"});
    let index = index_of(vec![doc]);
    let n = 10_000;
    let held = (0..n)
        .filter(|i| {
            let mut p = PersonJourneys::default();
            enter(
                &index,
                &mut p,
                &format!("p{i}"),
                "cart",
                Value::Null,
                Value::Null,
                Facts::default(),
                T0,
            )
            .unwrap();
            p.runs["cart"][0].holdout
        })
        .count();
    // Expected 1,000; σ = 30; allow 4σ.
    assert!((880..=1_120).contains(&held), "{held}");
}
