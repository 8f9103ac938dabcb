use super::*;
use crate::rules::compile::compile_value;
use serde_json::{json, Value};

const T0: i64 = 1_714_564_800_000;
const MIN: i64 = 60_000;

fn ev(user: &str, name: &str, at: i64, props: Value) -> Event {
    let ts = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000).unwrap();
    serde_json::from_value(json!({
        "messageId": format!("{user}-{name}-{at}"), "type": "track", "event": name, "userId": user,
        "properties": props, "timestamp": ts.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "receivedAt": "2024-05-01T12:00:00Z"
    }))
    .unwrap()
}

fn compiled(v: Value) -> (Engine, CompiledRule) {
    let engine = Engine::new();
    let r = compile_value(&engine, v).unwrap();
    (engine, r)
}

#[test]
fn dry_run_lists_who_fires_and_who_is_pending() {
    let (engine, rule) = compiled(json!({"id": "cart", "trigger": {"events": ["Added"]},
        "absence": {"events": ["Paid"], "within": "30m"}, "actions": [{"type": "webhook", "url": "http://h.test/"}]}));
    let events = vec![
        ev("a", "Added", T0, json!({})),
        ev("b", "Added", T0 + MIN, json!({})),
        ev("b", "Paid", T0 + 5 * MIN, json!({})),
        ev("c", "Viewed", T0 + 6 * MIN, json!({})),
        ev("d", "Added", T0 + 50 * MIN, json!({})),
    ];
    let r = dry_run(&engine, &rule, &events, T0 + 60 * MIN);
    assert_eq!(r.events, 4);
    assert_eq!(r.users, 3);
    assert_eq!(r.firings.len(), 1);
    assert_eq!(r.firings[0].user, "a");
    assert_eq!(r.firings[0].at, instant(T0 + 30 * MIN));
    assert_eq!(r.pending.len(), 1);
    assert_eq!(r.pending[0].user, "d");
}

#[test]
fn explain_names_the_failed_condition() {
    let (engine, rule) = compiled(json!({"id": "big", "trigger": {"events": ["Viewed"],
        "condition": {"and": [{"==": [{"var": "properties.category"}, "shoes"]}, {">=": [{"var": "properties.price"}, 50]}]}},
        "actions": [{"type": "webhook", "url": "http://h.test/"}]}));
    let events = vec![
        ev("u", "Viewed", T0, json!({"category": "shoes", "price": 20})),
        ev("u", "Vieved", T0 + MIN, json!({})),
    ];
    let x = explain(&engine, &rule, &events, T0 + 2 * MIN);
    assert_eq!(x.verdict, "not_fired");
    assert!(x.summary.contains("condition failed"), "{}", x.summary);
    let c = &x.events[0].conditions["trigger"];
    assert_eq!(c.failed.len(), 1);
    assert_eq!(c.failed[0].values["properties.price"], json!(20));
    assert!(
        x.events[0].effect.contains("trigger condition failed"),
        "{}",
        x.events[0].effect
    );
    assert_eq!(x.other_events["Vieved"], 1, "the misspelt event is listed");
}

#[test]
fn explain_narrates_windows_absence_and_caps() {
    let (engine, rule) = compiled(
        json!({"id": "w", "trigger": {"events": ["V"]}, "window": {"count": 3, "within": "1h"},
        "actions": [{"type": "webhook", "url": "http://h.test/"}]}),
    );
    let two = vec![
        ev("u", "V", T0, json!({})),
        ev("u", "V", T0 + MIN, json!({})),
    ];
    let x = explain(&engine, &rule, &two, T0 + 2 * MIN);
    assert_eq!(x.verdict, "not_fired");
    assert_eq!(x.events[1].effect, "counted: 2 of 3 within 1h");
    assert!(x.summary.contains("never 3 within 1h"), "{}", x.summary);

    let (engine, rule) = compiled(json!({"id": "a", "trigger": {"events": ["Added"]},
        "absence": {"events": ["Paid"], "within": "30m"}, "actions": [{"type": "webhook", "url": "http://h.test/"}]}));
    let x = explain(
        &engine,
        &rule,
        &[
            ev("u", "Added", T0, json!({})),
            ev("u", "Paid", T0 + MIN, json!({})),
        ],
        T0 + 90 * MIN,
    );
    assert_eq!(x.events[1].effect, "cancelled the pending firing");
    assert!(x.summary.contains("cancelled in time"), "{}", x.summary);
    let x = explain(&engine, &rule, &[ev("u", "Added", T0, json!({}))], T0 + MIN);
    assert_eq!(x.verdict, "pending");

    let (engine, rule) = compiled(
        json!({"id": "c", "trigger": {"events": ["V"]}, "cap": {"max": 1, "per": "1d"},
        "actions": [{"type": "webhook", "url": "http://h.test/"}]}),
    );
    let x = explain(
        &engine,
        &rule,
        &[
            ev("u", "V", T0, json!({})),
            ev("u", "V", T0 + MIN, json!({})),
        ],
        T0 + 2 * MIN,
    );
    assert_eq!(x.verdict, "fired");
    assert!(
        x.events[1].effect.contains("cap (1 per 1d)"),
        "{}",
        x.events[1].effect
    );
}

#[test]
fn lookback_covers_twice_the_window_and_the_cap_at_least_a_week() {
    let hook = json!([{"type": "webhook", "url": "https://hooks.example.com/a"}]);
    let instant = compiled(json!({"id": "i", "trigger": {"events": ["A"]}, "actions": hook})).1;
    assert_eq!(lookback(&instant), DEFAULT_LOOKBACK_MS);
    let long = compiled(json!({"id": "w", "trigger": {"events": ["A"]},
        "window": {"count": 2, "within": "30d"}, "actions": hook}))
    .1;
    assert_eq!(lookback(&long), 60 * 86_400_000);
    let capped = compiled(json!({"id": "c", "trigger": {"events": ["A"]},
        "window": {"count": 2, "within": "1h"}, "cap": {"max": 1, "per": "10d"}, "actions": hook}))
    .1;
    assert_eq!(lookback(&capped), 10 * 86_400_000);
}
