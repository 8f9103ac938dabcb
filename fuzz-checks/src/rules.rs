//! Tracking-plan and rule compilation, and what a compiled plan or rule then does to events.
//!
//! Invariant checked: any document either compiles or is refused with an error; a compiled
//! plan judges events without panicking and leaves them as they were; a compiled rule runs
//! through the index, the per-user state machine, dry-run, explain and its payloads without
//! panicking, and every firing names the rule.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use spur_core::plan::Verdict;
use spur_core::rules::{self, RuleIndex};
use spur_core::{CompiledPlan, Event, Pipeline};

use crate::ingest::{pipelines, run, Gzip, Shape, NOW};

/// Real SDK payloads and a few odd events, accepted by the plan-less pipeline.
fn events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut all = Vec::new();
        for body in [
            include_str!("../../core/tests/fixtures/analytics-node-batch.json"),
            include_str!("../../core/tests/fixtures/analytics-next-batch.json"),
            include_str!("../../core/tests/fixtures/rudderstack-js-batch.json"),
            r#"{"writeKey":"wk_any","batch":[
                {"type":"track","event":"Order Completed","userId":"u1","properties":{"total":600,"order_id":"o1","currency":"EUR","items":[{"price":1e308},{"price":-0.0}]}},
                {"type":"track","event":"Product Added","anonymousId":"a1","properties":{"price":"12","quantity":null}},
                {"type":"track","event":"Product Added","anonymousId":"a1","timestamp":"2024-05-01T11:00:00Z"},
                {"type":"identify","userId":"u1","traits":{"email":"not an email","plan":"pro","age":-1}},
                {"type":"group","userId":"u1","groupId":"g1","traits":{}},
                {"type":"alias","userId":"u2","previousId":"a1"},
                {"type":"page","anonymousId":"a1","name":"Home","properties":{"path":"/"}},
                {"type":"track","event":"Clicked","anonymousId":"a2","properties":{"__proto__":{"x":1},"":[[[]]]}}
            ]}"#,
        ] {
            // Pipeline 2 has no plan and ignores GPC: everything valid is accepted.
            let shape = Shape {
                pipeline: 2,
                single: None,
                header_key: true,
                origin: None,
                gpc: false,
                gzip: Gzip::No,
            };
            let _ = pipelines();
            if let Ok(out) = run(body.as_bytes(), shape) {
                all.extend(out.accepted);
            }
        }
        assert!(all.len() > 10, "the sample events are accepted");
        all
    })
}

/// `plan`: a tracking plan (and the same text as a whole config) compiled, then used.
pub fn plan(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Pipeline::from_json(text);
    let Ok(plan) = CompiledPlan::from_json(text) else {
        return;
    };
    for e in events() {
        let mut judged = e.clone();
        let verdict = plan.check(&mut judged);
        assert_eq!(&judged, e, "checking an event changed it");
        if let Verdict::Flag { violations, total } = verdict {
            assert!(!violations.is_empty() && violations.len() <= total);
            assert!(violations.len() <= spur_core::limits::MAX_VIOLATIONS);
            let mut flagged = judged;
            spur_core::plan::record_violations(&mut flagged, &violations, total);
            let text = serde_json::to_string(&flagged).expect("a flagged event serializes");
            let _: Event = serde_json::from_str(&text).expect("a flagged event reads back");
        }
    }
}

fn ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// `rules`: a rule document parsed, compiled, indexed and run over sample events.
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let engine = rules::condition_engine();
    let Ok(rule) = rules::parse(text) else {
        // The value path (admin API bodies that are already JSON) must agree on refusals of
        // malformed text only; a value that parses is compiled below either way.
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            let _ = rules::compile_value(&engine, value);
        }
        return;
    };
    let Ok(compiled) = rules::compile(&engine, rule.clone()) else {
        return;
    };
    let id = compiled.id().to_owned();
    let index = RuleIndex::build([rule.clone()], 1);
    assert!(
        index.skipped().is_empty() || !rule.enabled,
        "a rule that compiles alone was skipped by the index"
    );
    let now = ms(NOW);
    let mut states = BTreeMap::new();
    for e in events() {
        let at = ms(e.timestamp);
        for f in index
            .stateless_firings(e, at)
            .into_iter()
            .chain(index.apply_event(&mut states, e, rules::Facts::default(), at))
        {
            assert_eq!(f.rule, id, "a firing names another rule");
            let _ = rules::WebhookBody::new(&rule, &f, "firing-1", e.identity());
            let _ = rules::messages(&rule, "firing-1", e.identity());
        }
    }
    for later in [now, now + 86_400_000, now + 400 * 86_400_000, i64::MAX / 2] {
        for f in index.apply_time(&mut states, later) {
            assert_eq!(f.rule, id, "a firing names another rule");
        }
        let _ = rules::next_deadline(&states);
    }
    let dry = rules::dry_run(&engine, &compiled, events(), now + 86_400_000);
    let _ = serde_json::to_string(&dry).expect("a dry run serializes");
    let explained = rules::explain(&engine, &compiled, events(), now);
    let _ = serde_json::to_string(&explained).expect("an explanation serializes");
    if let Some(condition) = rule.trigger.condition.as_ref() {
        for e in events().iter().take(4) {
            let value = serde_json::to_value(e).expect("an event is JSON");
            let _ = rules::condition::explain(&engine, condition, &value);
        }
    }
}
