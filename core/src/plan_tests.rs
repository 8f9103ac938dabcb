use super::*;
use serde_json::json;
use time::macros::datetime;

fn event(kind: MessageType, name: Option<&str>, fields: Value) -> Event {
    let Value::Object(map) = fields else {
        panic!("fields must be an object")
    };
    let (properties, traits) = match kind {
        MessageType::Identify | MessageType::Group => (Object::new(), map),
        _ => (map, Object::new()),
    };
    Event {
        message_id: "m1".into(),
        kind,
        event: name.map(str::to_owned),
        name: None,
        category: None,
        user_id: Some("u1".into()),
        anonymous_id: None,
        group_id: (kind == MessageType::Group).then(|| "g1".to_owned()),
        previous_id: None,
        properties,
        traits,
        context: Object::new(),
        integrations: Object::new(),
        timestamp: datetime!(2024-05-01 12:00 UTC),
        original_timestamp: None,
        sent_at: None,
        received_at: datetime!(2024-05-01 12:00 UTC),
    }
}

fn track(name: &str, properties: Value) -> Event {
    event(MessageType::Track, Some(name), properties)
}

const ORDER: &str = r#"{
  "mode": "flag",
  "events": {
    "Order Completed": {
      "description": "A checkout finished.",
      "properties": {
        "type": "object",
        "required": ["total", "currency"],
        "properties": {
          "total": { "type": "number", "minimum": 0 },
          "currency": { "type": "string", "pattern": "^[A-Z]{3}$" },
          "items": { "type": "array", "items": { "type": "object", "properties": { "price": { "type": "number" } } } }
        }
      }
    },
    "Signed Up": {},
    "Refunded": { "mode": "block", "properties": { "type": "object", "required": ["orderId"] } },
    "Debug": { "mode": "allow", "properties": { "type": "object", "required": ["never"] } }
  },
  "identify": { "traits": { "type": "object", "properties": { "email": { "type": "string", "format": "email" } } } }
}"#;

fn plan() -> CompiledPlan {
    CompiledPlan::from_json(ORDER).unwrap()
}

#[test]
fn valid_events_pass() {
    let p = plan();
    let mut e = track("Order Completed", json!({"total": 12.5, "currency": "EUR"}));
    assert_eq!(p.check(&mut e), Verdict::Pass);
    let mut e = track("Signed Up", json!({"anything": [1, 2]}));
    assert_eq!(
        p.check(&mut e),
        Verdict::Pass,
        "a planned name without a schema"
    );
    let mut e = track("Not Planned", json!({}));
    assert_eq!(
        p.check(&mut e),
        Verdict::Pass,
        "unknown events are allowed by default"
    );
    let mut e = event(MessageType::Page, None, json!({"x": 1}));
    assert_eq!(p.check(&mut e), Verdict::Pass);
}

#[test]
fn flag_mode_lists_violations_by_pointer_and_leaves_the_event_untouched() {
    let p = plan();
    let props = json!({"total": "12", "currency": "eur", "items": [{"price": 1}, {"price": "x"}]});
    let mut e = track("Order Completed", props.clone());
    let before = e.clone();
    let Verdict::Flag { violations, total } = p.check(&mut e) else {
        panic!("expected flag")
    };
    assert_eq!(e, before);
    assert_eq!(total, 3);
    let got: Vec<(&str, &str)> = violations
        .iter()
        .map(|v| (v.pointer.as_str(), v.keyword.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("/properties/currency", "pattern"),
            ("/properties/items/1/price", "type"),
            ("/properties/total", "type"),
        ]
    );
    assert!(
        violations[2].message.contains("number"),
        "{}",
        violations[2].message
    );
}

#[test]
fn missing_required_properties_point_at_the_object() {
    let p = plan();
    let mut e = track("Order Completed", json!({}));
    let Verdict::Flag { violations, .. } = p.check(&mut e) else {
        panic!("expected flag")
    };
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].pointer, "/properties");
    assert_eq!(violations[0].keyword, "required");
    assert!(violations[0].message.contains("total") && violations[0].message.contains("currency"));
}

/// A plan where each of `n` string properties must be a number, and an event breaking all.
fn n_violations(n: usize) -> Verdict {
    let mut props = serde_json::Map::new();
    let mut schema_props = serde_json::Map::new();
    for i in 0..n {
        props.insert(format!("p{i:02}"), json!("text"));
        schema_props.insert(format!("p{i:02}"), json!({"type": "number"}));
    }
    let plan = TrackingPlan {
        events: [(
            "Many".to_owned(),
            EventSpec {
                properties: Some(json!({"properties": schema_props})),
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    };
    CompiledPlan::compile(&plan)
        .unwrap()
        .check(&mut track("Many", Value::Object(props)))
}

#[test]
fn violations_are_capped_at_the_limit_but_counted() {
    let Verdict::Flag { violations, total } = n_violations(limits::MAX_VIOLATIONS) else {
        panic!()
    };
    assert_eq!(
        (violations.len(), total),
        (limits::MAX_VIOLATIONS, limits::MAX_VIOLATIONS)
    );
    let Verdict::Flag { violations, total } = n_violations(limits::MAX_VIOLATIONS + 1) else {
        panic!()
    };
    assert_eq!(
        (violations.len(), total),
        (limits::MAX_VIOLATIONS, limits::MAX_VIOLATIONS + 1)
    );
    assert_eq!(violations[0].pointer, "/properties/p00");
}

#[test]
fn block_mode_rejects_naming_the_pointer() {
    let p = plan();
    let mut e = track("Refunded", json!({"amount": 3}));
    match p.check(&mut e) {
        Verdict::Reject(reason, detail) => {
            assert_eq!(reason.code(), "plan_violation");
            assert!(detail.contains("`/properties`"), "{detail}");
            assert!(detail.contains("orderId"), "{detail}");
        }
        other => panic!("expected reject, got {other:?}"),
    }
    let mut ok = track("Refunded", json!({"orderId": "o1"}));
    assert_eq!(p.check(&mut ok), Verdict::Pass);
}

#[test]
fn block_detail_counts_the_rest() {
    let json = ORDER.replace(r#""mode": "flag""#, r#""mode": "block""#);
    let p = CompiledPlan::from_json(&json).unwrap();
    let mut e = track("Order Completed", json!({"total": "1", "currency": 5}));
    let Verdict::Reject(Reason::PlanViolation, detail) = p.check(&mut e) else {
        panic!()
    };
    assert!(
        detail.starts_with("`/properties/currency` breaks `type`"),
        "{detail}"
    );
    assert!(detail.ends_with("(and 1 more)"), "{detail}");
}

#[test]
fn allow_mode_skips_validation() {
    let p = plan();
    let mut e = track("Debug", json!({}));
    assert_eq!(p.check(&mut e), Verdict::Pass);
}

#[test]
fn unknown_events_can_be_blocked() {
    let json = ORDER.replacen(
        r#""mode": "flag","#,
        r#""mode": "flag", "unknownEvents": "block","#,
        1,
    );
    let p = CompiledPlan::from_json(&json).unwrap();
    let mut e = track("Mystery", json!({}));
    let Verdict::Reject(reason, detail) = p.check(&mut e) else {
        panic!("expected reject")
    };
    assert_eq!(reason, Reason::UnknownEvent);
    assert!(detail.contains("\"Mystery\""), "{detail}");
    // Identify calls are not "events" in this sense and are still judged by their schema.
    let mut id = event(MessageType::Identify, None, json!({"email": "a@b.example"}));
    assert_eq!(p.check(&mut id), Verdict::Pass);
}

#[test]
fn formats_are_asserted_on_traits() {
    let p = plan();
    let mut e = event(
        MessageType::Identify,
        None,
        json!({"email": "not an email"}),
    );
    let Verdict::Flag { violations, .. } = p.check(&mut e) else {
        panic!("expected flag")
    };
    assert_eq!(violations[0].pointer, "/traits/email");
    assert_eq!(violations[0].keyword, "format");
    let mut g = event(MessageType::Group, None, json!({"email": 1}));
    assert_eq!(p.check(&mut g), Verdict::Pass, "no group schema");
}

#[test]
fn record_violations_writes_context_spur() {
    let mut e = track("x", json!({}));
    e.context.insert("spur".into(), json!("forged"));
    let v = Violation {
        pointer: "/properties/a".into(),
        keyword: "type".into(),
        message: "m".into(),
    };
    record_violations(&mut e, &[v], 3);
    assert_eq!(
        e.context["spur"],
        json!({"violations": [{"pointer": "/properties/a", "keyword": "type", "message": "m"}], "violationCount": 3})
    );
}

#[test]
fn load_errors_are_clear() {
    let bad_type = r#"{"events": {"Order Completed": {"properties": {"type": "strnig"}}}}"#;
    let err = CompiledPlan::from_json(bad_type).unwrap_err();
    assert_eq!(err.code(), "invalid_schema");
    let text = err.to_string();
    assert!(text.contains("events/Order Completed/properties"), "{text}");

    let unknown_field = r#"{"events": {}, "unknownEvent": "block"}"#;
    let err = CompiledPlan::from_json(unknown_field).unwrap_err();
    assert_eq!(err.code(), "invalid_config");
    assert!(
        err.to_string().contains("unknown field `unknownEvent`"),
        "{err}"
    );

    let bad_mode = r#"{"mode": "strict"}"#;
    let err = CompiledPlan::from_json(bad_mode).unwrap_err();
    assert!(err.to_string().contains("allow"), "{err}");

    let spec_field = r#"{"events": {"A": {"schema": {}}}}"#;
    let err = CompiledPlan::from_json(spec_field).unwrap_err();
    assert!(err.to_string().contains("unknown field `schema`"), "{err}");
}

#[test]
fn remote_refs_are_refused_at_compile_time() {
    for r in ["file:///etc/passwd", "https://example.com/schema.json"] {
        let json = format!(r#"{{"events": {{"A": {{"properties": {{"$ref": "{r}"}}}}}}}}"#);
        let err = CompiledPlan::from_json(&json).unwrap_err();
        assert_eq!(err.code(), "invalid_schema", "{r}: {err}");
    }
    // Local refs work.
    let local = r##"{"events": {"A": {"properties": {"$defs": {"n": {"type": "number"}}, "properties": {"x": {"$ref": "#/$defs/n"}}}}}}"##;
    let p = CompiledPlan::from_json(local).unwrap();
    let mut e = track("A", json!({"x": "no"}));
    let Verdict::Flag { violations, .. } = p.check(&mut e) else {
        panic!("expected flag")
    };
    assert_eq!(violations[0].pointer, "/properties/x");
}

#[test]
fn draft_07_schemas_work_when_declared() {
    let json = r#"{"events": {"A": {"properties": {"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"x": {"type": "integer"}}}}}}"#;
    let p = CompiledPlan::from_json(json).unwrap();
    let mut e = track("A", json!({"x": 1.5}));
    assert!(matches!(p.check(&mut e), Verdict::Flag { .. }));
}
