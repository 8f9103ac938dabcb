//! Condition compilation, evaluation, indexable parts and explain.

use super::*;
use serde_json::json;

fn event() -> Event {
    serde_json::from_value(json!({
        "messageId": "m1", "type": "track", "event": "Viewed Product", "userId": "u1",
        "properties": {"category": "shoes", "price": 20, "tags": ["sale"]},
        "context": {"geo": {"country": "US"}}, "traits": {"plan": "pro"},
        "timestamp": "2024-05-01T12:00:00Z", "receivedAt": "2024-05-01T12:00:00Z"
    }))
    .unwrap()
}

#[test]
fn compiles_once_and_evaluates() {
    let engine = Engine::new();
    let subject = Subject::new(&event()).unwrap();
    let yes = json!({"and": [{"==": [{"var": "properties.category"}, "shoes"]},
                              {"in": [{"var": "context.geo.country"}, ["US", "CA"]]}]});
    let no = json!({">=": [{"var": "properties.price"}, 50]});
    let iter = json!({"some": [{"var": "properties.tags"}, {"==": [{"var": ""}, "sale"]}]});
    for (c, want) in [(yes, true), (no, false), (iter, true), (json!(true), true)] {
        let compiled = Condition::compile(&engine, &c, "/trigger/condition").unwrap();
        assert_eq!(compiled.eval(&engine, &subject), want, "{c}");
        assert_eq!(compiled.eval(&engine, &subject), want, "second eval of {c}");
    }
}

#[test]
fn refuses_bad_conditions_with_clear_codes() {
    let engine = Engine::new();
    let cases = [
        (json!({"frobnicate": [1, 2]}), "invalid_condition"),
        (json!("properties.x"), "invalid_condition"),
        (json!(42), "invalid_condition"),
        (json!({"==": [{"var": "price"}, 1]}), "unknown_variable"),
        (
            json!({"==": [{"var": ["plan", "free"]}, 1]}),
            "unknown_variable",
        ),
        (
            json!({"in": ["x", "y".repeat(MAX_CONDITION_BYTES)]}),
            "condition_too_large",
        ),
    ];
    for (c, code) in cases {
        let e = Condition::compile(&engine, &c, "/trigger/condition").unwrap_err();
        assert_eq!(e.code(), code, "{c}: {e}");
        assert_eq!(e.at, "/trigger/condition");
    }
    let e = Condition::compile(&engine, &json!({"==": [{"var": "price"}, 1]}), "/x").unwrap_err();
    assert!(e.detail.contains("properties.price"), "{e}");
}

#[test]
fn knows_which_conditions_read_profile_traits() {
    let yes = [
        json!({"==": [{"var": "traits.plan"}, "pro"]}),
        json!({"and": [{"==": [{"var": "event"}, "A"]}, {"!": {"var": ["traits"]}}]}),
        json!({"some": [{"var": "traits.tags"}, {"==": [{"var": ""}, "x"]}]}),
        json!({"==": [{"var": ""}, 1]}),
        json!({"==": [{"var": [{"cat": ["tra", "its.plan"]}]}, 1]}),
    ];
    let no = [
        json!({"==": [{"var": "properties.plan"}, "pro"]}),
        json!({"some": [{"var": "properties.tags"}, {"==": [{"var": "traits"}, "x"]}]}),
        json!({"==": [{"var": "context.traits.plan"}, "pro"]}),
        json!(true),
    ];
    for c in yes {
        assert!(reads_profile(&c), "{c}");
    }
    for c in no {
        assert!(!reads_profile(&c), "{c}");
    }
}

#[test]
fn event_traits_win_over_profile_traits_key_by_key() {
    let engine = Engine::new();
    let mut profile = Map::new();
    profile.insert("plan".into(), json!("free"));
    profile.insert("seats".into(), json!(5));
    // The event carries plan = pro: it wins; seats shows through from the profile.
    let subject = Subject::new(&event()).unwrap().with_profile(&profile);
    let plan = json!({"==": [{"var": "traits.plan"}, "pro"]});
    let seats = json!({"==": [{"var": "traits.seats"}, 5]});
    for c in [plan, seats] {
        let compiled = Condition::compile(&engine, &c, "/c").unwrap();
        assert!(compiled.eval(&engine, &subject), "{c}");
    }
    // An event without traits sees the profile's.
    let mut bare = event();
    bare.traits = Map::new();
    let subject = Subject::new(&bare).unwrap().with_profile(&profile);
    let free = Condition::compile(
        &engine,
        &json!({"==": [{"var": "traits.plan"}, "free"]}),
        "/c",
    );
    assert!(free.unwrap().eval(&engine, &subject));
    // An empty profile changes nothing.
    let subject = Subject::new(&bare).unwrap().with_profile(&Map::new());
    let none = Condition::compile(
        &engine,
        &json!({"==": [{"var": "traits.plan"}, null]}),
        "/c",
    );
    assert!(none.unwrap().eval(&engine, &subject));
}

#[test]
fn explain_names_the_failing_clause_and_its_values() {
    let engine = Engine::new();
    let ev = serde_json::to_value(event()).unwrap();
    let c = json!({"and": [{"==": [{"var": "properties.category"}, "shoes"]},
                           {">=": [{"var": "properties.price"}, 50]}]});
    let r = explain(&engine, &c, &ev);
    assert!(!r.passed);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(
        r.failed[0].condition,
        json!({">=": [{"var": "properties.price"}, 50]})
    );
    assert_eq!(r.failed[0].values["properties.price"], json!(20));
    let ok = explain(
        &engine,
        &json!({"==": [{"var": "traits.plan"}, "pro"]}),
        &ev,
    );
    assert!(ok.passed && ok.failed.is_empty());
    let missing = explain(
        &engine,
        &json!({"==": [{"var": "properties.nope"}, 1]}),
        &ev,
    );
    assert_eq!(missing.failed[0].values["properties.nope"], Value::Null);
}

#[test]
fn segment_membership_compiles_and_reads_true_only_for_members() {
    let engine = Engine::new();
    let vip = json!({"var": "segments.vip"});
    let c = Condition::compile(&engine, &vip, "/trigger/condition").unwrap();
    assert_eq!(c.segments(), vec!["vip".to_owned()]);
    assert!(!c.reads_profile());
    let plain = Subject::new(&event()).unwrap();
    assert!(
        !c.eval(&engine, &plain),
        "no membership known: not a member"
    );
    let member = |m: bool| {
        let mut map = Map::new();
        map.insert("vip".into(), Value::Bool(m));
        Subject::new(&event()).unwrap().with_segments(map)
    };
    assert!(c.eval(&engine, &member(true)));
    assert!(!c.eval(&engine, &member(false)));
    let not = json!({"and": [{"!": {"var": "segments.vip"}}, {"var": ["segments.gold", false]},
                             {"==": [{"var": "properties.category"}, "shoes"]}]});
    let n = Condition::compile(&engine, &not, "/trigger/condition").unwrap();
    assert_eq!(n.segments(), vec!["gold".to_owned(), "vip".to_owned()]);
    assert!(!n.eval(&engine, &member(true)));
}

#[test]
fn segment_paths_must_name_one_segment_and_stay_out_of_journey_branches() {
    let engine = Engine::new();
    for bad in ["segments", "segments.", "segments.vip.since"] {
        let c = json!({"var": bad});
        let e = Condition::compile(&engine, &c, "/trigger/condition").unwrap_err();
        assert_eq!(e.kind, RuleErrorKind::InvalidCondition, "{bad}");
        assert!(e.detail.contains("segments.<id>"), "{}", e.detail);
    }
    // Computed paths and element-relative vars inside iterators do not read membership.
    let iter = json!({"some": [{"var": "properties.tags"}, {"var": "segments.x"}]});
    let c = Condition::compile(&engine, &iter, "").unwrap();
    assert!(c.segments().is_empty());
    // Journey branches read membership too.
    let c = Condition::compile_scoped(
        &engine,
        &json!({"var": "segments.vip"}),
        "/nodes/0",
        &["trigger", "event", "traits", "vars", ""],
    )
    .unwrap();
    assert_eq!(c.segments(), ["vip".to_owned()]);
}

#[test]
fn one_walk_finds_every_read_of_the_subject_and_none_of_an_iterators_items() {
    let c = json!({"and": [
        {"==": [{"var": "properties.plan"}, "pro"]},
        {"some": [{"var": "traits.tags"}, {"==": [{"var": "item_only"}, "x"]}]},
        {"==": [{"val": ["segments.vip", {"var": "context.page.path"}]}, true]},
        {"==": [{"var": [{"cat": ["a", "b"]}]}, 1]},
        {"!": {"var": []}},
        {"==": [{"var": [7]}, 1]}
    ]});
    let mut seen = Vec::new();
    visit_reads(&c, &mut |r| {
        seen.push(match r {
            Read::Path { op, path } => format!("{op}:{path}"),
            Read::Computed => "computed".to_owned(),
        })
    });
    assert_eq!(
        seen,
        [
            "var:properties.plan",
            "var:traits.tags",
            "val:segments.vip",
            "var:context.page.path",
            "computed",
            "var:"
        ]
    );
    let mut ids = Vec::new();
    segment_ids(&c, &mut ids);
    assert_eq!(ids, ["vip"]);
}
