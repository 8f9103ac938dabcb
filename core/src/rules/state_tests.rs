use super::*;
use crate::rules::compile::{compile_value, event_key};
use serde_json::{json, Value};

const MIN: i64 = 60_000;
const T0: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z

fn ev(name: &str, at: i64, props: Value) -> Event {
    let ts = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000).unwrap();
    Event {
        message_id: format!("{name}@{at}"),
        kind: crate::MessageType::Track,
        event: Some(name.into()),
        name: None,
        category: None,
        user_id: Some("u1".into()),
        anonymous_id: None,
        group_id: None,
        previous_id: None,
        properties: props.as_object().cloned().unwrap_or_default(),
        traits: Default::default(),
        context: Default::default(),
        integrations: Default::default(),
        timestamp: ts,
        original_timestamp: None,
        sent_at: None,
        received_at: ts,
    }
}

struct Run {
    engine: Engine,
    rule: CompiledRule,
    state: RuleState,
    fired: Vec<Firing>,
}

impl Run {
    fn new(rule: Value) -> Self {
        let engine = Engine::new();
        let rule = compile_value(&engine, rule).unwrap();
        Run {
            engine,
            rule,
            state: RuleState::default(),
            fired: Vec::new(),
        }
    }
    fn send(&mut self, e: Event) -> usize {
        let subject = Subject::new(&e).unwrap();
        let at = event_time(&e, i64::MAX);
        let step = on_event(
            &self.engine,
            &self.rule,
            std::mem::take(&mut self.state),
            &event_key(&e),
            &e,
            &subject,
            at,
        );
        self.state = step.state;
        let n = step.firings.len();
        self.fired.extend(step.firings);
        n
    }
    fn tick(&mut self, now: i64) -> usize {
        let step = on_time(&self.rule, std::mem::take(&mut self.state), now);
        self.state = step.state;
        let n = step.firings.len();
        self.fired.extend(step.firings);
        n
    }
    fn live(&self) -> usize {
        self.fired.iter().filter(|f| !f.capped).count()
    }
}

fn base(extra: Value) -> Value {
    let mut r = json!({"id": "r", "trigger": {"events": ["View"]}, "actions": [{"type": "message", "title": "t", "body": "b"}]});
    if let (Value::Object(b), Value::Object(e)) = (&mut r, extra) {
        b.extend(e);
    }
    r
}

#[test]
fn instant_rule_checks_the_condition() {
    let mut r = Run::new(base(
        json!({"trigger": {"events": ["View"], "condition": {">=": [{"var": "properties.price"}, 50]}}}),
    ));
    assert_eq!(r.send(ev("View", T0, json!({"price": 20}))), 0);
    assert_eq!(r.send(ev("Other", T0, json!({"price": 90}))), 0);
    assert_eq!(r.send(ev("View", T0, json!({"price": 90}))), 1);
    assert_eq!(r.fired[0].events, ["View@1714564800000"]);
    assert!(r.state.is_empty());
}

#[test]
fn three_in_the_window_fire_once_two_do_not() {
    let mut r = Run::new(base(json!({"window": {"count": 3, "within": "10m"}})));
    r.send(ev("View", T0, json!({})));
    r.send(ev("View", T0 + MIN, json!({})));
    assert_eq!(r.live(), 0, "two views are not enough");
    assert_eq!(r.state.hits.len(), 2);
    r.send(ev("View", T0 + 2 * MIN, json!({})));
    assert_eq!(r.live(), 1);
    assert!(
        r.state.hits.is_empty(),
        "the window starts over after firing"
    );
    r.send(ev("View", T0 + 3 * MIN, json!({})));
    assert_eq!(r.live(), 1, "a fourth view does not fire again");
}

#[test]
fn window_forgets_hits_older_than_the_window() {
    let mut r = Run::new(base(json!({"window": {"count": 3, "within": "10m"}})));
    r.send(ev("View", T0, json!({})));
    r.send(ev("View", T0 + MIN, json!({})));
    r.send(ev("View", T0 + 10 * MIN + 1_000, json!({})));
    assert_eq!(r.live(), 0, "the first view fell out of the window");
    assert_eq!(r.state.hits.len(), 2);
    r.send(ev("View", T0 + 10 * MIN + 2_000, json!({})));
    assert_eq!(r.live(), 1);
}

#[test]
fn absence_fires_at_the_deadline_unless_cancelled() {
    let rule = base(json!({"trigger": {"events": ["Added to Cart"]},
        "absence": {"events": ["Order Completed"], "within": "30m"}}));
    let mut r = Run::new(rule.clone());
    r.send(ev("Added to Cart", T0, json!({})));
    assert_eq!(r.state.deadline, Some(T0 + 30 * MIN));
    assert_eq!(r.tick(T0 + 29 * MIN), 0);
    assert_eq!(r.tick(T0 + 30 * MIN), 1);
    assert_eq!(r.fired[0].at, T0 + 30 * MIN);
    assert!(
        r.fired[0].event.is_some(),
        "the trigger event goes with the firing"
    );
    assert!(r.state.is_empty());

    let mut r = Run::new(rule.clone());
    r.send(ev("Added to Cart", T0, json!({})));
    r.send(ev("Order Completed", T0 + 10 * MIN, json!({})));
    assert_eq!(r.tick(T0 + 60 * MIN), 0, "cancelled in time");

    // A late cancel (after the deadline) does not cancel: the overdue deadline fires first.
    let mut r = Run::new(rule.clone());
    r.send(ev("Added to Cart", T0, json!({})));
    assert_eq!(r.send(ev("Order Completed", T0 + 31 * MIN, json!({}))), 1);

    // The latest trigger restarts the wait.
    let mut r = Run::new(rule);
    r.send(ev("Added to Cart", T0, json!({})));
    r.send(ev("Added to Cart", T0 + 20 * MIN, json!({})));
    assert_eq!(r.tick(T0 + 30 * MIN), 0);
    assert_eq!(r.tick(T0 + 50 * MIN), 1);
}

#[test]
fn absence_cancel_honours_its_condition() {
    let mut r = Run::new(base(json!({"trigger": {"events": ["Signed Up"]},
        "absence": {"events": ["Plan Chosen"], "condition": {"==": [{"var": "properties.plan"}, "pro"]}, "within": "1h"}})));
    r.send(ev("Signed Up", T0, json!({})));
    r.send(ev("Plan Chosen", T0 + MIN, json!({"plan": "free"})));
    assert_eq!(r.tick(T0 + 61 * MIN), 1, "a free plan does not cancel");
}

#[test]
fn sequence_fires_in_order_within_the_span() {
    let rule = base(json!({"trigger": {"events": ["A"]},
        "sequence": {"then": [{"events": ["B"]}, {"events": ["C"]}], "within": "1h"}}));
    let mut r = Run::new(rule.clone());
    r.send(ev("A", T0, json!({})));
    r.send(ev("C", T0 + MIN, json!({})));
    r.send(ev("B", T0 + 2 * MIN, json!({})));
    assert_eq!(r.live(), 0);
    r.send(ev("C", T0 + 3 * MIN, json!({})));
    assert_eq!(r.live(), 1);
    assert_eq!(r.fired[0].events.len(), 3);

    let mut r = Run::new(rule.clone());
    r.send(ev("A", T0, json!({})));
    r.send(ev("B", T0 + 30 * MIN, json!({})));
    r.send(ev("C", T0 + 61 * MIN, json!({})));
    assert_eq!(r.live(), 0, "too slow");

    // A later A restarts a sequence that has not passed its first step.
    let mut r = Run::new(rule);
    r.send(ev("A", T0, json!({})));
    r.send(ev("A", T0 + 50 * MIN, json!({})));
    r.send(ev("B", T0 + 70 * MIN, json!({})));
    r.send(ev("C", T0 + 80 * MIN, json!({})));
    assert_eq!(r.live(), 1);
}

#[test]
fn the_cap_holds_and_releases() {
    let mut r = Run::new(base(json!({"cap": {"max": 2, "per": "1h"}})));
    for i in 0..5 {
        r.send(ev("View", T0 + i * MIN, json!({})));
    }
    assert_eq!(r.fired.len(), 5);
    assert_eq!(r.live(), 2);
    assert!(r.fired[2].capped && r.fired[4].capped);
    assert!(r.state.fired.len() <= 2);
    r.send(ev("View", T0 + 61 * MIN, json!({})));
    assert_eq!(r.live(), 3, "a new hour, a new allowance");
}

#[test]
fn state_round_trips_compactly() {
    let mut r = Run::new(base(json!({"window": {"count": 3, "within": "1d"}})));
    r.send(ev("View", T0, json!({})));
    let text = serde_json::to_string(&r.state).unwrap();
    assert_eq!(
        text,
        r#"{"hits":[{"at":1714564800000,"id":"View@1714564800000"}]}"#
    );
    let back: RuleState = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r.state);
    assert_eq!(serde_json::to_string(&RuleState::default()).unwrap(), "{}");
}
