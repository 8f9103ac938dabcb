//! Values during evaluation ([`Val`], borrowed from the document where possible) and
//! JSONLogic's comparisons over them: loose `==`, strict `===`, and ordering.
//!
//! Invariant: these coercions are datalogic-rs 5.4's (see the parent module); an
//! incomparable pair is an `Err`, never a silent `false`, so `explain` can say why.

use std::borrow::Cow;

use serde_json::Value;

use super::{Fail, Op, Seg};

/// A value during evaluation: borrowed from the document or the condition where possible.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    /// `null`
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// Text.
    Str(Cow<'a, str>),
    /// A computed array.
    Arr(Vec<Val<'a>>),
    /// An array or object of the document or the condition, not copied.
    Json(&'a Value),
}

impl<'a> Val<'a> {
    pub(super) fn from_json(v: &'a Value) -> Val<'a> {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            _ => Val::Json(v),
        }
    }

    /// JavaScript truthiness (empty arrays and objects are false).
    pub fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Num(n) => *n != 0.0 && !n.is_nan(),
            Val::Str(s) => !s.is_empty(),
            Val::Arr(a) => !a.is_empty(),
            Val::Json(Value::Array(a)) => !a.is_empty(),
            Val::Json(Value::Object(o)) => !o.is_empty(),
            Val::Json(v) => Val::from_json(v).truthy(),
        }
    }

    pub(super) fn items(&self) -> Option<Items<'a, '_>> {
        match self {
            Val::Arr(a) => Some(Items::Own(a)),
            Val::Json(Value::Array(a)) => Some(Items::Json(a)),
            _ => None,
        }
    }

    pub(super) fn is_object(&self) -> bool {
        matches!(self, Val::Json(Value::Object(_)))
    }

    pub(super) fn is_collection(&self) -> bool {
        matches!(
            self,
            Val::Arr(_) | Val::Json(Value::Array(_) | Value::Object(_))
        )
    }

    pub(super) fn str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn step(&self, seg: &Seg) -> Option<Val<'a>> {
        match self {
            Val::Json(Value::Object(m)) => m.get(&*seg.key).map(Val::from_json),
            Val::Json(Value::Array(a)) => a.get(seg.index?).map(Val::from_json),
            Val::Arr(a) => a.get(seg.index?).cloned(),
            _ => None,
        }
    }

    /// Text as `cat` writes it.
    pub(super) fn to_text(&self) -> String {
        match self {
            Val::Null => String::new(),
            Val::Bool(b) => b.to_string(),
            Val::Num(n) => num_text(*n),
            Val::Str(s) => s.to_string(),
            Val::Arr(_) => self.to_json().to_string(),
            Val::Json(v) => v.to_string(),
        }
    }

    pub(super) fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Num(n) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => {
                Value::from(*n as i64)
            }
            Val::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Val::Str(s) => Value::String(s.to_string()),
            Val::Arr(items) => Value::Array(items.iter().map(Val::to_json).collect()),
            Val::Json(v) => (*v).clone(),
        }
    }

    /// Numeric coercion: numbers, numeric text, `""`/`null` as 0, booleans as 0/1.
    pub(super) fn number(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(s) if s.is_empty() => Some(0.0),
            Val::Str(s) => s.parse().ok(),
            Val::Bool(b) => Some(f64::from(u8::from(*b))),
            Val::Null => Some(0.0),
            _ => None,
        }
    }
}

fn num_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

pub(super) enum Items<'a, 'b> {
    Own(&'b [Val<'a>]),
    Json(&'a [Value]),
}

impl<'a> Items<'a, '_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Items::Own(a) => a.len(),
            Items::Json(a) => a.len(),
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<Val<'a>> {
        match self {
            Items::Own(a) => a.get(i).cloned(),
            Items::Json(a) => a.get(i).map(Val::from_json),
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Val<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

pub(super) fn nan() -> Fail {
    "NaN".into()
}

pub(super) fn loose_eq(a: &Val<'_>, b: &Val<'_>) -> Result<bool, Fail> {
    use Val::*;
    Ok(match (a, b) {
        (Null, Null) => true,
        (Bool(x), Bool(y)) => x == y,
        (Str(x), Str(y)) => x == y,
        (Num(x), Num(y)) => x == y,
        (Num(n), Str(s)) | (Str(s), Num(n)) => match s.parse::<f64>() {
            Ok(f) => *n == f,
            Err(_) => return Err(nan()),
        },
        (Num(n), Bool(b)) | (Bool(b), Num(n)) => *n == f64::from(u8::from(*b)),
        (Str(s), Bool(b)) | (Bool(b), Str(s)) => *s == if *b { "true" } else { "false" },
        (Null, Num(n)) | (Num(n), Null) => *n == 0.0,
        (Null, Bool(b)) | (Bool(b), Null) => !*b,
        (Null, Str(s)) | (Str(s), Null) => s.is_empty(),
        _ => match (a.items(), b.items()) {
            // Equal arrays are equal; unequal ones are incomparable (an error), as in datalogic.
            (Some(x), Some(y)) if same_items(&x, &y) => true,
            _ if a.is_object() && b.is_object() => false,
            _ => return Err(nan()),
        },
    })
}

/// Structural equality (`===`, `in`, and array-to-array `==`).
pub(super) fn strict_eq(a: &Val<'_>, b: &Val<'_>) -> bool {
    use Val::*;
    match (a, b) {
        (Null, Null) => true,
        (Bool(x), Bool(y)) => x == y,
        (Num(x), Num(y)) => x == y,
        (Str(x), Str(y)) => x == y,
        (Json(Value::Object(x)), Json(Value::Object(y))) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.get(k)
                        .is_some_and(|w| strict_eq(&Val::from_json(v), &Val::from_json(w)))
                })
        }
        _ => match (a.items(), b.items()) {
            (Some(x), Some(y)) => same_items(&x, &y),
            _ => false,
        },
    }
}

pub(super) fn same_items(x: &Items<'_, '_>, y: &Items<'_, '_>) -> bool {
    x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| strict_eq(&a, &b))
}

pub(super) fn ordered(a: &Val<'_>, b: &Val<'_>, op: Op) -> Result<bool, Fail> {
    let by_f64 = |x: f64, y: f64| match op {
        Op::Lt => x < y,
        Op::Le => x <= y,
        Op::Gt => x > y,
        _ => x >= y,
    };
    if let (Val::Num(x), Val::Num(y)) = (a, b) {
        return Ok(by_f64(*x, *y));
    }
    if let (Some(x), Some(y)) = (a.str(), b.str()) {
        return Ok(match op {
            Op::Lt => x < y,
            Op::Le => x <= y,
            Op::Gt => x > y,
            _ => x >= y,
        });
    }
    if a.is_collection() || b.is_collection() {
        return Err(nan());
    }
    if let (Some(x), Some(y)) = (a.number(), b.number()) {
        return Ok(by_f64(x, y));
    }
    if matches!(
        (a, b),
        (Val::Num(_), Val::Str(_)) | (Val::Str(_), Val::Num(_))
    ) {
        return Err(nan());
    }
    Ok(false)
}
