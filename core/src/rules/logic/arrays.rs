//! The operators over collections and paths: `merge`, `missing`, `missing_some`, and the
//! iterating `map`, `filter`, `reduce`, `all`, `some`, `none`.
//!
//! Invariant: elements are walked in order (an object's values in its map's order); inside
//! `map`, `filter` and the quantifiers each element is the whole `var` scope, inside `reduce`
//! only `current` and `accumulator` are; a quantifier stops at the first element that decides
//! it.

use serde_json::Value;

use super::value::Items;
use super::{arg, segments, Fail, Node, Op, Scope, Val};

/// `merge`: the operands' items (an array's) or the operands themselves, in one array.
pub(super) fn merge<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let mut out = Vec::new();
    for n in args {
        let v = n.run(sc)?;
        // Nulls are dropped, at the top and one level down (as datalogic does).
        match v.items() {
            Some(items) => out.extend(items.iter().filter(|i| !matches!(i, Val::Null))),
            None if matches!(v, Val::Null) => {}
            None => out.push(v),
        }
    }
    Ok(Val::Arr(out))
}

/// `missing`: the keys (an array operand's items each) that name no present path.
pub(super) fn missing<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let mut out = Vec::new();
    for n in args {
        let v = n.run(sc)?;
        match v.items() {
            Some(items) => {
                for key in items.iter() {
                    check_missing(key, sc, &mut out);
                }
            }
            None => {
                check_missing(v, sc, &mut out);
            }
        }
    }
    Ok(Val::Arr(out))
}

/// Records `key` when it is text naming an absent path; `true` when it names a present one.
/// Keys that are not text are skipped (as datalogic does).
fn check_missing<'a>(key: Val<'a>, sc: &Scope<'a>, out: &mut Vec<Val<'a>>) -> bool {
    let Some(path) = key.str() else {
        return false;
    };
    // Only an absent key is missing; a present `null` is not (as datalogic reads it).
    if sc.lookup(&segments(path)).is_some() {
        return true;
    }
    out.push(key);
    false
}

/// `missing_some`: nothing when at least the first operand's number of the keys are present;
/// else the absent ones.
pub(super) fn missing_some<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let need = arg(args, 0, sc)?.number().unwrap_or(0.0);
    let keys = arg(args, 1, sc)?;
    let mut out = Vec::new();
    let mut found = 0.0;
    if let Some(items) = keys.items() {
        for key in items.iter() {
            if check_missing(key, sc, &mut out) {
                found += 1.0;
            }
        }
    }
    Ok(if found >= need {
        Val::Arr(Vec::new())
    } else {
        Val::Arr(out)
    })
}

/// The elements `map`/`filter`/`all`/`some`/`none` walk: an array's items or an object's
/// values; `None` for anything else.
fn source<'a>(v: &Val<'a>) -> Option<Vec<Val<'a>>> {
    match v {
        Val::Json(Value::Object(m)) => Some(m.values().map(Val::from_json).collect()),
        _ => v.items().map(|i| i.iter().collect()),
    }
}

/// `map`, `filter`, `all`, `some`, `none`: the body over an array's items or an object's values.
pub(super) fn iterate<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let quantifier = matches!(op, Op::All | Op::Some | Op::None);
    if quantifier && args.len() != 2 {
        return Err("invalid arguments".into());
    }
    let src = arg(args, 0, sc)?;
    let owned;
    let items = match (op, src.items()) {
        (_, Some(items)) => items,
        (_, None) => {
            owned = match &src {
                Val::Json(Value::Object(m)) => m.values().map(Val::from_json).collect(),
                Val::Null => Vec::new(),
                // `map` reads one other value as a one-element array; `filter` refuses it.
                _ if op == Op::Map => vec![src.clone()],
                _ if op == Op::Filter => return Err("invalid arguments".into()),
                _ => Vec::new(),
            };
            Items::Own(&owned)
        }
    };
    let count = items.len();
    let body = args.get(1);
    let mut out = Vec::new();
    for item in items.iter() {
        let inner = Scope::Root(item);
        let v = match body {
            Some(b) => b.run(&inner)?,
            None => Val::Null,
        };
        let Scope::Root(item) = inner else {
            continue;
        };
        match op {
            Op::Map => out.push(v),
            Op::Filter if v.truthy() => out.push(item),
            Op::All if !v.truthy() => return Ok(Val::Bool(false)),
            Op::Some if v.truthy() => return Ok(Val::Bool(true)),
            Op::None if v.truthy() => return Ok(Val::Bool(false)),
            _ => {}
        }
    }
    Ok(match op {
        Op::All => Val::Bool(count > 0),
        Op::Some => Val::Bool(false),
        Op::None => Val::Bool(true),
        _ => Val::Arr(out),
    })
}

/// `reduce`: the body over each element with `current` and `accumulator`, starting from the
/// third operand.
pub(super) fn reduce<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let src = arg(args, 0, sc)?;
    let mut acc = arg(args, 2, sc)?;
    let Some(body) = args.get(1) else {
        return Ok(acc);
    };
    for item in source(&src).unwrap_or_default() {
        let inner = Scope::Reduce {
            current: item,
            accumulator: acc,
        };
        acc = body.run(&inner)?;
    }
    Ok(acc)
}
