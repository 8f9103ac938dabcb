//! Query compilation: insight, funnel and segment definitions to SQL, and their rows back.
//!
//! Invariant checked: a definition is refused with a `QueryError` or gives SQL that binds at
//! most D1's 100 parameters, whose every `?N` names a bound value, and whose text holds
//! nothing from the request (checked by proxy: the fixed SQL is ASCII without control
//! characters, so a non-ASCII name or value that leaked into it is caught); post-processing
//! any rows the database could return does not panic.

use spur_core::query::segment::SavedSegment;
use spur_core::query::{
    self, limits, FunnelQuery, InsightQuery, RecentEvent, RecentQuery, RecentRow, SegmentQuery, Sql,
};

use crate::ingest::NOW;

fn check_sql(sql: &Sql) {
    assert!(
        sql.params.len() <= limits::MAX_SQL_PARAMS,
        "{} bound values",
        sql.params.len()
    );
    assert!(
        sql.text
            .chars()
            .all(|c| c.is_ascii() && (c == '\n' || !c.is_control())),
        "request text leaked into SQL: {}",
        sql.text
    );
    let bytes = sql.text.as_bytes();
    for (i, _) in sql.text.match_indices('?') {
        let digits: String = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|b| char::from(*b))
            .collect();
        let n: usize = digits.parse().unwrap_or(0);
        assert!(
            (1..=sql.params.len()).contains(&n),
            "placeholder ?{digits} with {} bound values: {}",
            sql.params.len(),
            sql.text
        );
    }
}

fn rows<T: serde::de::DeserializeOwned>(text: &[u8]) -> Vec<T> {
    serde_json::from_slice(text).unwrap_or_default()
}

/// `query`: the first byte picks the definition kind; the rest is the definition, then
/// optionally a newline and a JSON array of result rows.
pub fn query(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let (def, row_text) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let now_ms = NOW.unix_timestamp() * 1_000;
    match kind % 5 {
        0 => {
            let Ok(q) = query::parse::<InsightQuery>(def) else {
                return;
            };
            if let Ok(plan) = q.plan() {
                check_sql(&plan.sql);
                let result = plan.finish(rows(row_text));
                serde_json::to_string(&result).expect("an insight result serializes");
            }
        }
        1 => {
            let Ok(q) = query::parse::<FunnelQuery>(def) else {
                return;
            };
            if let Ok(plan) = q.plan() {
                check_sql(&plan.sql);
                let result = plan.finish(rows(row_text));
                serde_json::to_string(&result).expect("a funnel result serializes");
            }
        }
        2 => {
            let Ok(q) = query::parse::<SegmentQuery>(def) else {
                return;
            };
            if let Ok(plan) = q.plan(now_ms) {
                check_sql(&plan.sql);
                let result = plan.finish(rows(row_text));
                serde_json::to_string(&result).expect("a segment result serializes");
            }
        }
        3 => {
            let Ok(saved) = query::parse::<SavedSegment>(def) else {
                return;
            };
            let _ = saved.validate();
        }
        _ => {
            let Ok(limit) = std::str::from_utf8(def) else {
                return;
            };
            let Ok(q) = RecentQuery::parse(Some(limit)) else {
                return;
            };
            if let Ok(sql) = q.sql() {
                check_sql(&sql);
            }
            let events: Vec<RecentEvent> = rows::<RecentRow>(row_text)
                .into_iter()
                .map(RecentEvent::from)
                .collect();
            serde_json::to_string(&events).expect("recent events serialize");
        }
    }
}
