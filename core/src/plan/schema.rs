//! Spur's own JSON Schema validator for tracking plans: a documented subset of draft 2020-12.
//!
//! Invariant: a schema compiles only if every keyword in it is in the subset below or is an
//! annotation; any other keyword is refused at compile time with its name and location — never
//! silently ignored, so a plan never looks stricter than it is. Validating cannot fail, reads
//! nothing outside the schema, and is bounded: schemas nested deeper than
//! [`limits::MAX_SCHEMA_DEPTH`] or with more than [`limits::MAX_SCHEMA_NODES`] subschemas are
//! refused, `$ref` cycles that do not descend into the instance are refused, and evaluation stops
//! (with a violation) past [`limits::MAX_SCHEMA_EVAL_DEPTH`] nested subschemas.
//!
//! Supported keywords:
//! - `type` (a name or an array of names; `integer` is any number with no fractional part, so
//!   `1.0` is an integer), `enum`, `const` (numbers compare by value: `1 == 1.0`);
//! - objects: `properties`, `required`, `additionalProperties` (boolean or schema),
//!   `minProperties`, `maxProperties`;
//! - arrays: `items` (a schema), `prefixItems`, `minItems`, `maxItems`, `uniqueItems`;
//! - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numbers, as in
//!   2020-12), `multipleOf` (exact for integers; floats within a relative 1e-9);
//! - strings: `minLength`, `maxLength` (Unicode code points), `pattern` (`regex-lite` syntax: no
//!   Unicode classes like `\p{L}`, no look-around), `format` — asserted — one of `date-time`,
//!   `date`, `time`, `email`, `hostname`, `ipv4`, `ipv6`, `uri`, `uuid`;
//! - `allOf`, `anyOf`, `oneOf`, `not`, `$defs` (and draft-07's `definitions`) with local
//!   `$ref`s (`#`, `#/$defs/name`, or any JSON pointer to a subschema in the same schema);
//! - annotations, ignored: `title`, `description`, `examples`, `default`, `$comment`,
//!   `deprecated`, `readOnly`, `writeOnly`, `$schema` (draft-07, 2019-09 or 2020-12), `$id`
//!   (root only, since a nested `$id` would change what `$ref`s resolve to).
//!
//! Refused: everything else — e.g. `patternProperties`, `propertyNames`, `dependentRequired`,
//! `if`/`then`/`else`, `contains`, `unevaluated*`, `$anchor`, `$dynamicRef`, remote `$ref`s and
//! the formats not listed above.

use std::collections::BTreeMap;

use regex_lite::Regex;
use serde_json::{Map, Number, Value};

use crate::limits;

use super::Violation;

/// The JSON types `type` can name, as bits.
const NULL: u8 = 1;
const BOOLEAN: u8 = 2;
const OBJECT: u8 = 4;
const ARRAY: u8 = 8;
const NUMBER: u8 = 16;
const STRING: u8 = 32;
/// `integer`: a number with no fractional part (a subset of `NUMBER`).
const INTEGER: u8 = 64;

const TYPE_NAMES: [(&str, u8); 7] = [
    ("null", NULL),
    ("boolean", BOOLEAN),
    ("object", OBJECT),
    ("array", ARRAY),
    ("number", NUMBER),
    ("string", STRING),
    ("integer", INTEGER),
];

const ANNOTATIONS: [&str; 9] = [
    "title",
    "description",
    "examples",
    "default",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
];

const DRAFTS: [&str; 6] = [
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-07/schema",
    "https://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft-07/schema",
];

/// The asserted `format`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DateTime,
    Date,
    Time,
    Email,
    Hostname,
    Ipv4,
    Ipv6,
    Uri,
    Uuid,
}

const FORMATS: [(&str, Format); 9] = [
    ("date-time", Format::DateTime),
    ("date", Format::Date),
    ("time", Format::Time),
    ("email", Format::Email),
    ("hostname", Format::Hostname),
    ("ipv4", Format::Ipv4),
    ("ipv6", Format::Ipv6),
    ("uri", Format::Uri),
    ("uuid", Format::Uuid),
];

/// One compiled subschema.
#[derive(Debug, Default)]
struct Node {
    /// `true`/`false` schemas; `None` for an object schema.
    boolean: Option<bool>,
    types: Option<u8>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    properties: Vec<(String, usize)>,
    required: Vec<String>,
    additional: Option<usize>,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    items: Option<usize>,
    prefix_items: Vec<usize>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    minimum: Option<Number>,
    maximum: Option<Number>,
    exclusive_minimum: Option<Number>,
    exclusive_maximum: Option<Number>,
    multiple_of: Option<Number>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<(Regex, String)>,
    format: Option<(Format, &'static str)>,
    all_of: Vec<usize>,
    any_of: Vec<usize>,
    one_of: Vec<usize>,
    not: Option<usize>,
    reference: Option<usize>,
}

/// A compiled schema: `nodes[0]` is the root.
#[derive(Debug)]
pub(crate) struct Schema {
    nodes: Vec<Node>,
}

struct Compiler {
    nodes: Vec<Node>,
    /// Where each subschema sits (escaped JSON pointer) → its node.
    at: BTreeMap<String, usize>,
    /// `$ref`s to resolve once every subschema is compiled: node, target pointer, where.
    refs: Vec<(usize, String, String)>,
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn err(at: &str, what: impl std::fmt::Display) -> String {
    let at = if at.is_empty() { "/" } else { at };
    format!("{what} (at schema {at})")
}

fn count(v: &Value, at: &str, kw: &str) -> Result<u64, String> {
    v.as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .ok_or_else(|| err(at, format!("`{kw}` must be a non-negative integer")))
}

fn number(v: &Value, at: &str, kw: &str) -> Result<Number, String> {
    match v {
        Value::Number(n) => Ok(n.clone()),
        _ => Err(err(at, format!("`{kw}` must be a number"))),
    }
}

fn schema_list(v: &Value, at: &str, kw: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(a) if !a.is_empty() => Ok(a.clone()),
        _ => Err(err(
            at,
            format!("`{kw}` must be a non-empty array of schemas"),
        )),
    }
}

impl Compiler {
    fn compile(&mut self, v: &Value, at: &str, depth: usize) -> Result<usize, String> {
        if depth > limits::MAX_SCHEMA_DEPTH {
            return Err(err(
                at,
                format!(
                    "schema nested deeper than {} levels",
                    limits::MAX_SCHEMA_DEPTH
                ),
            ));
        }
        if self.nodes.len() >= limits::MAX_SCHEMA_NODES {
            return Err(err(
                at,
                format!(
                    "schema has more than {} subschemas",
                    limits::MAX_SCHEMA_NODES
                ),
            ));
        }
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.at.insert(at.to_owned(), id);
        let map = match v {
            Value::Bool(b) => {
                self.set(id, |n| n.boolean = Some(*b));
                return Ok(id);
            }
            Value::Object(map) => map,
            _ => return Err(err(at, "a schema must be an object or a boolean")),
        };
        let mut node = Node::default();
        for (kw, val) in map {
            let here = format!("{at}/{}", escape(kw));
            match kw.as_str() {
                "type" => node.types = Some(types(val, at)?),
                "enum" => match val {
                    Value::Array(a) => node.enumeration = Some(a.clone()),
                    _ => return Err(err(at, "`enum` must be an array")),
                },
                "const" => node.constant = Some(val.clone()),
                "properties" => {
                    let Value::Object(props) = val else {
                        return Err(err(at, "`properties` must be an object"));
                    };
                    for (name, sub) in props {
                        let child = self.compile(sub, &format!("{here}/{}", escape(name)), depth + 1)?;
                        node.properties.push((name.clone(), child));
                    }
                }
                "required" => {
                    let names = val.as_array().and_then(|a| {
                        a.iter()
                            .map(|n| n.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                    });
                    node.required =
                        names.ok_or_else(|| err(at, "`required` must be an array of strings"))?;
                }
                "additionalProperties" => {
                    node.additional = Some(self.compile(val, &here, depth + 1)?)
                }
                "minProperties" => node.min_properties = Some(count(val, at, kw)?),
                "maxProperties" => node.max_properties = Some(count(val, at, kw)?),
                "items" => {
                    if val.is_array() {
                        return Err(err(
                            at,
                            "`items` as an array (draft-07 tuples) is not supported; use `prefixItems`",
                        ));
                    }
                    node.items = Some(self.compile(val, &here, depth + 1)?)
                }
                "prefixItems" => {
                    for (i, sub) in schema_list(val, at, kw)?.iter().enumerate() {
                        let child = self.compile(sub, &format!("{here}/{i}"), depth + 1)?;
                        node.prefix_items.push(child);
                    }
                }
                "minItems" => node.min_items = Some(count(val, at, kw)?),
                "maxItems" => node.max_items = Some(count(val, at, kw)?),
                "uniqueItems" => {
                    node.unique_items = val
                        .as_bool()
                        .ok_or_else(|| err(at, "`uniqueItems` must be a boolean"))?
                }
                "minimum" => node.minimum = Some(number(val, at, kw)?),
                "maximum" => node.maximum = Some(number(val, at, kw)?),
                "exclusiveMinimum" => node.exclusive_minimum = Some(number(val, at, kw)?),
                "exclusiveMaximum" => node.exclusive_maximum = Some(number(val, at, kw)?),
                "multipleOf" => {
                    let n = number(val, at, kw)?;
                    if n.as_f64().is_none_or(|f| f <= 0.0) {
                        return Err(err(at, "`multipleOf` must be greater than 0"));
                    }
                    node.multiple_of = Some(n);
                }
                "minLength" => node.min_length = Some(count(val, at, kw)?),
                "maxLength" => node.max_length = Some(count(val, at, kw)?),
                "pattern" => {
                    let p = val
                        .as_str()
                        .ok_or_else(|| err(at, "`pattern` must be a string"))?;
                    if p.len() > limits::MAX_SCHEMA_PATTERN_BYTES {
                        return Err(err(
                            at,
                            format!(
                                "`pattern` is longer than {} bytes",
                                limits::MAX_SCHEMA_PATTERN_BYTES
                            ),
                        ));
                    }
                    let re = Regex::new(p)
                        .map_err(|e| err(at, format!("`pattern` {p:?} does not compile: {e}")))?;
                    node.pattern = Some((re, p.to_owned()));
                }
                "format" => {
                    let f = val
                        .as_str()
                        .ok_or_else(|| err(at, "`format` must be a string"))?;
                    let found = FORMATS.iter().find(|(name, _)| *name == f);
                    let Some((name, format)) = found else {
                        return Err(err(
                            at,
                            format!(
                                "unsupported format {f:?}; Spur asserts {}",
                                FORMATS.map(|(n, _)| n).join(", ")
                            ),
                        ));
                    };
                    node.format = Some((*format, name));
                }
                "allOf" | "anyOf" | "oneOf" => {
                    let mut children = Vec::new();
                    for (i, sub) in schema_list(val, at, kw)?.iter().enumerate() {
                        children.push(self.compile(sub, &format!("{here}/{i}"), depth + 1)?);
                    }
                    match kw.as_str() {
                        "allOf" => node.all_of = children,
                        "anyOf" => node.any_of = children,
                        _ => node.one_of = children,
                    }
                }
                "not" => node.not = Some(self.compile(val, &here, depth + 1)?),
                "$defs" | "definitions" => {
                    let Value::Object(defs) = val else {
                        return Err(err(at, format!("`{kw}` must be an object")));
                    };
                    for (name, sub) in defs {
                        self.compile(sub, &format!("{here}/{}", escape(name)), depth + 1)?;
                    }
                }
                "$ref" => {
                    let r = val
                        .as_str()
                        .ok_or_else(|| err(at, "`$ref` must be a string"))?;
                    let Some(pointer) = r.strip_prefix('#') else {
                        return Err(err(
                            at,
                            format!("`$ref` {r:?} is not local; only `#…` references within the same schema are allowed"),
                        ));
                    };
                    self.refs.push((id, pointer.to_owned(), at.to_owned()));
                }
                "$id" if at.is_empty() => {}
                "$schema" => {
                    if !at.is_empty() || !val.as_str().is_some_and(|s| DRAFTS.contains(&s)) {
                        return Err(err(
                            at,
                            format!("`$schema` {val} is not supported; use draft 2020-12, 2019-09 or draft-07 at the root"),
                        ));
                    }
                }
                k if ANNOTATIONS.contains(&k) => {}
                k => {
                    return Err(err(
                        at,
                        format!(
                            "unsupported keyword `{k}`: Spur's validator refuses keywords outside its subset rather than ignore them"
                        ),
                    ))
                }
            }
        }
        self.set(id, move |n| *n = node);
        Ok(id)
    }

    fn set(&mut self, id: usize, f: impl FnOnce(&mut Node)) {
        if let Some(n) = self.nodes.get_mut(id) {
            f(n);
        }
    }

    /// Links every `$ref`, then refuses cycles that never descend into the instance.
    fn link(&mut self) -> Result<(), String> {
        for (id, pointer, at) in std::mem::take(&mut self.refs) {
            let target = *self
                .at
                .get(&pointer)
                .ok_or_else(|| err(&at, format!("`$ref` \"#{pointer}\" points at no subschema")))?;
            self.set(id, |n| n.reference = Some(target));
        }
        // Depth-first over the in-place edges ($ref, allOf, anyOf, oneOf, not), iteratively.
        let n = self.nodes.len();
        let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
        for start in 0..n {
            if state.get(start) != Some(&0) {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            if let Some(s) = state.get_mut(start) {
                *s = 1;
            }
            while let Some((node, edge)) = stack.last().copied() {
                let next = self.nodes.get(node).and_then(|nd| in_place(nd).nth(edge));
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match next {
                    None => {
                        if let Some(s) = state.get_mut(node) {
                            *s = 2;
                        }
                        stack.pop();
                    }
                    Some(child) => match state.get(child) {
                        Some(0) => {
                            if let Some(s) = state.get_mut(child) {
                                *s = 1;
                            }
                            stack.push((child, 0));
                        }
                        Some(1) => {
                            let at = self
                                .at
                                .iter()
                                .find(|(_, &i)| i == child)
                                .map(|(p, _)| p.clone())
                                .unwrap_or_default();
                            return Err(err(
                                &at,
                                "`$ref` cycle: the schema refers to itself without descending into the value",
                            ));
                        }
                        _ => {}
                    },
                }
            }
        }
        Ok(())
    }
}

/// The subschemas a node applies to the same value.
fn in_place(n: &Node) -> impl Iterator<Item = usize> + '_ {
    n.reference
        .iter()
        .chain(n.not.iter())
        .chain(&n.all_of)
        .chain(&n.any_of)
        .chain(&n.one_of)
        .copied()
}

fn types(v: &Value, at: &str) -> Result<u8, String> {
    let one = |s: &Value| {
        s.as_str()
            .and_then(|s| TYPE_NAMES.iter().find(|(n, _)| *n == s))
            .map(|(_, bit)| *bit)
            .ok_or_else(|| err(at, format!("`type` {s} is not a JSON Schema type")))
    };
    match v {
        Value::Array(a) => a.iter().try_fold(0, |acc, t| Ok(acc | one(t)?)),
        _ => one(v),
    }
}

impl Schema {
    /// Compiles a schema, or says (naming the keyword and where it is) why it is refused.
    pub(crate) fn compile(schema: &Value) -> Result<Self, String> {
        let mut c = Compiler {
            nodes: Vec::new(),
            at: BTreeMap::new(),
            refs: Vec::new(),
        };
        c.compile(schema, "", 0)?;
        c.link()?;
        Ok(Schema { nodes: c.nodes })
    }

    /// How many subschemas were compiled (for `Debug`).
    pub(crate) fn size(&self) -> usize {
        self.nodes.len()
    }

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

fn check_format(f: Format, s: &str) -> Result<(), &'static str> {
    match f {
        Format::DateTime => {
            let (date, time) = s
                .split_once(['T', 't'])
                .ok_or("missing 'T' between date and time")?;
            check_date(date)?;
            check_time(time)
        }
        Format::Date => check_date(s),
        Format::Time => check_time(s),
        Format::Email => check_email(s),
        Format::Hostname => check_hostname(s),
        Format::Ipv4 => s
            .parse::<std::net::Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| "not an IPv4 address"),
        Format::Ipv6 => s
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "not an IPv6 address"),
        Format::Uri => match url::Url::parse(s) {
            Ok(_) if s.chars().all(|c| c.is_ascii_graphic()) => Ok(()),
            Ok(_) => Err("contains characters a URI may not hold"),
            Err(url::ParseError::RelativeUrlWithoutBase) => Err("relative URI"),
            Err(_) => Err("not a URI"),
        },
        Format::Uuid => {
            let ok = s.len() == 36
                && s.char_indices().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => c == '-',
                    _ => c.is_ascii_hexdigit(),
                });
            if ok {
                Ok(())
            } else {
                Err("not 8-4-4-4-12 hex digits")
            }
        }
    }
}

/// `n` ASCII digits as a number, or `None`.
fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn check_date(s: &str) -> Result<(), &'static str> {
    let bad = "not a full-date (YYYY-MM-DD)";
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    let (y, m, d) = (
        digits(y, 4).ok_or(bad)?,
        digits(m, 2).ok_or(bad)?,
        digits(d, 2).ok_or(bad)?,
    );
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err("month out of range"),
    };
    if d == 0 || d > days {
        return Err("day out of range");
    }
    Ok(())
}

/// RFC 3339 `full-time`: `HH:MM:SS[.frac](Z|±HH:MM)`; a leap second (`:60`) only at 23:59 UTC.
fn check_time(s: &str) -> Result<(), &'static str> {
    let bad = "not a full-time (HH:MM:SS with an offset)";
    let b = s.as_bytes();
    if b.len() < 9 {
        return Err(bad);
    }
    let (hh, mm, ss) = (
        digits(s.get(0..2).ok_or(bad)?, 2).ok_or(bad)?,
        digits(s.get(3..5).ok_or(bad)?, 2).ok_or(bad)?,
        digits(s.get(6..8).ok_or(bad)?, 2).ok_or(bad)?,
    );
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return Err(bad);
    }
    let mut rest = s.get(8..).ok_or(bad)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad);
        }
        rest = frac.get(n..).ok_or(bad)?;
    }
    let offset_min: i64 = if rest == "Z" || rest == "z" {
        0
    } else {
        let sign = match rest.get(0..1) {
            Some("+") => -1,
            Some("-") => 1,
            _ => return Err("missing offset"),
        };
        let oh = digits(rest.get(1..3).ok_or(bad)?, 2).ok_or(bad)?;
        let om = digits(rest.get(4..6).ok_or(bad)?, 2).ok_or(bad)?;
        if rest.len() != 6 || rest.get(3..4) != Some(":") || oh > 23 || om > 59 {
            return Err("bad offset");
        }
        sign * (i64::from(oh) * 60 + i64::from(om))
    };
    if hh > 23 || mm > 59 || ss > 60 {
        return Err("time out of range");
    }
    if ss == 60 {
        let utc = (i64::from(hh) * 60 + i64::from(mm) + offset_min).rem_euclid(24 * 60);
        if utc != 23 * 60 + 59 {
            return Err("leap second not at 23:59 UTC");
        }
    }
    Ok(())
}

fn check_hostname(s: &str) -> Result<(), &'static str> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return Err("empty or longer than 253 characters");
    }
    for label in s.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err("bad label");
        }
    }
    Ok(())
}

/// RFC 5321 mailbox, ASCII: a dot-atom or quoted local part, `@`, a hostname or `[IP]`.
fn check_email(s: &str) -> Result<(), &'static str> {
    let at = s.rfind('@').ok_or("missing @")?;
    let (local, domain) = (s.get(..at).unwrap_or(""), s.get(at + 1..).unwrap_or(""));
    if local.is_empty() || local.len() > 64 {
        return Err("local part empty or longer than 64 characters");
    }
    if let Some(q) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        if q.bytes().any(|b| !(b' '..=b'~').contains(&b)) {
            return Err("bad quoted local part");
        }
    } else {
        const SPECIAL: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
        let ok = !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || SPECIAL.contains(&b));
        if !ok {
            return Err("bad local part");
        }
    }
    if let Some(ip) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let ok = match ip.strip_prefix("IPv6:") {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => ip.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        return if ok {
            Ok(())
        } else {
            Err("bad address literal")
        };
    }
    check_hostname(domain).map_err(|_| "bad domain")
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
