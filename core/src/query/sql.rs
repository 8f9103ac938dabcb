//! A SQL statement with its bound parameters.
//!
//! Invariant: every value from a request reaches SQL through `Params::bind`, which returns a
//! numbered placeholder; the count is checked against [`super::limits::MAX_SQL_PARAMS`].

use serde::Serialize;

use super::{limits, QueryError};

/// A value bound to a `?N` placeholder.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// An INTEGER.
    Int(i64),
    /// A REAL.
    Real(f64),
    /// TEXT.
    Text(String),
}

impl SqlValue {
    /// The SQL value of a JSON scalar as `json_extract` would return it (`true` is 1).
    pub fn from_json(v: &serde_json::Value) -> Option<SqlValue> {
        use serde_json::Value;
        Some(match v {
            Value::Null => SqlValue::Null,
            Value::Bool(b) => SqlValue::Int(i64::from(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Int(i),
                None => SqlValue::Real(n.as_f64()?),
            },
            Value::String(s) => SqlValue::Text(s.clone()),
            Value::Array(_) | Value::Object(_) => return None,
        })
    }
}

/// A finished statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sql {
    /// The statement text with `?N` placeholders.
    pub text: String,
    /// The values, `params[0]` for `?1`.
    pub params: Vec<SqlValue>,
}

/// Collects bound values while SQL text is built.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: Vec<SqlValue>,
}

impl Params {
    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, v: SqlValue) -> String {
        self.values.push(v);
        format!("?{}", self.values.len())
    }

    /// Binds text.
    pub fn text(&mut self, s: &str) -> String {
        self.bind(SqlValue::Text(s.to_owned()))
    }

    /// Binds an integer.
    pub fn int(&mut self, i: i64) -> String {
        self.bind(SqlValue::Int(i))
    }

    /// Finishes the statement, refusing one with too many parameters.
    pub fn finish(self, text: String) -> Result<Sql, QueryError> {
        if self.values.len() > limits::MAX_SQL_PARAMS {
            return Err(QueryError::TooComplex(self.values.len()));
        }
        Ok(Sql {
            text,
            params: self.values,
        })
    }
}

/// The person an event belongs to (needs [`EVENTS_WITH_ALIASES`]): the root its id links to,
/// else the user id, else the anonymous id. The consumer keeps every `aliases` row pointing at
/// the root of its chain, so one lookup resolves a chain of any length.
pub(crate) const PERSON: &str = "COALESCE(a.user_id, e.user_id, e.anonymous_id)";

/// The events table joined with alias resolution: the event's own id (the user id, else the
/// anonymous id) looked up once in `aliases` (its primary key). A user id is looked up too,
/// because `alias` links a former user id to a newer one.
pub(crate) const EVENTS_WITH_ALIASES: &str =
    "events e LEFT JOIN aliases a ON a.anonymous_id = COALESCE(e.user_id, e.anonymous_id)";

/// Reads an integer column that D1 may hand over as a JS number (so as a float).
pub(crate) fn de_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    de_opt_int(d).map(|v| v.unwrap_or(0))
}

/// Like [`de_int`] for a nullable column.
pub(crate) fn de_opt_int<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            #[allow(clippy::cast_possible_truncation)] // integral by the check
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Ok(Some(f as i64))
            }
            _ => Err(serde::de::Error::custom("expected an integer")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_and_capped() {
        let mut p = Params::default();
        assert_eq!(p.text("a"), "?1");
        assert_eq!(p.int(2), "?2");
        let sql = p.finish("SELECT ?1, ?2".into()).unwrap();
        assert_eq!(
            sql.params,
            vec![SqlValue::Text("a".into()), SqlValue::Int(2)]
        );

        let mut p = Params::default();
        for i in 0..limits::MAX_SQL_PARAMS {
            p.int(i as i64);
        }
        assert!(p.finish(String::new()).is_ok());
        let mut p = Params::default();
        for i in 0..=limits::MAX_SQL_PARAMS {
            p.int(i as i64);
        }
        assert_eq!(
            p.finish(String::new()),
            Err(QueryError::TooComplex(limits::MAX_SQL_PARAMS + 1))
        );
    }

    #[test]
    fn ints_read_from_floats() {
        #[derive(serde::Deserialize)]
        struct R {
            #[serde(deserialize_with = "de_int")]
            n: i64,
        }
        let r: R = serde_json::from_str(r#"{"n": 3.0}"#).unwrap();
        assert_eq!(r.n, 3);
        assert!(serde_json::from_str::<R>(r#"{"n": 3.5}"#).is_err());
    }
}
