//! A compact JSONLogic evaluator: a condition is compiled once into a small typed tree and
//! evaluated against a borrowed JSON document without copying it.
//!
//! Invariant: the operators and their semantics are those of standard JSONLogic as
//! `datalogic-rs` 5.4 (default configuration) evaluates them — `var`, `missing`,
//! `missing_some`, `if`/`?:`, `==`, `===`, `!=`, `!==`, `<`, `<=`, `>`, `>=` (chained),
//! `!`, `!!`, `and`, `or`, `in`, `cat`, `substr`, `+`, `-`, `*`, `/`, `%`, `max`, `min`,
//! `merge`, `map`, `filter`, `reduce`, `all`, `some`, `none`. `core/tests/logic_diff.rs`
//! checks that over random conditions and events. An evaluation error (comparing an array
//! with a number, arithmetic on text) is an `Err` that propagates to the top, where the
//! caller reads it as "does not hold".
//!
//! Deliberate differences from datalogic-rs (none reachable from a sane rule): numbers are
//! `f64` throughout, so sums beyond 2^53 round (datalogic keeps exact `i64`) and `cat`/`substr`
//! write every integral number without a fraction (datalogic writes a computed `5.0` or a
//! literal `1.0` as `5.0`/`1.0`); division or remainder by zero is always an error (datalogic:
//! an error for integer operands, ±`f64::MAX` for others); `val` (datalogic's JSONLogic-2
//! extension with scope levels) is not offered; inside `reduce` a `var` other than
//! `current`/`accumulator` reads `null`; `filter` over an object keeps the values as an array
//! (datalogic keeps an object; both are empty, so falsy, alike); in `filter`, an element's
//! absent field reads `null` as everywhere else (datalogic's fast path reads it as unequal
//! even to `null`).

use std::borrow::Cow;

use serde_json::Value;

mod value;

pub use value::Val;
use value::{loose_eq, nan, ordered, strict_eq, Items};

/// Why a compile or an evaluation failed (the text is for `explain`).
pub type Fail = Cow<'static, str>;

/// The accepted operators, by name.
pub const OPERATORS: [&str; 34] = [
    "var",
    "missing",
    "missing_some",
    "if",
    "?:",
    "==",
    "===",
    "!=",
    "!==",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "!!",
    "and",
    "or",
    "in",
    "cat",
    "substr",
    "+",
    "-",
    "*",
    "/",
    "%",
    "max",
    "min",
    "merge",
    "map",
    "filter",
    "reduce",
    "all",
    "some",
    "none",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Missing,
    MissingSome,
    If,
    Eq,
    StrictEq,
    Ne,
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
    Not,
    Truthy,
    And,
    Or,
    In,
    Cat,
    Substr,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Max,
    Min,
    Merge,
    Map,
    Filter,
    Reduce,
    All,
    Some,
    None,
}

fn op_of(name: &str) -> Option<Op> {
    Some(match name {
        "missing" => Op::Missing,
        "missing_some" => Op::MissingSome,
        "if" | "?:" => Op::If,
        "==" => Op::Eq,
        "===" => Op::StrictEq,
        "!=" => Op::Ne,
        "!==" => Op::StrictNe,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "!" => Op::Not,
        "!!" => Op::Truthy,
        "and" => Op::And,
        "or" => Op::Or,
        "in" => Op::In,
        "cat" => Op::Cat,
        "substr" => Op::Substr,
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "/" => Op::Div,
        "%" => Op::Mod,
        "max" => Op::Max,
        "min" => Op::Min,
        "merge" => Op::Merge,
        "map" => Op::Map,
        "filter" => Op::Filter,
        "reduce" => Op::Reduce,
        "all" => Op::All,
        "some" => Op::Some,
        "none" => Op::None,
        _ => return None,
    })
}

/// One path step: an object key, or (when it reads as an index) an array position.
#[derive(Debug, Clone)]
struct Seg {
    key: Box<str>,
    index: Option<usize>,
}

fn segments(path: &str) -> Vec<Seg> {
    if path.is_empty() {
        return Vec::new();
    }
    path.split('.')
        .map(|s| Seg {
            key: s.into(),
            index: s.parse::<usize>().ok(),
        })
        .collect()
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Node(Kind);

#[derive(Debug, Clone)]
enum Kind {
    Lit(Value),
    List(Vec<Node>),
    /// `var` with a literal path.
    Var(Vec<Seg>, Option<Box<Node>>),
    /// `var` with a computed path.
    VarDyn(Box<Node>, Option<Box<Node>>),
    Call(Op, Vec<Node>),
}

impl Node {
    /// Compiles a JSONLogic expression. Objects must be exactly one known operator.
    pub fn compile(v: &Value) -> Result<Node, Fail> {
        Ok(Node(match v {
            // An array of plain data is one literal, read in place at every evaluation.
            Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
                if items.iter().all(is_data) {
                    Kind::Lit(v.clone())
                } else {
                    Kind::List(items.iter().map(Node::compile).collect::<Result<_, _>>()?)
                }
            }
            Value::Array(items) => {
                let nodes = items.iter().map(Node::compile).collect::<Result<_, _>>()?;
                Kind::List(nodes)
            }
            Value::Object(map) => {
                let mut it = map.iter();
                let (Some((name, args)), None) = (it.next(), it.next()) else {
                    return Err("an operation is an object with exactly one key".into());
                };
                let args: Vec<&Value> = match args {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                if name == "var" {
                    compile_var(&args)?
                } else {
                    let op = op_of(name)
                        .ok_or_else(|| Fail::from(format!("unknown operator {name:?}")))?;
                    let nodes = args
                        .into_iter()
                        .map(Node::compile)
                        .collect::<Result<_, _>>()?;
                    Kind::Call(op, nodes)
                }
            }
            other => Kind::Lit(other.clone()),
        }))
    }

    /// Evaluates against `data`; the result's truthiness is the condition's verdict.
    pub fn eval<'a>(&'a self, data: &'a Value) -> Result<Val<'a>, Fail> {
        self.run(&Scope::Root(Val::Json(data)))
    }

    fn run<'a>(&'a self, sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
        match &self.0 {
            Kind::Lit(v) => Ok(Val::from_json(v)),
            Kind::List(items) => Ok(Val::Arr(
                items.iter().map(|n| n.run(sc)).collect::<Result<_, _>>()?,
            )),
            Kind::Var(path, default) => match sc.lookup(path) {
                Some(v) => Ok(v),
                None => default.as_ref().map_or(Ok(Val::Null), |d| d.run(sc)),
            },
            Kind::VarDyn(path, default) => {
                let p = path.run(sc)?;
                let found = match &p {
                    Val::Null => Some(sc.data()),
                    Val::Arr(items) if items.is_empty() => Some(sc.data()),
                    other => sc.lookup(&segments(&other.to_text())),
                };
                match found {
                    Some(v) => Ok(v),
                    None => default.as_ref().map_or(Ok(Val::Null), |d| d.run(sc)),
                }
            }
            Kind::Call(op, args) => call(*op, args, sc),
        }
    }
}

/// Plain data: no operation anywhere inside.
fn is_data(v: &Value) -> bool {
    match v {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().all(is_data),
        _ => true,
    }
}

/// A literal array written in the condition (datalogic does not spread those).
fn literal_array(args: &[Node]) -> bool {
    matches!(args, [Node(Kind::List(_) | Kind::Lit(Value::Array(_)))])
}

fn compile_var(args: &[&Value]) -> Result<Kind, Fail> {
    let default = match args.get(1) {
        Some(d) => Some(Box::new(Node::compile(d)?)),
        None => None,
    };
    Ok(match args.first() {
        None | Some(Value::Null) => Kind::Var(Vec::new(), default),
        Some(Value::String(s)) => Kind::Var(segments(s), default),
        Some(Value::Number(n)) => Kind::Var(segments(&n.to_string()), default),
        Some(other) => Kind::VarDyn(Box::new(Node::compile(other)?), default),
    })
}

/// What `var` reads: the document (or an iterated element), or `reduce`'s two slots.
enum Scope<'a> {
    Root(Val<'a>),
    Reduce {
        current: Val<'a>,
        accumulator: Val<'a>,
    },
}

impl<'a> Scope<'a> {
    fn data(&self) -> Val<'a> {
        match self {
            Scope::Root(v) => v.clone(),
            Scope::Reduce { .. } => Val::Null,
        }
    }

    fn lookup(&self, path: &[Seg]) -> Option<Val<'a>> {
        let (mut cur, rest) = match self {
            Scope::Root(v) => (v.clone(), path),
            Scope::Reduce {
                current,
                accumulator,
            } => {
                let (first, rest) = path.split_first()?;
                match &*first.key {
                    "current" => (current.clone(), rest),
                    "accumulator" => (accumulator.clone(), rest),
                    _ => return None,
                }
            }
        };
        for seg in rest {
            cur = cur.step(seg)?;
        }
        Some(cur)
    }
}

fn arg<'a>(args: &'a [Node], i: usize, sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    match args.get(i) {
        Some(n) => n.run(sc),
        None => Ok(Val::Null),
    }
}

fn call<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    match op {
        Op::Eq | Op::StrictEq => {
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
        Op::Ne | Op::StrictNe => {
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
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
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
        Op::Not => match args.first() {
            None => Ok(Val::Bool(true)),
            Some(n) => Ok(Val::Bool(!n.run(sc)?.truthy())),
        },
        Op::Truthy => match args.first() {
            None => Ok(Val::Bool(false)),
            Some(n) => Ok(Val::Bool(n.run(sc)?.truthy())),
        },
        Op::And | Op::Or => {
            if args.is_empty() {
                return Ok(Val::Null);
            }
            let want = op == Op::Or;
            let mut last = Val::Bool(!want);
            for n in args {
                let v = n.run(sc)?;
                if v.truthy() == want {
                    return Ok(v);
                }
                last = v;
            }
            Ok(last)
        }
        Op::If => {
            let mut i = 0;
            while let Some(c) = args.get(i) {
                let Some(then) = args.get(i + 1) else {
                    return c.run(sc);
                };
                if c.run(sc)?.truthy() {
                    return then.run(sc);
                }
                i += 2;
            }
            Ok(Val::Null)
        }
        Op::In => {
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
        Op::Cat => {
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
        Op::Substr => substr(args, sc),
        Op::Add | Op::Mul => {
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
        Op::Sub => {
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
        Op::Div | Op::Mod => {
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
        Op::Max | Op::Min => {
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
        Op::Merge => {
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
        Op::Missing => missing(args, sc),
        Op::MissingSome => missing_some(args, sc),
        Op::Map | Op::Filter | Op::All | Op::Some | Op::None => iterate(op, args, sc),
        Op::Reduce => reduce(args, sc),
    }
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

fn substr<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
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

fn missing<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
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

fn missing_some<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
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

fn iterate<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
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

fn reduce<'a>(args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
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
