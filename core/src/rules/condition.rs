//! Conditions: JSONLogic compiled once into [`super::logic`]'s typed tree, evaluated against
//! one event.
//!
//! Invariant: a [`Condition`] compiled without error and reads only the event's own fields,
//! plus — where the caller adds them — the person's profile traits ([`Subject::with_profile`])
//! and live segment membership (`segments.<id>`, [`Subject::with_segments`]); evaluating it
//! never fails — an evaluation error (e.g. comparing an object) counts as false,
//! and [`explain`] reports it.
//!
//! Why an own evaluator rather than `datalogic-rs` (used until issue 15): datalogic-rs 5.4 was
//! 24% of the release Worker (≈ 304 KB of its 1.41 MB gzip, `bench/RESULTS.md`), for the 34
//! standard operators rules use. `logic.rs` implements exactly those, with datalogic's
//! semantics (checked by the differential property test `core/tests/logic_diff.rs`, which
//! keeps datalogic-rs as a dev-dependency), evaluates over the event's `serde_json::Value`
//! without copying it, and is faster per rule (`SPUR_BENCH=rules cargo bench -p spur-core --bench core`).
//! Rules stay standard JSONLogic, so they are portable.
//!
//! For the rule index, [`Subject::probe`] reads the event's value at the path of one of
//! the condition's indexable parts (`super::predicate`) from the very arena the engine
//! evaluates, so the index and the engine see the same value.

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{RuleError, RuleErrorKind};
use super::logic::{Node, OPERATORS};
use super::predicate::Probe;
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

/// The root of live segment membership: `{"var": "segments.vip"}` is `true` when the person is
/// a member of live segment `vip`, `false` when not (the person's object adds it, see
/// [`Subject::with_segments`], for rules and journeys; elsewhere the path is absent, so `null`).
pub const SEGMENTS_ROOT: &str = "segments";

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
        Self::compile_in(engine, source, at, &EVENT_FIELDS)
    }

    /// Like [`Condition::compile`], but `var` paths must start with one of `roots` (journey
    /// branches read `trigger.*`, `event.*`, `traits.*`, `vars.*` rather than one event), or
    /// be a `segments.<id>` membership.
    pub fn compile_scoped(
        engine: &Engine,
        source: &Value,
        at: &str,
        roots: &[&str],
    ) -> Result<Self, RuleError> {
        Self::compile_in(engine, source, at, roots)
    }

    /// Compiles with `roots`, and `segments.<id>` paths.
    fn compile_in(
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

    /// The live segment ids the condition reads (`segments.<id>` paths), sorted, each once:
    /// only a rule that reads some is evaluated where membership is known.
    pub fn segments(&self) -> Vec<String> {
        let mut ids = Vec::new();
        segment_ids(&self.source, &mut ids);
        ids.sort_unstable();
        ids.dedup();
        ids
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

    /// Adds the person's live segment membership under `segments` (segment id → whether a
    /// member), replacing whatever the event carried there.
    pub fn with_segments(mut self, membership: Map<String, Value>) -> Self {
        if let Value::Object(top) = &mut self.data {
            top.insert(SEGMENTS_ROOT.to_owned(), Value::Object(membership));
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
    if let Some(path) = literal_path(args) {
        if path.split('.').next() == Some(SEGMENTS_ROOT) {
            return check_segment_path(path, at);
        }
    }
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

/// The literal path of a `var`/`val`'s arguments (`"a.b"` or `["a.b", default]`).
fn literal_path(args: &Value) -> Option<&str> {
    match args {
        Value::String(s) => Some(s),
        Value::Array(a) => a.first().and_then(Value::as_str),
        _ => None,
    }
}

/// The id of a `segments.<id>` path: exactly one non-empty segment after the root.
fn segment_id(path: &str) -> Option<&str> {
    let id = path.strip_prefix(SEGMENTS_ROOT)?.strip_prefix('.')?;
    (!id.is_empty() && !id.contains('.')).then_some(id)
}

fn check_segment_path(path: &str, at: &str) -> Result<(), RuleError> {
    if segment_id(path).is_none() {
        return Err(RuleError::new(
            RuleErrorKind::InvalidCondition,
            at,
            format!(
                "{path:?} is not a segment membership: use segments.<id> with a live \
                 segment's id, e.g. {{\"var\": \"segments.vip\"}}"
            ),
        ));
    }
    Ok(())
}

/// One variable read of a condition, as far as it is known before evaluating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read<'a> {
    /// A `var`/`val` with a literal path (`""`, or `[]`, reads the whole subject).
    Path {
        /// `var` or `val`.
        op: &'a str,
        /// The dotted path.
        path: &'a str,
    },
    /// A path computed at evaluation time: it could read anything.
    Computed,
}

/// Calls `f` with every read of the subject in `condition`: each `var`/`val` with a literal
/// path, and each computed one (whose arguments are visited too, as is a literal path's
/// default). An iterator's body (`some`, `all`, … past the first argument) reads the items,
/// not the subject, so only the iterator's first argument is visited. The one walk behind
/// [`Condition::segments`], [`reads_profile`] and explain's values.
pub(crate) fn visit_reads<'a>(condition: &'a Value, f: &mut impl FnMut(Read<'a>)) {
    match condition {
        Value::Array(items) => items.iter().for_each(|i| visit_reads(i, f)),
        Value::Object(map) => {
            for (op, args) in map {
                match (op.as_str(), args) {
                    (op @ ("var" | "val"), Value::String(path)) => f(Read::Path { op, path }),
                    (op @ ("var" | "val"), Value::Array(a)) => match a.first() {
                        Some(Value::String(path)) => {
                            f(Read::Path { op, path });
                            a.iter().skip(1).for_each(|d| visit_reads(d, f));
                        }
                        None => f(Read::Path { op, path: "" }),
                        Some(Value::Array(_) | Value::Object(_)) => {
                            f(Read::Computed);
                            visit_reads(args, f);
                        }
                        // A number, boolean or null path names no key of the subject.
                        Some(_) => a.iter().skip(1).for_each(|d| visit_reads(d, f)),
                    },
                    ("var" | "val", _) => {
                        f(Read::Computed);
                        visit_reads(args, f);
                    }
                    (it, Value::Array(a)) if ITERATORS.contains(&it) => {
                        if let Some(first) = a.first() {
                            visit_reads(first, f);
                        }
                    }
                    _ => visit_reads(args, f),
                }
            }
        }
        _ => {}
    }
}

/// Collects the ids of the `segments.<id>` paths `condition` reads (literal paths only: a
/// computed path never reads membership, as the subject carries it only for rules that read
/// it literally).
fn segment_ids(condition: &Value, out: &mut Vec<String>) {
    visit_reads(condition, &mut |r| {
        if let Read::Path { path, .. } = r {
            if let Some(id) = segment_id(path) {
                out.push(id.to_owned());
            }
        }
    });
}

/// Whether `condition` may read profile traits: a `var`/`val` whose path starts at `traits`
/// or reads the whole subject (`""`, or a computed path, which could be either). Conservative:
/// a `true` only costs a profile load; a wrong `false` would hide the profile from the rule.
pub fn reads_profile(condition: &Value) -> bool {
    let mut reads = false;
    visit_reads(condition, &mut |r| {
        reads |= match r {
            Read::Path { path, .. } => path.is_empty() || path.split('.').next() == Some("traits"),
            Read::Computed => true,
        };
    });
    reads
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
    visit_reads(&condition, &mut |r| {
        let Read::Path { op: "var", path } = r else {
            return;
        };
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

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
