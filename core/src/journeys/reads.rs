//! What a branch read, for explain: the value at every `var` path its conditions use.
//!
//! Invariant: read-only over the branch context; missing paths read as `null`, as JSONLogic
//! reads them.

use serde_json::{Map, Value};

/// The values a branch's conditions read (`var` paths), for explain.
pub fn reads<'a>(context: &Value, conditions: impl Iterator<Item = &'a Value>) -> Value {
    let mut paths = Vec::new();
    for c in conditions {
        collect_vars(c, &mut paths);
    }
    paths.sort();
    paths.dedup();
    let mut out = Map::new();
    for p in paths {
        let mut v = context;
        for seg in p.split('.') {
            v = v.get(seg).unwrap_or(&Value::Null);
        }
        out.insert(p, v.clone());
    }
    Value::Object(out)
}

fn collect_vars(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, a) in m {
                if k == "var" {
                    let path = match a {
                        Value::String(s) => Some(s.clone()),
                        Value::Array(xs) => xs.first().and_then(Value::as_str).map(str::to_owned),
                        _ => None,
                    };
                    out.extend(path.filter(|p| !p.is_empty()));
                } else {
                    collect_vars(a, out);
                }
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| collect_vars(x, out)),
        _ => {}
    }
}
