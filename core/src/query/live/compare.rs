//! How a live segment reads an event's fields and compares them: as SQLite's `json_extract`
//! returns them to the segment query's SQL.
//!
//! Invariant: [`compare`] answers what the SQL filter answers for the same stored value —
//! numbers with numbers, text above numbers, booleans as 1/0, a missing or null value as SQL
//! NULL (false, except `neq` and `not_exists`).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::query::field::{EventMatcher, Field, Filter, FilterOp};
use crate::Event;

/// A value as `json_extract` returns it to SQL.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Sv {
    Int(i64),
    Real(f64),
    Text(String),
}

pub(super) fn sv(v: &Value) -> Option<Sv> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => Sv::Int(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sv::Int(i),
            None => Sv::Real(n.as_f64()?),
        },
        Value::String(s) => Sv::Text(s.clone()),
        // json_extract returns a container as its (minified) JSON text.
        Value::Array(_) | Value::Object(_) => Sv::Text(v.to_string()),
    })
}

/// SQLite's comparison of two non-NULL values without affinity: numbers by value, any
/// number below any text, text by bytes.
#[allow(clippy::cast_precision_loss)] // SQLite compares INTEGER with REAL as doubles too
pub(super) fn cmp(a: &Sv, b: &Sv) -> Ordering {
    match (a, b) {
        (Sv::Int(x), Sv::Int(y)) => x.cmp(y),
        (Sv::Int(x), Sv::Real(y)) => (*x as f64).partial_cmp(y).unwrap_or(Ordering::Equal),
        (Sv::Real(x), Sv::Int(y)) => x.partial_cmp(&(*y as f64)).unwrap_or(Ordering::Equal),
        (Sv::Real(x), Sv::Real(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Sv::Text(x), Sv::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Sv::Text(_), _) => Ordering::Greater,
        (_, Sv::Text(_)) => Ordering::Less,
    }
}

/// The text `instr` sees for a value.
pub(super) fn as_text(v: &Sv) -> String {
    match v {
        Sv::Int(i) => i.to_string(),
        Sv::Real(r) => {
            let s = r.to_string();
            if s.contains(['.', 'e', 'E']) || !r.is_finite() {
                s
            } else {
                format!("{s}.0")
            }
        }
        Sv::Text(t) => t.clone(),
    }
}

/// Whether `filter` holds for the value `x` (`None`: SQL NULL), as its SQL does.
pub(super) fn compare(filter: &Filter, x: Option<&Sv>) -> bool {
    let value = filter.value.as_ref().and_then(sv);
    match filter.op {
        FilterOp::Exists => x.is_some(),
        FilterOp::NotExists => x.is_none(),
        FilterOp::Neq => match (x, value.as_ref()) {
            (None, _) => true,
            (Some(x), Some(v)) => cmp(x, v) != Ordering::Equal,
            (Some(_), None) => true,
        },
        FilterOp::Contains => match (x, value.as_ref()) {
            (Some(x), Some(Sv::Text(s))) => as_text(x).contains(s.as_str()),
            _ => false,
        },
        FilterOp::In => {
            let Some(x) = x else { return false };
            match &filter.value {
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(sv)
                    .any(|v| cmp(x, &v) == Ordering::Equal),
                _ => false,
            }
        }
        op => {
            let (Some(x), Some(v)) = (x, value.as_ref()) else {
                return false;
            };
            let o = cmp(x, v);
            match op {
                FilterOp::Eq => o == Ordering::Equal,
                FilterOp::Gt => o == Ordering::Greater,
                FilterOp::Gte => o != Ordering::Less,
                FilterOp::Lt => o == Ordering::Less,
                _ => o != Ordering::Greater,
            }
        }
    }
}

/// Follows a `json_path`-validated dotted path inside an object.
pub(super) fn lookup<'a>(root: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut v = root.get(first)?;
    for seg in rest {
        v = v.as_object()?.get(seg)?;
    }
    Some(v)
}

pub(super) fn field_value(field: &Field, raw: &str, e: &Event) -> Option<Sv> {
    match field {
        Field::Column(crate::query::field::Column::Event) => e.event.clone().map(Sv::Text),
        Field::Column(crate::query::field::Column::Name) => e.name.clone().map(Sv::Text),
        Field::Column(crate::query::field::Column::Type) => Some(Sv::Text(e.kind.as_str().into())),
        Field::Json(col, _) => {
            let (root, rest) = raw.split_once('.')?;
            let obj = match (col, root) {
                (crate::query::field::JsonColumn::Properties, _) => &e.properties,
                (crate::query::field::JsonColumn::Context, _) => &e.context,
                (crate::query::field::JsonColumn::Traits, _) => &e.traits,
            };
            let path: Vec<String> = rest.split('.').map(str::to_owned).collect();
            lookup(obj, &path).and_then(sv)
        }
    }
}

pub(super) fn matches(m: &EventMatcher, e: &Event) -> bool {
    match m {
        EventMatcher::Any => true,
        EventMatcher::Track(name) => e.event.as_deref() == Some(name.as_str()),
        EventMatcher::Type(t) => e.kind.as_str() == *t,
    }
}

pub(super) fn ms(e: &Event) -> i64 {
    crate::instant::to_ms(e.timestamp)
}
