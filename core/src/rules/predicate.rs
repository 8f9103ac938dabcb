//! Indexable parts of a condition: the top-level conjuncts a rule index can answer (equality,
//! `in` over literals, numeric ranges on one `var`), and [`Probe`], the event's value at such a
//! path as the engine reads it.
//!
//! Invariant: an indexable part is *necessary* — when the condition holds, the event's value
//! satisfies every part as the index reads it — so filtering by it never drops a rule that
//! would fire; the full condition still decides.

use serde_json::Value;

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
