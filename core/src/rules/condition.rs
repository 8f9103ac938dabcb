//! Conditions: JSONLogic compiled once into [`super::logic`]'s typed tree, evaluated against
//! one event.
//!
//! Invariant: a [`Condition`] compiled without error and reads only the event's own fields;
//! evaluating it never fails — an evaluation error (e.g. comparing an object) counts as false,
//! and [`explain`] reports it.
//!
//! Why an own evaluator rather than `datalogic-rs` (used until issue 15): datalogic-rs 5.4 was
//! 24% of the release Worker (≈ 304 KB of its 1.41 MB gzip, `bench/RESULTS.md`), for the 34
//! standard operators rules use. `logic.rs` implements exactly those, with datalogic's
//! semantics (checked by the differential property test `core/tests/logic_diff.rs`, which
//! keeps datalogic-rs as a dev-dependency), evaluates over the event's `serde_json::Value`
//! without copying it, and is faster per rule (`cargo bench -p spur-core --bench rules`).
//! Rules stay standard JSONLogic, so they are portable.
//!
//! For the rule index, [`indexable_parts`] reads a condition's top-level conjuncts and returns
//! those an index can answer (equality, `in` over literals, numeric ranges on one `var`), and
//! [`Subject::probe`] reads the event's value at such a path from the very arena the engine
//! evaluates. Invariant: an indexable part is *necessary* — when the condition holds, the
//! event's value satisfies every part as the index reads it — so filtering by it never drops a
//! rule that would fire; the full condition still decides.

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{RuleError, RuleErrorKind};
use super::logic::{Node, OPERATORS};
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

/// The condition engine: stateless (kept as a type so call sites name what they compile with).
#[derive(Debug, Default, Clone, Copy)]
pub struct Engine;

impl Engine {
    /// The engine.
    pub fn new() -> Self {
        Engine
    }
}

/// A compiled condition and its source.
pub struct Condition {
    source: Value,
    logic: Node,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

impl Condition {
    /// Checks and compiles `source`; `at` is its JSON pointer in the rule, for errors.
    pub fn compile(engine: &Engine, source: &Value, at: &str) -> Result<Self, RuleError> {
        Self::compile_scoped(engine, source, at, &EVENT_FIELDS)
    }

    /// Like [`Condition::compile`], but `var` paths must start with one of `roots` (journey
    /// branches read `trigger.*`, `event.*`, `traits.*`, `vars.*` rather than one event).
    pub fn compile_scoped(
        engine: &Engine,
        source: &Value,
        at: &str,
        roots: &[&str],
    ) -> Result<Self, RuleError> {
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
        let _ = engine;
        check_tree(
            &Scope {
                ops: &OPERATORS,
                roots,
            },
            source,
            at,
        )?;
        let logic = Node::compile(source).map_err(|e| {
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

    /// Whether the condition reads the person's profile traits (`traits.*`, or the whole
    /// subject): only then does the edge load the stored profile for it.
    pub fn reads_profile(&self) -> bool {
        reads_profile(&self.source)
    }

    /// Whether the event meets the condition (an evaluation error is `false`).
    pub fn eval(&self, _engine: &Engine, subject: &Subject) -> bool {
        self.logic.eval(&subject.data).is_ok_and(|v| v.truthy())
    }
}

/// One event prepared for evaluation: converted once to JSON, then shared by every rule it
/// meets.
pub struct Subject {
    data: Value,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject").finish_non_exhaustive()
    }
}

impl Subject {
    /// Prepares an event. `None` only if the event cannot be serialized (it always can).
    pub fn new(event: &Event) -> Option<Self> {
        // Through text on purpose: `to_value` would add a second monomorphization of every
        // event type's `Serialize` (≈ 35 KB gzip of Worker); `to_string` is already there for
        // the queue, and parsing a few hundred bytes back is a few µs.
        let text = serde_json::to_string(event).ok()?;
        let data = serde_json::from_str(&text).ok()?;
        Some(Subject { data })
    }

    /// Prepares an event from its JSON encoding (`serde_json::to_string` of the event), when
    /// the caller already has it. `None` if the text is not JSON.
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok().map(|data| Subject { data })
    }

    /// Prepares any JSON document (a journey's branch context). Always `Some`.
    pub fn from_value(value: &Value) -> Option<Self> {
        Some(Subject {
            data: value.clone(),
        })
    }

    /// Adds the person's stored profile traits under `traits`, beneath the event's own: a
    /// key the event carries wins (an `identify` carries the newest value, and the stored
    /// profile may not have caught up with it yet), every other profile key shows through.
    /// A shallow merge by top-level trait key, like the store's `json_patch` of identify
    /// traits.
    pub fn with_profile(mut self, profile: &Map<String, Value>) -> Self {
        if profile.is_empty() {
            return self;
        }
        if let Value::Object(top) = &mut self.data {
            let mut merged = profile.clone();
            if let Some(Value::Object(own)) = top.remove("traits") {
                merged.extend(own);
            }
            top.insert("traits".to_owned(), Value::Object(merged));
        }
        self
    }

    /// The value at `path` (object keys only, as the engine's `var` resolves them).
    pub fn probe(&self, path: &[String]) -> Probe<'_> {
        let mut at = &self.data;
        for seg in path {
            match at {
                Value::Object(map) => match map.get(seg.as_str()) {
                    Some(v) => at = v,
                    None => return Probe::Missing,
                },
                _ => return Probe::Unknown,
            }
        }
        Probe::Value(at)
    }
}

/// A value an equality index is keyed by: a "plain" string (one that no other JSON value
/// equals under JSONLogic's loose coercion) or a number (by its `f64` bits, `-0` as `0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EqKey {
    /// A plain string.
    Str(Box<str>),
    /// A number's bits.
    Num(u64),
}

/// How an indexed value compares with a threshold: `value OP threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Cmp {
    fn parse(op: &str) -> Option<Self> {
        match op {
            ">" => Some(Cmp::Gt),
            ">=" => Some(Cmp::Ge),
            "<" => Some(Cmp::Lt),
            "<=" => Some(Cmp::Le),
            _ => None,
        }
    }

    /// The same relation with the operands swapped (`c < v` is `v > c`).
    fn flip(self) -> Self {
        match self {
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
        }
    }
}

/// What an indexable conjunct requires of the value at its path.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Equal to one of these (`==`, `===`, or `in` over a literal list).
    OneOf(Vec<EqKey>),
    /// A numeric comparison with a threshold.
    Range(Cmp, f64),
}

/// One conjunct an index can answer: the value at `path` (split on `.`) must satisfy it.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexable {
    /// The `var` path, split on `.` as `var` splits it.
    pub path: Vec<String>,
    /// The requirement.
    pub predicate: Predicate,
}

/// A string literal that only the identical string equals, loosely or strictly: not empty
/// (null == ""), not a number's text ("1" == 1), not "true"/"false" (bool coercion), and not
/// starting with a digit (datetime and duration strings compare by meaning, not bytes).
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.parse::<f64>().is_err()
        && s != "true"
        && s != "false"
        && !s.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// The key of a number (`-0` and `0` are one key).
pub fn num_key(x: f64) -> u64 {
    (x + 0.0).to_bits()
}

fn literal_key(v: &Value) -> Option<EqKey> {
    match v {
        Value::String(s) if plain(s) => Some(EqKey::Str(s.as_str().into())),
        Value::Number(n) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(|x| EqKey::Num(num_key(x))),
        _ => None,
    }
}

/// The path of `{"var": "a.b"}` or `{"var": ["a.b"]}` (no default), when every segment is named.
fn var_path(v: &Value) -> Option<Vec<String>> {
    let map = v.as_object().filter(|m| m.len() == 1)?;
    let path = match map.get("var")? {
        Value::String(s) => s,
        Value::Array(a) if a.len() == 1 => a.first()?.as_str()?,
        _ => return None,
    };
    let segs: Vec<String> = path.split('.').map(str::to_owned).collect();
    (!segs.iter().any(String::is_empty)).then_some(segs)
}

/// The conjuncts of `condition` (its top-level `and`, flattened, or itself) that an index can
/// answer. Each is necessary for the condition to hold: `and` is truthy only when every part is.
pub fn indexable_parts(condition: &Value) -> Vec<Indexable> {
    let mut out = Vec::new();
    conjuncts(condition, &mut out, 0);
    out
}

fn conjuncts(v: &Value, out: &mut Vec<Indexable>, depth: usize) {
    let Some((op, args)) = v
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return;
    };
    let Some(args) = args.as_array() else {
        return;
    };
    if op == "and" {
        if depth < 8 {
            args.iter().for_each(|a| conjuncts(a, out, depth + 1));
        }
        return;
    }
    let [a, b] = args.as_slice() else {
        return;
    };
    let part = match op.as_str() {
        "==" | "===" => match (var_path(a), var_path(b)) {
            (Some(path), None) => literal_key(b).map(|k| (path, Predicate::OneOf(vec![k]))),
            (None, Some(path)) => literal_key(a).map(|k| (path, Predicate::OneOf(vec![k]))),
            _ => None,
        },
        "in" => {
            let keys: Option<Vec<EqKey>> = b
                .as_array()
                .filter(|items| !items.is_empty())
                .and_then(|items| items.iter().map(literal_key).collect());
            var_path(a).zip(keys).map(|(p, k)| (p, Predicate::OneOf(k)))
        }
        _ => Cmp::parse(op).and_then(|cmp| {
            let num = |v: &Value| v.as_f64().filter(|x| x.is_finite());
            match (var_path(a), var_path(b)) {
                (Some(path), None) => num(b).map(|c| (path, Predicate::Range(cmp, c))),
                (None, Some(path)) => num(a).map(|c| (path, Predicate::Range(cmp.flip(), c))),
                _ => None,
            }
        }),
    };
    if let Some((path, predicate)) = part {
        out.push(Indexable { path, predicate });
    }
}

/// The event's value at an indexed path, as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub enum Probe<'a> {
    /// Found.
    Value(&'a Value),
    /// No such key: `var` reads `null`.
    Missing,
    /// The path runs through something other than objects: the index does not decide.
    Unknown,
}

impl<'a> Probe<'a> {
    /// What an equality index looks up: the string (for the string table) and the number
    /// key the value can equal (a numeric string equals its number, a boolean 0/1, `null` 0).
    /// `None` when the index cannot tell (arrays, objects): every rule is a candidate.
    pub fn eq_keys(self) -> Option<(Option<&'a str>, Option<u64>)> {
        match self {
            Probe::Value(Value::String(s)) => Some((Some(s), s.parse::<f64>().ok().map(num_key))),
            Probe::Value(Value::Number(n)) => Some((None, n.as_f64().map(num_key))),
            Probe::Value(Value::Bool(b)) => Some((None, Some(num_key(f64::from(u8::from(*b)))))),
            Probe::Value(Value::Null) | Probe::Missing => Some((None, Some(num_key(0.0)))),
            _ => None,
        }
    }

    /// The number a range compares: numbers as they are, `null`/absent as 0 and booleans as
    /// 0/1 (the engine's coercions; a superset when they are off). `None` (strings, arrays,
    /// objects): the index cannot tell.
    pub fn number(self) -> Option<f64> {
        match self {
            Probe::Value(Value::Number(n)) => n.as_f64(),
            Probe::Value(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            Probe::Value(Value::Null) | Probe::Missing => Some(0.0),
            _ => None,
        }
    }
}

/// Refuses objects that are not one known operator (JSONLogic would read `{"nope": 1}` as data,
/// so a typo would silently never match), and `var`/`val` paths whose first segment is not an
/// event field — the usual mistake is `{"var": "price"}` for `{"var": "properties.price"}`.
/// Known operators and the allowed first segments of `var` paths.
struct Scope<'a> {
    ops: &'a [&'a str],
    roots: &'a [&'a str],
}

fn check_tree(scope: &Scope<'_>, v: &Value, at: &str) -> Result<(), RuleError> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| check_tree(scope, i, at)),
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
            if !scope.ops.contains(&op.as_str()) {
                return Err(RuleError::new(
                    RuleErrorKind::InvalidCondition,
                    at,
                    format!("unknown operator {op:?}; JSONLogic has ==, !=, <, <=, >, >=, and, or, !, in, var, some, all, …"),
                ));
            }
            match op.as_str() {
                "var" | "val" => check_path(scope, args, at),
                it if ITERATORS.contains(&it) => {
                    // Only the array source reads the event; the rest reads elements.
                    let items = args.as_array().map(Vec::as_slice).unwrap_or_default();
                    let (first, rest) = items.split_first().unwrap_or((&Value::Null, &[]));
                    check_tree(scope, first, at)?;
                    rest.iter().try_for_each(|i| check_ops(scope.ops, i, at))
                }
                _ => check_tree(scope, args, at),
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

fn check_path(scope: &Scope<'_>, args: &Value, at: &str) -> Result<(), RuleError> {
    let first = match args {
        Value::String(s) => Some(s.split('.').next().unwrap_or_default().to_owned()),
        Value::Array(a) => match a.first() {
            Some(Value::String(s)) => Some(s.split('.').next().unwrap_or_default().to_owned()),
            Some(other) if !other.is_string() => return check_tree(scope, other, at),
            _ => None,
        },
        other => return check_tree(scope, other, at),
    };
    match first {
        Some(root) if scope.roots != EVENT_FIELDS && !scope.roots.contains(&root.as_str()) => {
            Err(RuleError::new(
                RuleErrorKind::UnknownVariable,
                at,
                format!(
                    "{{\"var\": {args}}} reads {root:?}; here a condition reads {}",
                    scope
                        .roots
                        .iter()
                        .filter(|r| !r.is_empty())
                        .map(|r| format!("{r}.*"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
        Some(root) if !scope.roots.contains(&root.as_str()) => Err(RuleError::new(
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

/// Whether `condition` may read profile traits: a `var`/`val` whose path starts at `traits`
/// or reads the whole subject (`""`, or a computed path, which could be either). Conservative:
/// a `true` only costs a profile load; a wrong `false` would hide the profile from the rule.
pub fn reads_profile(condition: &Value) -> bool {
    fn first_is_traits(path: &str) -> bool {
        path.is_empty() || path.split('.').next() == Some("traits")
    }
    match condition {
        Value::Array(items) => items.iter().any(reads_profile),
        Value::Object(map) => map.iter().any(|(op, args)| match (op.as_str(), args) {
            ("var" | "val", Value::String(p)) => first_is_traits(p),
            ("var" | "val", Value::Array(a)) => match a.first() {
                Some(Value::String(p)) => first_is_traits(p),
                Some(Value::Array(_) | Value::Object(_)) => true,
                _ => a.is_empty(),
            },
            ("var" | "val", _) => true,
            (it, Value::Array(a)) if ITERATORS.contains(&it) => {
                a.first().is_some_and(reads_profile)
            }
            _ => reads_profile(args),
        }),
        _ => false,
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

fn eval_value(_engine: &Engine, condition: &Value, event: &Value) -> Result<bool, String> {
    let logic = Node::compile(condition).map_err(|e| e.to_string())?;
    logic
        .eval(event)
        .map(|v| v.truthy())
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
}
