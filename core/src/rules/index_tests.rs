//! The condition index against the definition: on random rule sets and events (values of every
//! JSON type, loose-equality traps such as "1", "", "true", datetime and duration strings), the
//! indexed answers equal evaluating every rule that names the event.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const PATHS: [&str; 5] = [
    "properties.plan",
    "properties.total",
    "traits.tier",
    "context.geo.country",
    "properties.a.b",
];

fn literal() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "pro",
            "free",
            "US",
            "CA",
            "1",
            "0",
            "",
            "true",
            "false",
            "500",
            "-0",
            "1e3",
            "inf",
            "NaN",
            " pro",
            "2024-05-01T00:00:00Z",
            "5m",
            "abc"
        ])
        .prop_map(|s| json!(s)),
        prop::sample::select(vec![0.0, -0.0, 1.0, 1.5, 500.0, -3.0, 1000.0, 499.5])
            .prop_map(|x| json!(x)),
        (-3i64..600).prop_map(|x| json!(x)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => literal(),
        1 => prop::collection::vec(literal(), 0..3).prop_map(Value::Array),
        1 => literal().prop_map(|v| json!({"b": v})),
    ]
}

fn var(path: &str, boxed: bool) -> Value {
    if boxed {
        json!({"var": [path]})
    } else {
        json!({"var": path})
    }
}

fn predicate() -> impl Strategy<Value = Value> {
    let ops = prop::sample::select(vec![
        "==", "===", "!=", ">", ">=", "<", "<=", "in", "in", "==", "==",
    ]);
    (
        ops,
        prop::sample::select(PATHS.to_vec()),
        literal(),
        prop::collection::vec(literal(), 0..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(op, path, lit, list, swap, boxed)| {
            let v = var(path, boxed);
            match op {
                "in" => json!({"in": [v, list]}),
                _ if swap => json!({op: [lit, v]}),
                _ => json!({op: [v, lit]}),
            }
        })
}

fn condition() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        2 => predicate().prop_map(Some),
        4 => prop::collection::vec(predicate(), 1..4).prop_map(|ps| Some(json!({"and": ps}))),
        1 => prop::collection::vec(predicate(), 1..3).prop_map(|ps| Some(json!({"or": ps}))),
        1 => (predicate(), prop::collection::vec(predicate(), 1..3))
            .prop_map(|(p, ps)| Some(json!({"and": [p, {"and": ps}]}))),
    ]
}

fn names() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(vec!["A", "B", "*"]), 1..3)
}

fn matcher(events: Vec<&str>, condition: Option<Value>) -> Value {
    let mut m = json!({"events": events});
    if let Some(c) = condition {
        m["condition"] = c;
    }
    m
}

fn rule() -> impl Strategy<Value = Value> {
    (0..6u8, names(), condition(), names(), condition()).prop_map(|(kind, ev, c, ev2, c2)| {
        let mut r = json!({
            "trigger": matcher(ev, c),
            "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}]
        });
        match kind {
            1 => r["cap"] = json!({"max": 1, "per": "1h"}),
            2 => r["window"] = json!({"count": 2, "within": "2m"}),
            3 => {
                let mut a = matcher(ev2, c2);
                a["within"] = json!("1m");
                r["absence"] = a;
            }
            4 => r["sequence"] = json!({"then": [matcher(ev2, c2)], "within": "2m"}),
            _ => {}
        }
        r
    })
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::sample::select(vec!["A", "B", "C"]),
        prop::collection::vec(prop::option::of(value()), 5),
        0i64..6,
    )
        .prop_map(|(name, vals, minute)| {
            let mut e = json!({"messageId": format!("m-{minute}-{name}"), "type": "track",
                "event": name, "userId": "u", "properties": {}, "traits": {}, "context": {},
                "timestamp": format!("2024-05-01T12:0{minute}:00Z"),
                "receivedAt": "2024-05-01T12:10:00Z"});
            for (path, v) in PATHS.iter().zip(vals) {
                let Some(v) = v else { continue };
                let segs: Vec<&str> = path.split('.').collect();
                let mut at = &mut e;
                for s in &segs[..segs.len() - 1] {
                    if !at[s].is_object() {
                        at[s] = json!({});
                    }
                    at = &mut at[s];
                }
                at[segs[segs.len() - 1]] = v;
            }
            serde_json::from_value(e).unwrap()
        })
}

fn build(rules: Vec<Value>) -> RuleIndex {
    let rules: Vec<Rule> = rules
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r["id"] = json!(format!("r{i}"));
            serde_json::from_value(r).unwrap()
        })
        .collect();
    RuleIndex::build(rules, 1)
}

/// Every rule that names the event, evaluated: the definition the index must agree with.
fn by_name<'a>(index: &'a RuleIndex, key: &'a str) -> impl Iterator<Item = &'a CompiledRule> {
    index
        .rules
        .iter()
        .filter(move |r| r.event_names().any(|n| n == key || n == "*"))
}

fn reference_stateless(index: &RuleIndex, e: &Event, now: i64) -> Vec<Firing> {
    let key = event_key(e);
    let s = Subject::new(e).unwrap();
    by_name(index, &key)
        .filter(|r| !r.is_stateful())
        .flat_map(|r| on_event(index.engine(), r, RuleState::default(), &key, e, &s, now).firings)
        .collect()
}

fn reference_apply(
    index: &RuleIndex,
    states: &mut BTreeMap<String, RuleState>,
    e: &Event,
    now: i64,
) -> Vec<Firing> {
    let key = event_key(e);
    let s = Subject::new(e).unwrap();
    let mut out = Vec::new();
    for r in by_name(index, &key).filter(|r| r.is_stateful()) {
        let state = states.remove(r.id()).unwrap_or_default();
        let step = on_event(index.engine(), r, state, &key, e, &s, now);
        if !step.state.is_empty() {
            states.insert(r.id().to_owned(), step.state);
        }
        out.extend(step.firings);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_condition_index_answers_like_evaluating_every_rule(
        rules in prop::collection::vec(rule(), 1..24),
        events in prop::collection::vec(event(), 1..6),
    ) {
        let index = build(rules);
        let now = 1_714_565_400_000;
        let mut got = BTreeMap::new();
        let mut want = BTreeMap::new();
        for e in &events {
            prop_assert_eq!(index.stateless_firings(e, now), reference_stateless(&index, e, now));
            let routed = index.route(e, now);
            prop_assert_eq!(routed.needs_state, index.needs_state(e));
            // Routing from the ingest request's encoding of the event answers the same.
            let json = serde_json::to_string(e).unwrap();
            let from_text = index.route_encoded(e, Some(&json), now);
            prop_assert_eq!(&from_text.firings, &routed.firings);
            prop_assert_eq!(from_text.needs_state, routed.needs_state);
            let before = want.clone();
            let w = reference_apply(&index, &mut want, e, now);
            if !w.is_empty() || before != want {
                prop_assert!(routed.needs_state, "a stateful rule reacts to {:?}", e);
            }
            let g = index.apply_event(&mut got, e, Facts::default(), now);
            prop_assert_eq!(g, w);
            prop_assert_eq!(&got, &want);
        }
    }
}

#[test]
fn distinct_predicates_meet_one_rule_each() {
    let rules = (0..1_000)
        .map(|i| {
            json!({"trigger": {"events": ["Order"], "condition": {"and": [
                {">=": [{"var": "properties.total"}, i % 7]},
                {"==": [{"var": "properties.sku"}, format!("SKU-{i}")]},
                {"in": [{"var": "context.geo.country"}, ["US", "CA"]]}
            ]}}, "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}]})
        })
        .collect();
    let index = build(rules);
    let e: Event = serde_json::from_value(json!({"messageId": "m", "type": "track",
        "event": "Order", "userId": "u", "properties": {"total": 10, "sku": "SKU-42"},
        "context": {"geo": {"country": "US"}},
        "timestamp": "2024-05-01T12:00:00Z", "receivedAt": "2024-05-01T12:00:00Z"}))
    .unwrap();
    let s = Subject::new(&e).unwrap();
    let buckets = index.buckets("Order").unwrap();
    assert_eq!(
        index.matched(buckets, &s),
        [42],
        "only the rule filed under SKU-42"
    );
    let fired: Vec<String> = index
        .stateless_firings(&e, i64::MAX)
        .into_iter()
        .map(|f| f.rule)
        .collect();
    assert_eq!(fired, ["r42"]);
    // A range-only rule set meets the thresholds the value passes, from a sorted list.
    let ranges = (0..100)
        .map(|i| {
            json!({"trigger": {"events": ["Order"], "condition": {"<": [i, {"var": "properties.total"}]}},
                "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}]})
        })
        .collect();
    let index = build(ranges);
    let buckets = index.buckets("Order").unwrap();
    assert_eq!(index.matched(buckets, &s), (0..10).collect::<Vec<_>>());
}
