//! The insight query in ClickHouse SQL (see [`crate::query::insight`] for the semantics).
//!
//! Invariant: the same rows as the SQLite statement — per (series, bucket), per series, and
//! the overall total with `grp` -1 — with unique people counted by `uniqExact` over the whole
//! range, never summed from buckets. 18.16 has no window functions or CTEs, so the top-N
//! breakdown values are a scalar subquery (an array of typed keys) and a row's series is its
//! key's position in that array (0: "other").

use super::{dedup_events, event_cond, field, ALIASES, PERSON};
use crate::query::field::Field;
use crate::query::insight::InsightQuery;
use crate::query::time_range::TimeRange;
use crate::query::zone::ZoneTable;
use crate::query::QueryError;

/// The statement for a validated insight.
pub(crate) fn sql(
    q: &InsightQuery,
    range: TimeRange,
    iv: i64,
    limit: usize,
    zone: &ZoneTable,
    cohort: Option<(String, String)>,
) -> Result<String, QueryError> {
    let bucket = if zone.is_utc() {
        format!("intDiv(ts_ms, {iv}) * {iv}")
    } else {
        let off = zone.clickhouse_offset("ts_ms");
        let tail = if iv == crate::query::time_range::DAY_MS {
            String::new()
        } else {
            format!(" - {off}")
        };
        format!("intDiv(ts_ms + {off}, {iv}) * {iv}{tail}")
    };
    let cond = event_cond(q.event.as_deref().unwrap_or("$any"), &q.filters)?;
    let bd = match &q.breakdown {
        Some(b) => Some(field(&Field::parse(b)?)),
        None => None,
    };
    let cols = match &bd {
        Some(t) => format!(", {} AS bk, {} AS bn, {} AS bs", t.group_key(), t.n, t.s),
        None => String::new(),
    };
    let events = dedup_events(&cols, range.from, range.to, &cond);
    let extra = if bd.is_some() { ", bk, bn, bs" } else { "" };
    let mut base = format!(
        "(SELECT {PERSON} AS person, toInt64({bucket}) AS bucket{extra} \
         FROM {events} ANY LEFT JOIN {ALIASES} USING link)"
    );
    // A cohort is the person's, so it is joined on after identity resolution.
    let grouped_by = bd.is_some() || cohort.is_some();
    if let Some((join, cols)) = cohort {
        base = format!("(SELECT person, bucket, {cols} FROM {base} AS p{join})");
    }
    let null_bucket = "CAST(NULL AS Nullable(Int64))";
    let no_label = "toUInt8(0) AS label_k, '' AS label_s, toFloat64(0) AS label_n";
    Ok(match grouped_by {
        false => format!(
            "SELECT toInt64(1) AS grp, {no_label}, toNullable(bucket) AS bucket, count() AS events, \
             uniqExact(person) AS users FROM {base} GROUP BY bucket \
             UNION ALL SELECT toInt64(1), toUInt8(0), '', toFloat64(0), {null_bucket}, count(), \
             uniqExact(person) FROM {base}"
        ),
        true => {
            let top = format!(
                "(SELECT groupArray((bk, bn, bs)) FROM (SELECT bk, bn, bs, count() AS c FROM {base} \
                 GROUP BY bk, bn, bs ORDER BY c DESC, bk, bn, bs LIMIT {limit}))"
            );
            let grouped = format!(
                "(SELECT person, bucket, bk, bn, bs, toInt64(indexOf({top}, (bk, bn, bs))) AS grp \
                 FROM {base})"
            );
            let label = "if(grp = 0, toUInt8(0), any(bk)) AS label_k, if(grp = 0, '', any(bs)) AS label_s, \
                 if(grp = 0, toFloat64(0), any(bn)) AS label_n";
            format!(
                "SELECT grp, {label}, toNullable(bucket) AS bucket, count() AS events, \
                 uniqExact(person) AS users FROM {grouped} GROUP BY grp, bucket \
                 UNION ALL SELECT grp, {label}, {null_bucket}, count(), uniqExact(person) \
                 FROM {grouped} GROUP BY grp \
                 UNION ALL SELECT toInt64(-1), toUInt8(0), '', toFloat64(0), {null_bucket}, count(), \
                 uniqExact(person) FROM {base}"
            )
        }
    })
}
