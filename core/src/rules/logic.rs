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
//!
//! Here: compiling, `var`, and the boolean and conditional operators; the others by family in
//! `compare`, `arith`, `text` and `arrays`, over `value`'s coercions.

use std::borrow::Cow;

use serde_json::Value;

mod arith;
mod arrays;
mod compare;
mod text;
mod value;

pub use value::Val;

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

/// Evaluates one operation on its (unevaluated) arguments.
fn call<'a>(op: Op, args: &'a [Node], sc: &Scope<'a>) -> Result<Val<'a>, Fail> {
    match op {
        Op::Eq | Op::StrictEq => compare::equal(op, args, sc),
        Op::Ne | Op::StrictNe => compare::not_equal(op, args, sc),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => compare::chain(op, args, sc),
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
        Op::In => compare::contains(args, sc),
        Op::Cat => text::cat(args, sc),
        Op::Substr => text::substr(args, sc),
        Op::Add | Op::Mul => arith::add_mul(op, args, sc),
        Op::Sub => arith::sub(args, sc),
        Op::Div | Op::Mod => arith::div_mod(op, args, sc),
        Op::Max | Op::Min => arith::max_min(op, args, sc),
        Op::Merge => arrays::merge(args, sc),
        Op::Missing => arrays::missing(args, sc),
        Op::MissingSome => arrays::missing_some(args, sc),
        Op::Map | Op::Filter | Op::All | Op::Some | Op::None => arrays::iterate(op, args, sc),
        Op::Reduce => arrays::reduce(args, sc),
    }
}
