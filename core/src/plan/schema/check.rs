//! Validating a value against a compiled [`Schema`].
//!
//! Invariant: validation cannot fail and reads nothing outside the schema; it reports every
//! violation (pointer, keyword, message), and stops descending past
//! [`limits::MAX_SCHEMA_EVAL_DEPTH`] nested subschemas with a violation of its own.

use serde_json::{Map, Number, Value};

use super::format::check_format;
use super::{
    escape, Node, Schema, ARRAY, BOOLEAN, INTEGER, NULL, NUMBER, OBJECT, STRING, TYPE_NAMES,
};
use crate::limits;
use crate::plan::Violation;

impl Schema {
    /// Every violation of `value`; pointers are relative to `value` and prefixed with `prefix`.
    pub(crate) fn validate(&self, value: &Value, prefix: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut pointer = prefix.to_owned();
        self.check(0, value, &mut pointer, 0, &mut out);
        out
    }

    fn check(
        &self,
        id: usize,
        v: &Value,
        pointer: &mut String,
        depth: usize,
        out: &mut Vec<Violation>,
    ) {
        let Some(n) = self.nodes.get(id) else {
            return;
        };
        let mut fail = |keyword: &str, message: String| {
            out.push(Violation {
                pointer: pointer.clone(),
                keyword: keyword.to_owned(),
                message,
            })
        };
        if depth > limits::MAX_SCHEMA_EVAL_DEPTH {
            fail(
                "$ref",
                format!(
                    "schema evaluation nested deeper than {} subschemas",
                    limits::MAX_SCHEMA_EVAL_DEPTH
                ),
            );
            return;
        }
        if let Some(b) = n.boolean {
            if !b {
                fail("false", "false schema".into());
            }
            return;
        }
        if let Some(t) = n.types {
            if !has_type(v, t) {
                let want: Vec<&str> = TYPE_NAMES
                    .iter()
                    .filter(|(_, bit)| t & bit != 0)
                    .map(|(name, _)| *name)
                    .collect();
                fail(
                    "type",
                    format!("want {}, but got {}", want.join(" or "), type_name(v)),
                );
            }
        }
        if let Some(values) = &n.enumeration {
            if !values.iter().any(|e| json_eq(e, v)) {
                let list: Vec<String> = values.iter().map(Value::to_string).collect();
                fail("enum", format!("value must be one of {}", list.join(", ")));
            }
        }
        if let Some(c) = &n.constant {
            if !json_eq(c, v) {
                fail("const", format!("value must be {c}"));
            }
        }
        match v {
            Value::Object(map) => self.check_object(n, map, pointer, depth, out),
            Value::Array(items) => self.check_array(n, items, pointer, depth, out),
            Value::Number(x) => check_number(n, x, pointer, out),
            Value::String(s) => check_string(n, s, pointer, out),
            Value::Null | Value::Bool(_) => {}
        }
        for &sub in &n.all_of {
            self.check(sub, v, pointer, depth + 1, out);
        }
        if let Some(r) = n.reference {
            self.check(r, v, pointer, depth + 1, out);
        }
        if !n.any_of.is_empty() {
            let mut all = Vec::new();
            let mut ok = false;
            for &sub in &n.any_of {
                let mut tmp = Vec::new();
                self.check(sub, v, pointer, depth + 1, &mut tmp);
                if tmp.is_empty() {
                    ok = true;
                    break;
                }
                all.append(&mut tmp);
            }
            if !ok {
                out.append(&mut all);
            }
        }
        if !n.one_of.is_empty() {
            let mut all = Vec::new();
            let mut matched = Vec::new();
            for (i, &sub) in n.one_of.iter().enumerate() {
                let mut tmp = Vec::new();
                self.check(sub, v, pointer, depth + 1, &mut tmp);
                if tmp.is_empty() {
                    matched.push(i);
                } else {
                    all.append(&mut tmp);
                }
            }
            match matched.as_slice() {
                [] => out.append(&mut all),
                [_] => {}
                [i, j, ..] => out.push(Violation {
                    pointer: pointer.clone(),
                    keyword: "oneOf".into(),
                    message: format!("oneOf failed, subschemas {i}, {j} matched"),
                }),
            }
        }
        if let Some(not) = n.not {
            let mut tmp = Vec::new();
            self.check(not, v, pointer, depth + 1, &mut tmp);
            if tmp.is_empty() {
                out.push(Violation {
                    pointer: pointer.clone(),
                    keyword: "not".into(),
                    message: "not failed".into(),
                });
            }
        }
    }

    fn check_object(
        &self,
        n: &Node,
        map: &Map<String, Value>,
        pointer: &mut String,
        depth: usize,
        out: &mut Vec<Violation>,
    ) {
        let missing: Vec<String> = n
            .required
            .iter()
            .filter(|r| !map.contains_key(r.as_str()))
            .map(|r| format!("'{r}'"))
            .collect();
        if !missing.is_empty() {
            out.push(Violation {
                pointer: pointer.clone(),
                keyword: "required".into(),
                message: format!("missing properties {}", missing.join(", ")),
            });
        }
        let len = map.len() as u64;
        if let Some(min) = n.min_properties.filter(|m| len < *m) {
            out.push(Violation {
                pointer: pointer.clone(),
                keyword: "minProperties".into(),
                message: format!("minimum {min} properties required, but got {len} properties"),
            });
        }
        if let Some(max) = n.max_properties.filter(|m| len > *m) {
            out.push(Violation {
                pointer: pointer.clone(),
                keyword: "maxProperties".into(),
                message: format!("maximum {max} properties required, but got {len} properties"),
            });
        }
        let base = pointer.len();
        let mut extra = Vec::new();
        for (key, value) in map {
            let declared = n.properties.iter().find(|(name, _)| name == key);
            let sub = match declared {
                Some((_, sub)) => Some(*sub),
                None => n.additional,
            };
            let Some(sub) = sub else { continue };
            if declared.is_none() && self.nodes.get(sub).and_then(|s| s.boolean) == Some(false) {
                extra.push(format!("'{key}'"));
                continue;
            }
            pointer.push('/');
            pointer.push_str(&escape(key));
            self.check(sub, value, pointer, depth + 1, out);
            pointer.truncate(base);
        }
        if !extra.is_empty() {
            out.push(Violation {
                pointer: pointer.clone(),
                keyword: "additionalProperties".into(),
                message: format!("additionalProperties {} not allowed", extra.join(", ")),
            });
        }
    }

    fn check_array(
        &self,
        n: &Node,
        items: &[Value],
        pointer: &mut String,
        depth: usize,
        out: &mut Vec<Violation>,
    ) {
        let len = items.len() as u64;
        if let Some(min) = n.min_items.filter(|m| len < *m) {
            out.push(Violation {
                pointer: pointer.clone(),
                keyword: "minItems".into(),
                message: format!("minimum {min} items required, but got {len} items"),
            });
        }
        if let Some(max) = n.max_items.filter(|m| len > *m) {
            out.push(Violation {
                pointer: pointer.clone(),
                keyword: "maxItems".into(),
                message: format!("maximum {max} items required, but got {len} items"),
            });
        }
        if n.unique_items {
            let dup = items.iter().enumerate().find_map(|(i, a)| {
                items
                    .iter()
                    .enumerate()
                    .skip(i + 1)
                    .find(|(_, b)| json_eq(a, b))
                    .map(|(j, _)| (i, j))
            });
            if let Some((i, j)) = dup {
                out.push(Violation {
                    pointer: pointer.clone(),
                    keyword: "uniqueItems".into(),
                    message: format!("items at {i} and {j} are equal"),
                });
            }
        }
        let base = pointer.len();
        for (i, item) in items.iter().enumerate() {
            let sub = n.prefix_items.get(i).copied().or(n.items);
            let Some(sub) = sub else { continue };
            pointer.push('/');
            pointer.push_str(&i.to_string());
            self.check(sub, item, pointer, depth + 1, out);
            pointer.truncate(base);
        }
    }
}

fn check_number(n: &Node, x: &Number, pointer: &str, out: &mut Vec<Violation>) {
    let mut fail = |keyword: &str, message: String| {
        out.push(Violation {
            pointer: pointer.to_owned(),
            keyword: keyword.to_owned(),
            message,
        })
    };
    use std::cmp::Ordering::{Greater, Less};
    if let Some(m) = n.minimum.as_ref().filter(|m| cmp(x, m) == Less) {
        fail("minimum", format!("must be >={m}, but got {x}"));
    }
    if let Some(m) = n.maximum.as_ref().filter(|m| cmp(x, m) == Greater) {
        fail("maximum", format!("must be <={m}, but got {x}"));
    }
    if let Some(m) = n
        .exclusive_minimum
        .as_ref()
        .filter(|m| cmp(x, m) != Greater)
    {
        fail("exclusiveMinimum", format!("must be > {m} but got {x}"));
    }
    if let Some(m) = n.exclusive_maximum.as_ref().filter(|m| cmp(x, m) != Less) {
        fail("exclusiveMaximum", format!("must be < {m} but got {x}"));
    }
    if let Some(m) = n.multiple_of.as_ref().filter(|m| !multiple_of(x, m)) {
        fail("multipleOf", format!("{x} is not multipleOf {m}"));
    }
}

fn check_string(n: &Node, s: &str, pointer: &str, out: &mut Vec<Violation>) {
    let mut fail = |keyword: &str, message: String| {
        out.push(Violation {
            pointer: pointer.to_owned(),
            keyword: keyword.to_owned(),
            message,
        })
    };
    if n.min_length.is_some() || n.max_length.is_some() {
        let len = s.chars().count() as u64;
        if let Some(min) = n.min_length.filter(|m| len < *m) {
            fail(
                "minLength",
                format!("length must be >={min}, but got {len}"),
            );
        }
        if let Some(max) = n.max_length.filter(|m| len > *m) {
            fail(
                "maxLength",
                format!("length must be <={max}, but got {len}"),
            );
        }
    }
    if let Some((re, p)) = &n.pattern {
        if !re.is_match(s) {
            fail("pattern", format!("'{s}' does not match pattern '{p}'"));
        }
    }
    if let Some((format, name)) = n.format {
        if let Err(why) = check_format(format, s) {
            fail("format", format!("'{s}' is not valid {name}: {why}"));
        }
    }
}

fn has_type(v: &Value, t: u8) -> bool {
    let bit = match v {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::Object(_) => OBJECT,
        Value::Array(_) => ARRAY,
        Value::String(_) => STRING,
        Value::Number(n) if is_integer(n) => NUMBER | INTEGER,
        Value::Number(_) => NUMBER,
    };
    t & bit != 0
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
    }
}

fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// Orders two JSON numbers by value (exactly when both are integers).
fn cmp(a: &Number, b: &Number) -> std::cmp::Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
    x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
}

fn multiple_of(x: &Number, m: &Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), m.as_i64()) {
        return b != 0 && a.checked_rem(b) == Some(0);
    }
    let (a, b) = (x.as_f64().unwrap_or(0.0), m.as_f64().unwrap_or(1.0));
    let q = a / b;
    q.is_finite() && (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
}

/// JSON equality: numbers by value (`1 == 1.0`), objects regardless of key order.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp(x, y) == std::cmp::Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}
