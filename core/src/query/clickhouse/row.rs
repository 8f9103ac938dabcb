//! Rows as ClickHouse stores them (inserted as `JSONEachRow`) and rows as its queries return
//! them.
//!
//! Invariant: [`event_row`] is a pure function of the event, so a redelivered message produces
//! byte-identical rows (same sort key), which `ReplacingMergeTree` collapses; every JSON key
//! path of `properties`, `context` and `traits` (to [`crate::limits::MAX_JSON_DEPTH`]) gets one
//! `f_*` entry typed as SQLite's `json_extract` would return it. [`user_row`] is likewise a pure
//! function of D1's profile row (its revision included), flattened the same way.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{KIND_NULL, KIND_NUMBER, KIND_TEXT};
use crate::event::{Event, Object};
use crate::instant::to_ms;
use crate::limits::MAX_JSON_DEPTH;

/// One row of the ClickHouse `events` table. Absent ids are '' (the columns are not Nullable).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    /// The dedupe key.
    pub message_id: String,
    /// Message type (`track`, `page`, …).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Track event name.
    pub event: String,
    /// Page/screen name.
    pub name: String,
    /// `userId`.
    pub user_id: String,
    /// `anonymousId`.
    pub anonymous_id: String,
    /// `groupId`.
    pub group_id: String,
    /// `previousId`.
    pub previous_id: String,
    /// The event time in ms since 1970 (clock-skew corrected).
    pub ts_ms: i64,
    /// When the edge received it, ms.
    pub received_ms: i64,
    /// JSON text as stored in D1.
    pub properties: String,
    /// JSON text.
    pub traits: String,
    /// JSON text.
    pub context: String,
    /// The source's write key ('' when none).
    pub write_key: String,
    /// Flattened key paths (`properties$."plan"`).
    pub f_key: Vec<String>,
    /// Their kinds.
    pub f_kind: Vec<u8>,
    /// Their text values.
    pub f_str: Vec<String>,
    /// Their numeric values.
    pub f_num: Vec<f64>,
}

/// One row of the ClickHouse `aliases` table: an anonymous id (or alias `previousId`) linked
/// to a user id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasRow {
    /// The anonymous id.
    pub anonymous_id: String,
    /// The user id.
    pub user_id: String,
    /// When the link was seen (event time), ms; the earliest link wins in queries.
    pub created_ms: i64,
}

/// One row of the ClickHouse `alias_roots` table: D1's flattened alias row (an id and the
/// root of its chain) at revision `rev`; the highest revision per id is current.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AliasRootRow {
    /// The linked id (an anonymous id or a former user id).
    pub id: String,
    /// The person it resolves to.
    pub root: String,
    /// D1's revision of the row (increasing with every change).
    #[serde(deserialize_with = "crate::query::sql::de_int")]
    pub rev: i64,
}

/// One row of the ClickHouse `users` table: D1's profile (its merged traits) at revision
/// `rev`, flattened like an event's traits; the highest revision per user is current.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRow {
    /// The user id (profiles are keyed by it).
    pub user_id: String,
    /// D1's revision of the row (increasing with every change of its traits).
    pub rev: i64,
    /// D1's traits JSON text.
    pub traits: String,
    /// Flattened key paths (`traits$."plan"`).
    pub f_key: Vec<String>,
    /// Their kinds.
    pub f_kind: Vec<u8>,
    /// Their text values.
    pub f_str: Vec<String>,
    /// Their numeric values.
    pub f_num: Vec<f64>,
}

/// D1's `users` row as the mirror reads it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct StoredUser {
    /// The user id.
    pub user_id: String,
    /// The merged traits, JSON text (anything but an object reads as no traits).
    pub traits: String,
    /// D1's revision.
    #[serde(deserialize_with = "crate::query::sql::de_int")]
    pub rev: i64,
}

/// The ClickHouse row of a stored profile: a pure function of it, so a mirror page inserted
/// twice holds identical rows.
pub fn user_row(u: &StoredUser) -> UserRow {
    let traits = match serde_json::from_str::<Value>(&u.traits) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    let mut fields = Fields::default();
    flatten(&mut fields, "traits$", &traits, 1);
    UserRow {
        user_id: u.user_id.clone(),
        rev: u.rev,
        traits: u.traits.clone(),
        f_key: fields.key,
        f_kind: fields.kind,
        f_str: fields.text,
        f_num: fields.num,
    }
}

/// The flattened key paths of JSON objects (the `f_*` columns).
#[derive(Default)]
struct Fields {
    key: Vec<String>,
    kind: Vec<u8>,
    text: Vec<String>,
    num: Vec<f64>,
}

/// The row for an event.
pub fn event_row(e: &Event, write_key: Option<&str>) -> EventRow {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut row = EventRow {
        message_id: e.message_id.clone(),
        kind: e.kind.as_str(),
        event: s(&e.event),
        name: s(&e.name),
        user_id: s(&e.user_id),
        anonymous_id: s(&e.anonymous_id),
        group_id: s(&e.group_id),
        previous_id: s(&e.previous_id),
        ts_ms: to_ms(e.timestamp),
        received_ms: to_ms(e.received_at),
        properties: json_text(&e.properties),
        traits: json_text(&e.traits),
        context: json_text(&e.context),
        write_key: write_key.unwrap_or_default().to_owned(),
        f_key: Vec::new(),
        f_kind: Vec::new(),
        f_str: Vec::new(),
        f_num: Vec::new(),
    };
    let mut fields = Fields::default();
    for (name, obj) in [
        ("properties", &e.properties),
        ("context", &e.context),
        ("traits", &e.traits),
    ] {
        flatten(&mut fields, &format!("{name}$"), obj, 1);
    }
    row.f_key = fields.key;
    row.f_kind = fields.kind;
    row.f_str = fields.text;
    row.f_num = fields.num;
    row
}

/// The alias links an event carries (as the D1 consumer writes them).
pub fn alias_rows(e: &Event) -> Vec<AliasRow> {
    let mut out = Vec::new();
    let Some(uid) = e.user_id.as_deref() else {
        return out;
    };
    let at = to_ms(e.timestamp);
    let link = |anon: &str| AliasRow {
        anonymous_id: anon.to_owned(),
        user_id: uid.to_owned(),
        created_ms: at,
    };
    if let Some(anon) = e.anonymous_id.as_deref() {
        out.push(link(anon));
    }
    if let (crate::MessageType::Alias, Some(prev)) = (e.kind, e.previous_id.as_deref()) {
        out.push(link(prev));
    }
    out
}

fn json_text(o: &Object) -> String {
    serde_json::to_string(o).unwrap_or_else(|_| "{}".into())
}

fn flatten(row: &mut Fields, prefix: &str, obj: &Map<String, Value>, depth: usize) {
    for (k, v) in obj {
        let key = format!("{prefix}.\"{k}\"");
        let (kind, text, num) = match v {
            Value::Null => (KIND_NULL, String::new(), 0.0),
            Value::Bool(b) => (KIND_NUMBER, String::new(), f64::from(u8::from(*b))),
            Value::Number(n) => (KIND_NUMBER, String::new(), n.as_f64().unwrap_or(0.0)),
            Value::String(s) => (KIND_TEXT, s.clone(), 0.0),
            Value::Array(_) | Value::Object(_) => {
                (KIND_TEXT, serde_json::to_string(v).unwrap_or_default(), 0.0)
            }
        };
        row.key.push(key.clone());
        row.kind.push(kind);
        row.text.push(text);
        row.num.push(num);
        if let Value::Object(inner) = v {
            if depth < MAX_JSON_DEPTH {
                flatten(row, &key, inner, depth + 1);
            }
        }
    }
}

/// Parses a `JSONEachRow` answer into rows. A typed value spread over `label_k`/`label_s`/
/// `label_n` columns (see `Typed`) is put back together as the JSON `label` SQLite
/// would have returned: null, a number (an integer when integral) or a string.
pub fn decode_rows<T: DeserializeOwned>(body: &str) -> Result<Vec<T>, serde_json::Error> {
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let mut v: Map<String, Value> = serde_json::from_str(line)?;
        if let Some(k) = v.remove("label_k") {
            let s = v.remove("label_s");
            let n = v.remove("label_n");
            v.insert("label".into(), typed_value(&k, s, n.as_ref()));
        }
        out.push(serde_json::from_value(Value::Object(v))?);
    }
    Ok(out)
}

/// The JSON value of a (kind, text, number) triple.
pub(crate) fn typed_value(k: &Value, s: Option<Value>, n: Option<&Value>) -> Value {
    match k.as_u64() {
        Some(k) if k == u64::from(KIND_TEXT) => s.unwrap_or(Value::Null),
        Some(k) if k == u64::from(KIND_NUMBER) => number(n.and_then(Value::as_f64).unwrap_or(0.0)),
        _ => Value::Null,
    }
}

/// A number as SQLite would hand it back: integral values as integers.
pub(crate) fn number(f: f64) -> Value {
    #[allow(clippy::cast_possible_truncation)] // integral and in range by the check
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_are_put_back_together() {
        #[derive(serde::Deserialize)]
        struct R {
            label: Value,
            n: i64,
        }
        let rows: Vec<R> = decode_rows(
            "{\"label_k\":3,\"label_s\":\"pro\",\"label_n\":0,\"n\":1}\n\
             {\"label_k\":2,\"label_s\":\"\",\"label_n\":3,\"n\":2}\n\
             {\"label_k\":0,\"label_s\":\"\",\"label_n\":0,\"n\":3}\n",
        )
        .unwrap();
        assert_eq!(rows[0].label, json!("pro"));
        assert_eq!(rows[1].label, json!(3));
        assert_eq!(rows[2].label, Value::Null);
        assert_eq!(rows[2].n, 3);
    }
}
