use super::*;
use serde_json::json;

fn rule(extra: Value) -> Value {
    let mut base = json!({
        "id": "r1",
        "trigger": {"events": ["Viewed Product"]},
        "actions": [{"type": "webhook", "url": "https://hooks.example/x"}]
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    base
}

fn code(extra: Value) -> (&'static str, String) {
    let e = compile_value(&Engine::new(), rule(extra)).unwrap_err();
    (e.code(), e.at)
}

#[test]
fn a_plain_rule_is_instant_and_stateless() {
    let r = compile_value(&Engine::new(), rule(json!({}))).unwrap();
    assert!(matches!(r.kind, Kind::Instant));
    assert!(!r.is_stateful());
    let capped = compile_value(
        &Engine::new(),
        rule(json!({"cap": {"max": 1, "per": "1d"}})),
    )
    .unwrap();
    assert!(capped.is_stateful(), "a cap needs per-user state");
}

#[test]
fn each_kind_compiles() {
    let e = Engine::new();
    let w = compile_value(&e, rule(json!({"window": {"count": 3, "within": "7d"}}))).unwrap();
    assert!(matches!(w.kind, Kind::Window { count: 3, .. }));
    let a = compile_value(
        &e,
        rule(json!({"absence": {"events": ["Order Completed"], "within": "30m"}})),
    )
    .unwrap();
    assert_eq!(
        a.event_names().collect::<Vec<_>>(),
        ["Viewed Product", "Order Completed"]
    );
    let s = compile_value(
        &e,
        rule(json!({"sequence": {"then": [{"events": ["B"]}, {"events": ["C"], "condition": {"==": [1, 1]}}], "within": "1h"}})),
    )
    .unwrap();
    assert!(matches!(s.kind, Kind::Sequence { ref steps, .. } if steps.len() == 2));
}

#[test]
fn bad_rules_are_refused_with_a_code_and_a_place() {
    let cases = [
        (json!({"id": "Bad Id"}), "invalid_rule_id", "/id"),
        (
            json!({"trigger": {"events": []}}),
            "invalid_events",
            "/trigger/events",
        ),
        (
            json!({"trigger": {"events": ["$click"]}}),
            "invalid_events",
            "/trigger/events/0",
        ),
        (
            json!({"trigger": {"events": ["A"], "condition": {"nope": [1]}}}),
            "invalid_condition",
            "/trigger/condition",
        ),
        (
            json!({"trigger": {"events": ["A"], "condition": {">": [{"var": "price"}, 1]}}}),
            "unknown_variable",
            "/trigger/condition",
        ),
        (
            json!({"window": {"count": 1, "within": "1d"}}),
            "invalid_window",
            "/window/count",
        ),
        (
            json!({"window": {"count": 3, "within": "0s"}}),
            "invalid_duration",
            "/window/within",
        ),
        (
            json!({"window": {"count": 3, "within": "1d"}, "absence": {"events": ["B"], "within": "1h"}}),
            "conflicting_rule_kinds",
            "",
        ),
        (
            json!({"sequence": {"then": [], "within": "1h"}}),
            "invalid_sequence",
            "/sequence/then",
        ),
        (
            json!({"sequence": {"then": [{"events": ["B"], "condition": {"x": 1}}], "within": "1h"}}),
            "invalid_condition",
            "/sequence/then/0/condition",
        ),
        (
            json!({"cap": {"max": 0, "per": "1d"}}),
            "invalid_cap",
            "/cap/max",
        ),
        (json!({"actions": []}), "invalid_actions", "/actions"),
        (
            json!({"actions": [{"type": "webhook", "url": "ftp://x"}]}),
            "invalid_action",
            "/actions/0/url",
        ),
        (
            json!({"actions": [{"type": "message", "title": "", "body": "b"}]}),
            "invalid_action",
            "/actions/0/title",
        ),
        (
            json!({"actions": [{"type": "message", "title": "t", "body": "b", "url": "javascript:alert(1)"}]}),
            "invalid_action",
            "/actions/0/url",
        ),
        (
            json!({"actions": [{"type": "forward", "queue": "lower"}]}),
            "invalid_action",
            "/actions/0/queue",
        ),
    ];
    for (extra, want, at) in cases {
        let shown = extra.to_string();
        assert_eq!(code(extra), (want, at.to_owned()), "{shown}");
    }
}

#[test]
fn shape_errors_say_what_serde_saw() {
    let e = compile_json(
        &Engine::new(),
        r#"{"id":"r","trigger":{"events":["A"]},"actions":[{"type":"sms"}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_rule");
    assert!(e.detail.contains("sms"), "{e}");
    let e = compile_json(&Engine::new(), r#"{"id":"r","trigger":{"events":["A"]},"window":{"count":2,"within":"2 days"},"actions":[]}"#)
        .unwrap_err();
    assert!(e.detail.contains("not a duration"), "{e}");
}

#[test]
fn event_keys_name_message_types() {
    let ev = |v: Value| -> Event { serde_json::from_value(v).unwrap() };
    let base = json!({"messageId": "m", "anonymousId": "a", "timestamp": "2024-01-01T00:00:00Z", "receivedAt": "2024-01-01T00:00:00Z"});
    let mut t = base.clone();
    t["type"] = json!("track");
    t["event"] = json!("Signed Up");
    assert_eq!(event_key(&ev(t)), "Signed Up");
    let mut p = base;
    p["type"] = json!("page");
    assert_eq!(event_key(&ev(p)), "$page");
}
