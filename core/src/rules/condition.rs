//! Conditions: JSONLogic compiled once with datalogic-rs, evaluated against one event.
//!
//! Invariant: a [`Condition`] compiled without error and reads only the event's own fields;
//! evaluating it never fails — an evaluation error (e.g. comparing an object) counts as false,
//! and [`explain`] reports it.
//!
//! Why JSONLogic through datalogic-rs (measured in this repository's issue 5 work, wasm32 release
//! `opt-level = "z"` + LTO + `wasm-opt -Oz`, gzip over a serde_json-only baseline; native release
//! on the 2-core dev machine, a 4-rule mix over a Segment event):
//!
//! | crate | wasm gzip | evals/s, event converted per eval | evals/s, event converted once |
//! |---|---|---|---|
//! | `jsonlogic` 0.5.1 | +36 KB | 2.1 M (479 ns; re-walks the rule JSON each time) | — (no compile step) |
//! | `datalogic-rs` 5.4.0 | +232 KB | 2.3 M (428 ns) | 17.1 M (58 ns) |
//!
//! `jsonlogic` is smaller but unmaintained and has no compile step, so every rule would be
//! re-read from JSON for every event. datalogic-rs is maintained, compiles once and, with the
//! event parsed once into its arena ([`Subject`]), evaluates ~8x faster per rule — what matters
//! when one event meets thousands of rules. Both are standard JSONLogic, so rules are portable.
//! The whole release Worker with rules is 3.5 MB raw / 1.19 MB gzip, inside the 3 MB (gzip)
//! free-plan script limit.

use std::cell::RefCell;

use datalogic_rs::bumpalo::Bump;
use datalogic_rs::{Engine, Logic, ParsedData};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{RuleError, RuleErrorKind};
use super::MAX_CONDITION_BYTES;
use crate::Event;

/// Top-level fields of a Segment event a condition may read.
pub const EVENT_FIELDS: [&str; 18] = [
    "type",
    "event",
    "name",
    "category",
    "userId",
    "anonymousId",
    "messageId",
    "groupId",
    "previousId",
    "properties",
    "traits",
    "context",
    "integrations",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
    "",
];

/// Operators whose later arguments run per array element, where `var` is element-relative.
const ITERATORS: [&str; 6] = ["some", "all", "none", "map", "filter", "reduce"];

/// A compiled condition and its source.
pub struct Condition {
    source: Value,
    logic: Logic,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

impl Condition {
    /// Checks and compiles `source`; `at` is its JSON pointer in the rule, for errors.
    pub fn compile(engine: &Engine, source: &Value, at: &str) -> Result<Self, RuleError> {
        let size = serde_json::to_vec(source)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_CONDITION_BYTES {
            return Err(RuleError::new(
                RuleErrorKind::ConditionTooLarge,
                at,
                format!("condition is {size} bytes; the limit is {MAX_CONDITION_BYTES}"),
            ));
        }
        if !matches!(source, Value::Object(_) | Value::Bool(_)) {
            return Err(RuleError::new(
                RuleErrorKind::InvalidCondition,
                at,
                "a condition is a JSONLogic operation such as {\"==\": [{\"var\": \"properties.plan\"}, \"pro\"]}",
            ));
        }
        let ops: Vec<&str> = engine.builtin_operator_names().collect();
        check_tree(&ops, source, at)?;
        let logic = engine.compile(source).map_err(|e| {
            RuleError::new(
                RuleErrorKind::InvalidCondition,
                at,
                format!("not valid JSONLogic: {e}"),
            )
        })?;
        Ok(Condition {
            source: source.clone(),
            logic,
        })
    }

    /// The condition as written.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether the event meets the condition (an evaluation error is `false`).
    pub fn eval(&self, engine: &Engine, subject: &Subject) -> bool {
        let mut scratch = subject.scratch.borrow_mut();
        let hit = engine
            .evaluate(&self.logic, &subject.data, &scratch)
            .map(|v| engine.truthy(v))
            .unwrap_or(false);
        scratch.reset();
        hit
    }
}

/// One event prepared for evaluation: parsed once into datalogic's arena, then shared by every
/// rule it meets.
pub struct Subject {
    data: ParsedData,
    scratch: RefCell<Bump>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject").finish_non_exhaustive()
    }
}

impl Subject {
    /// Prepares an event. `None` only if the event cannot be serialized (it always can).
    pub fn new(event: &Event) -> Option<Self> {
        let text = serde_json::to_string(event).ok()?;
        let data = ParsedData::from_json(&text).ok()?;
        Some(Subject {
            data,
            scratch: RefCell::new(Bump::new()),
        })
    }
}

/// Refuses objects that are not one known operator (datalogic would read `{"nope": 1}` as data,
/// so a typo would silently never match), and `var`/`val` paths whose first segment is not an
/// event field — the usual mistake is `{"var": "price"}` for `{"var": "properties.price"}`.
fn check_tree(ops: &[&str], v: &Value, at: &str) -> Result<(), RuleError> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| check_tree(ops, i, at)),
        Value::Object(map) => {
            let mut entries = map.iter();
            let (Some((op, args)), None) = (entries.next(), entries.next()) else {
                return Err(RuleError::new(
                    RuleErrorKind::InvalidCondition,
                    at,
                    format!(
                        "{v} is not an operation: each object has exactly one key, the operator"
                    ),
                ));
            };
            if !ops.contains(&op.as_str()) {
                return Err(RuleError::new(
                    RuleErrorKind::InvalidCondition,
                    at,
                    format!("unknown operator {op:?}; JSONLogic has ==, !=, <, <=, >, >=, and, or, !, in, var, some, all, …"),
                ));
            }
            match op.as_str() {
                "var" | "val" => check_path(ops, args, at),
                it if ITERATORS.contains(&it) => {
                    // Only the array source reads the event; the rest reads elements.
                    let items = args.as_array().map(Vec::as_slice).unwrap_or_default();
                    let (first, rest) = items.split_first().unwrap_or((&Value::Null, &[]));
                    check_tree(ops, first, at)?;
                    rest.iter().try_for_each(|i| check_ops(ops, i, at))
                }
                _ => check_tree(ops, args, at),
            }
        }
        _ => Ok(()),
    }
}

/// Like [`check_tree`] without the path check (inside iterators `var` reads the element).
fn check_ops(ops: &[&str], v: &Value, at: &str) -> Result<(), RuleError> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| check_ops(ops, i, at)),
        Value::Object(map) => map.iter().try_for_each(|(op, args)| {
            if map.len() != 1 || !ops.contains(&op.as_str()) {
                return Err(RuleError::new(
                    RuleErrorKind::InvalidCondition,
                    at,
                    format!("unknown operator {op:?}"),
                ));
            }
            check_ops(ops, args, at)
        }),
        _ => Ok(()),
    }
}

fn check_path(ops: &[&str], args: &Value, at: &str) -> Result<(), RuleError> {
    let first = match args {
        Value::String(s) => Some(s.split('.').next().unwrap_or_default().to_owned()),
        Value::Array(a) => match a.first() {
            Some(Value::String(s)) => Some(s.split('.').next().unwrap_or_default().to_owned()),
            Some(other) if !other.is_string() => return check_tree(ops, other, at),
            _ => None,
        },
        other => return check_tree(ops, other, at),
    };
    match first {
        Some(root) if !EVENT_FIELDS.contains(&root.as_str()) => Err(RuleError::new(
            RuleErrorKind::UnknownVariable,
            at,
            format!(
                "{{\"var\": {args}}} reads {root:?}, which is not an event field; \
                 event data lives under properties.*, traits.* or context.* \
                 (did you mean \"properties.{root}\"?)"
            ),
        )),
        _ => Ok(()),
    }
}

/// Why a condition held or not, for `explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionReport {
    /// Whether the whole condition held.
    pub passed: bool,
    /// The clauses that did not hold (top-level `and` parts, or every `or` part, or the whole).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Clause>,
}

/// One failing clause with the values it read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clause {
    /// The clause as written.
    pub condition: Value,
    /// Each variable it reads and the event's value there (`null` when absent).
    pub values: Map<String, Value>,
    /// An evaluation error, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Evaluates `condition` against `event` clause by clause. Admin path only: compiles on the fly.
pub fn explain(engine: &Engine, condition: &Value, event: &Value) -> ConditionReport {
    let whole = eval_value(engine, condition, event);
    if whole.as_ref().is_ok_and(|b| *b) {
        return ConditionReport {
            passed: true,
            failed: Vec::new(),
        };
    }
    let parts = match condition.as_object().filter(|m| m.len() == 1) {
        Some(m) => match (m.get("and"), m.get("or")) {
            (Some(Value::Array(parts)), _) | (_, Some(Value::Array(parts))) => parts.clone(),
            _ => vec![condition.clone()],
        },
        None => vec![condition.clone()],
    };
    let failed = parts
        .into_iter()
        .filter_map(|part| match eval_value(engine, &part, event) {
            Ok(true) => None,
            Ok(false) => Some(clause(part, event, None)),
            Err(e) => Some(clause(part, event, Some(e))),
        })
        .collect();
    ConditionReport {
        passed: false,
        failed,
    }
}

fn eval_value(engine: &Engine, condition: &Value, event: &Value) -> Result<bool, String> {
    let logic = engine.compile(condition).map_err(|e| e.to_string())?;
    let arena = Bump::new();
    engine
        .evaluate(&logic, event, &arena)
        .map(|v| engine.truthy(v))
        .map_err(|e| e.to_string())
}

fn clause(condition: Value, event: &Value, error: Option<String>) -> Clause {
    let mut values = Map::new();
    collect_vars(&condition, &mut |path| {
        let found = path
            .split('.')
            .filter(|s| !s.is_empty())
            .try_fold(event, |v, key| match v {
                Value::Object(m) => m.get(key),
                Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            });
        values.insert(path.to_owned(), found.cloned().unwrap_or(Value::Null));
    });
    Clause {
        condition,
        values,
        error,
    }
}

fn collect_vars(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_vars(i, f)),
        Value::Object(map) => {
            for (op, args) in map {
                match (op.as_str(), args) {
                    ("var", Value::String(p)) => f(p),
                    ("var", Value::Array(a)) => match a.first() {
                        Some(Value::String(p)) => f(p),
                        _ => collect_vars(args, f),
                    },
                    (it, Value::Array(a)) if ITERATORS.contains(&it) => {
                        if let Some(first) = a.first() {
                            collect_vars(first, f);
                        }
                    }
                    _ => collect_vars(args, f),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
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
        let e =
            Condition::compile(&engine, &json!({"==": [{"var": "price"}, 1]}), "/x").unwrap_err();
        assert!(e.detail.contains("properties.price"), "{e}");
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
}
