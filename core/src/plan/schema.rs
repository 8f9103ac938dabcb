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
use serde_json::{Number, Value};

use crate::limits;

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
}

mod check;
mod format;

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
