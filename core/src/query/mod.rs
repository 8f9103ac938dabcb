//! Analysis queries: insight, funnel (either broken down by a person's cohort), conversion drivers, retention and segment definitions, their SQL, and the pure
//! post-processing of the rows the database returns.
//!
//! Invariant: every definition is validated before any SQL exists, and the SQL this module
//! builds never contains a string from the request: names, values and JSON paths are bound
//! parameters (`?N`); only integers computed from validated typed values (interval and window
//! lengths, limits) and fixed column names are written into the text. A query also never
//! binds more than [`limits::MAX_SQL_PARAMS`] parameters (D1's cap).
//!
//! A *person* is `COALESCE(a.user_id, e.user_id, e.anonymous_id)` with `aliases a` joined on
//! the event's own id (user id, else anonymous id): the root of the alias chain that id
//! belongs to, else the id itself. The events consumer keeps every alias row pointing at its
//! chain's root (`edge/src/storage/events.rs`), so chains of any length resolve in one join.

pub mod campaign;
pub mod clickhouse;
pub mod cohort;
pub mod drivers;
pub mod field;
pub mod funnel;
pub mod insight;
pub mod limits;
pub mod live;
pub mod live_set;
pub mod recent;
pub mod retention;
pub mod segment;
pub mod sql;
pub mod time_range;
pub mod zone;

pub use campaign::{CampaignQuery, CampaignResult, CampaignRow, Goal as CampaignGoalSpec};
pub use cohort::{Cohort, CohortPeriod};
pub use drivers::{DriverRow, DriversQuery, DriversResult};
pub use field::{EventMatcher, Field, Filter, FilterOp};
pub use funnel::{FunnelQuery, FunnelResult, FunnelRow};
pub use insight::{InsightQuery, InsightResult, InsightRow};
pub use recent::{newest_for_push, RecentEvent, RecentQuery, RecentRow};
pub use retention::{RetentionQuery, RetentionResult, RetentionRow};
pub use segment::{Condition, SegmentQuery, SegmentResult, SegmentRow};
pub use sql::{Sql, SqlValue};
pub use time_range::{Interval, TimeRange, Window};

use thiserror::Error;

/// Why a query definition was refused. The message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    /// The JSON did not match the definition's shape (unknown field, wrong type, …).
    #[error("invalid query: {0}")]
    Shape(String),
    /// A field reference such as `properties.plan` is not valid.
    #[error("invalid field `{field}`: {why}")]
    Field {
        /// The field as given.
        field: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A value is out of range or inconsistent with another one.
    #[error("invalid `{what}`: {why}")]
    Value {
        /// The key in the definition.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The definition would need more bound parameters than D1 allows.
    #[error("query too complex: it needs {0} bound values, at most {max} are allowed", max = limits::MAX_SQL_PARAMS)]
    TooComplex(usize),
    /// The query's `timezone` is not a zone the oracle knows.
    #[error("unknown time zone `{0}`: use an IANA name such as Europe/Berlin, UTC, or an offset like +05:30")]
    UnknownZone(String),
    /// The configured events store cannot answer this query kind (yet).
    #[error("{0} queries are not available when events are stored in ClickHouse")]
    NotOnClickHouse(&'static str),
}

impl QueryError {
    /// A [`QueryError::Value`] with a formatted reason.
    pub(crate) fn value(what: &'static str, why: impl Into<String>) -> Self {
        QueryError::Value {
            what,
            why: why.into(),
        }
    }

    /// The stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            QueryError::Shape(_) => "invalid_query",
            QueryError::Field { .. } => "invalid_field",
            QueryError::Value { .. } => "invalid_value",
            QueryError::TooComplex(_) => "query_too_complex",
            QueryError::NotOnClickHouse(_) => "not_on_clickhouse",
            QueryError::UnknownZone(_) => "unknown_timezone",
        }
    }
}

/// Parses a definition from JSON, turning serde's message into a [`QueryError::Shape`].
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, QueryError> {
    if body.len() > limits::MAX_QUERY_BYTES {
        return Err(QueryError::value(
            "body",
            format!("larger than {} bytes", limits::MAX_QUERY_BYTES),
        ));
    }
    // `from_str`, not `from_slice`: one JSON reader in the Worker (issue 15, size).
    let text = std::str::from_utf8(body)
        .map_err(|e| QueryError::Shape(format!("body is not UTF-8 (byte {})", e.valid_up_to())))?;
    serde_json::from_str(text).map_err(|e| QueryError::Shape(e.to_string()))
}

#[cfg(test)]
mod parse_tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn parse_reads_utf8_text_and_refuses_anything_else() {
        let v: Value = parse("{\"a\": \"été\"}".as_bytes()).unwrap();
        assert_eq!(v["a"], "été");
        // Invalid UTF-8, inside a string or in a skipped value: refused as before.
        for body in [&b"{\"a\": \"\xff\"}"[..], &b"[1, \"\xc3\"]"[..]] {
            let e = parse::<Value>(body).unwrap_err();
            assert_eq!(e.code(), "invalid_query");
        }
        // Same serde message (line and column) as reading the bytes directly.
        let e = parse::<Value>(b"{\"a\": }").unwrap_err();
        let direct = serde_json::from_slice::<Value>(b"{\"a\": }").unwrap_err();
        assert_eq!(e.to_string(), format!("invalid query: {direct}"));
    }
}
