//! The comparison operators: `==`, `===`, `!=`, `!==`, the chained `<`, `<=`, `>`, `>=`, and
//! `in`.
//!
//! Invariant: a chain holds when every adjacent pair does and stops at the first pair that does
//! not, so operands after it are not evaluated; fewer than two operands is an error (`in`: not
//! found). Equality and ordering are `value`'s coercions, whose incomparable pairs are
//! errors.

use super::value::{loose_eq, ordered, strict_eq};
use super::{arg, Fail, Node, Op, Scope, Val};

/// `==` / `===` over two or more operands: each equals the first.
pub(super) fn equal<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let [first, rest @ ..] = args else {
        return Err("invalid arguments".into());
    };
    if rest.is_empty() {
        return Err("invalid arguments".into());
    }
    let a = first.run(sc)?;
    for n in rest {
        let b = n.run(sc)?;
        let eq = if op == Op::Eq {
            loose_eq(&a, &b)?
        } else {
            strict_eq(&a, &b)
        };
        if !eq {
            return Ok(Val::Bool(false));
        }
    }
    Ok(Val::Bool(true))
}

/// `!=` / `!==` over the first two operands.
pub(super) fn not_equal<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    if args.len() < 2 {
        return Err("invalid arguments".into());
    }
    let a = arg(args, 0, sc)?;
    let b = arg(args, 1, sc)?;
    let eq = if op == Op::Ne {
        loose_eq(&a, &b)?
    } else {
        strict_eq(&a, &b)
    };
    Ok(Val::Bool(!eq))
}

/// `<`, `<=`, `>`, `>=`, chained over two or more operands.
pub(super) fn chain<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let [first, rest @ ..] = args else {
        return Err("invalid arguments".into());
    };
    if rest.is_empty() {
        return Err("invalid arguments".into());
    }
    let mut prev = first.run(sc)?;
    for n in rest {
        let cur = n.run(sc)?;
        if !ordered(&prev, &cur, op)? {
            return Ok(Val::Bool(false));
        }
        prev = cur;
    }
    Ok(Val::Bool(true))
}

/// `in`: a substring of text, or a strictly equal item of an array.
pub(super) fn contains<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    if args.len() < 2 {
        return Ok(Val::Bool(false));
    }
    let needle = arg(args, 0, sc)?;
    let hay = arg(args, 1, sc)?;
    Ok(Val::Bool(match (&hay, hay.items()) {
        (Val::Str(h), _) => needle.str().is_some_and(|n| h.contains(n)),
        (_, Some(items)) => items.iter().any(|i| strict_eq(&i, &needle)),
        _ => false,
    }))
}
