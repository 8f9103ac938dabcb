//! What a branch read, for explain: the value at every `var` path its conditions use.
//!
//! Invariant: read-only over the branch context; missing paths read as `null`, as JSONLogic
//! reads them. The paths are found by the rules' one walk over a condition's reads.

use serde_json::{Map, Value};

use crate::rules::condition::{visit_reads, Read};

/// The values a branch's conditions read (`var` paths), for explain.
pub fn reads<'a>(context: &Value, conditions: impl Iterator<Item = &'a Value>) -> Value {
    let mut paths = Vec::new();
    for c in conditions {
        visit_reads(c, &mut |r| {
            if let Read::Path { op: "var", path } = r {
                if !path.is_empty() {
                    paths.push(path.to_owned());
                }
            }
        });
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
