//! The text operators: `cat` and `substr`.
//!
//! Invariant: every operand is written as text the way JSONLogic writes it (`Val::to_text`:
//! an integral number without a fraction); `substr` counts characters, not bytes, and clamps
//! its start and length to the text, so it never fails on a position.

use std::borrow::Cow;

use super::{Fail, Node, Scope, Val};

/// `cat`: the operands written one after another (an array's items each in turn).
pub(super) fn cat<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let mut out = String::new();
    for n in args {
        let v = n.run(sc)?;
        match v.items() {
            Some(items) => items.iter().for_each(|i| out.push_str(&i.to_text())),
            None => out.push_str(&v.to_text()),
        }
    }
    Ok(Val::Str(Cow::Owned(out)))
}

/// `substr`: the characters from a start (counted from the end when negative), as many as a
/// length (all but that many at the end when negative; the rest when absent).
pub(super) fn substr<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    let Some(first) = args.first() else {
        return Ok(Val::Str(Cow::Borrowed("")));
    };
    let text = first.run(sc)?.to_text();
    let int = |i: usize| -> Result<Option<i64>, Fail> {
        Ok(match args.get(i) {
            Some(n) => match n.run(sc)? {
                Val::Num(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => Some(x as i64),
                _ => None,
            },
            None => None,
        })
    };
    let start = int(1)?.unwrap_or(0);
    let len = int(2)?;
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let from = if start < 0 {
        n.saturating_sub(start.unsigned_abs() as usize)
    } else {
        (start as usize).min(n)
    };
    let to = match len {
        Some(l) if l < 0 => n.saturating_sub(l.unsigned_abs() as usize).max(from),
        Some(l) => from.saturating_add(l as usize).min(n),
        None => n,
    };
    Ok(Val::Str(Cow::Owned(
        chars.get(from..to).unwrap_or_default().iter().collect(),
    )))
}
