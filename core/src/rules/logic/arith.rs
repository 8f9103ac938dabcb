//! The arithmetic operators: `+`, `-`, `*`, `/`, `%`, `max`, `min`.
//!
//! Invariant: numbers are `f64` throughout; an operand that does not read as a number and a
//! division or remainder by zero are errors, never a silent `NaN` (see the parent module for
//! how this differs from datalogic-rs). One array operand is spread into its items (`+`, `*`,
//! `max` and `min` refuse one written literally in the condition, as datalogic does).

use serde_json::Value;

use super::value::nan;
use super::{Fail, Kind, Node, Op, Scope, Val};

/// A literal array written in the condition (datalogic does not spread those).
fn literal_array(args: &[Node]) -> bool {
    matches!(args, [Node(Kind::List(_) | Kind::Lit(Value::Array(_)))])
}

/// Arithmetic arguments: one array argument is spread into its items.
fn spread<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Vec<Val<'a>>, Fail> {
    if let [one] = args {
        let v = one.run(sc)?;
        return Ok(match v.items() {
            Some(items) => items.iter().collect(),
            None => vec![v],
        });
    }
    args.iter().map(|n| n.run(sc)).collect()
}

/// `+` / `*`: the sum or product of the (spread) operands.
pub(super) fn add_mul<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let (mut acc, f): (f64, fn(f64, f64) -> f64) = if op == Op::Add {
        (0.0, |a, b| a + b)
    } else {
        (1.0, |a, b| a * b)
    };
    if literal_array(args) {
        // A literal array is not spread (datalogic reads it as NaN).
        return Err(nan());
    }
    let vals = spread(args, sc)?;
    for v in vals {
        acc = f(acc, v.number().ok_or_else(nan)?);
    }
    Ok(Val::Num(acc))
}

/// `-`: the first operand minus the rest.
pub(super) fn sub<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    // One array argument: its first item minus the rest; one value: its negation.
    let (vals, negate) = match args {
        [one] => {
            let v = one.run(sc)?;
            match v.items() {
                Some(items) => (items.iter().collect::<Vec<_>>(), false),
                None => (vec![v], true),
            }
        }
        _ => (
            args.iter().map(|n| n.run(sc)).collect::<Result<_, _>>()?,
            false,
        ),
    };
    let mut it = vals.into_iter();
    let first = it
        .next()
        .ok_or("invalid arguments")?
        .number()
        .ok_or_else(nan)?;
    if negate {
        return Ok(Val::Num(-first));
    }
    let mut acc = first;
    for v in it {
        acc -= v.number().ok_or_else(nan)?;
    }
    Ok(Val::Num(acc))
}

/// `/` / `%`: the first (spread) operand divided by the rest in turn.
pub(super) fn div_mod<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let vals = spread(args, sc)?;
    let vals_len = vals.len();
    let mut it = vals.into_iter();
    let mut acc = it
        .next()
        .ok_or("invalid arguments")?
        .number()
        .ok_or_else(nan)?;
    let mut any = false;
    if op == Op::Div && args.len() == 1 && vals_len == 1 {
        // One divisor: its reciprocal.
        if acc == 0.0 {
            return Err(nan());
        }
        return Ok(Val::Num(1.0 / acc));
    }
    for v in it {
        any = true;
        let d = v.number().ok_or_else(nan)?;
        if d == 0.0 {
            return Err(nan());
        }
        acc = if op == Op::Div { acc / d } else { acc % d };
    }
    if !any {
        return Err("invalid arguments".into());
    }
    Ok(Val::Num(acc))
}

/// `max` / `min` of the (spread) operands, which must all be numbers.
pub(super) fn max_min<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let mut best: Option<f64> = None;
    // One computed array is spread; a literal one is refused.
    if literal_array(args) {
        return Err("invalid arguments".into());
    }
    let vals = spread(args, sc)?;
    for v in vals {
        let Val::Num(n) = v else {
            return Err("invalid arguments".into());
        };
        best = Some(match best {
            Some(b) if op == Op::Max => b.max(n),
            Some(b) => b.min(n),
            None => n,
        });
    }
    best.map(Val::Num).ok_or_else(|| "invalid arguments".into())
}
