//! Retention in ClickHouse SQL (see [`crate::query::retention`] for the semantics).
//!
//! Invariant: the same rows as the SQLite statement — `(cohort, 0, size)` per cohort and
//! `(cohort, k, people)` per later period with returns — from the same definition. 18.16 has
//! no CTEs, so the cohort subquery is written twice (once for sizes, once joined with the
//! returns); people are `(person, period)` pairs made distinct before they are counted.

use super::{dedup_events, event_cond, literal, ALIASES, PERSON};
use crate::query::funnel::Step;
use crate::query::retention::CohortBy;
use crate::query::time_range::TimeRange;
use crate::query::zone::ZoneTable;
use crate::query::QueryError;

/// The statement for a validated retention query; `len` is the period length in ms.
pub(crate) fn sql(
    start: &Step,
    ret: &Step,
    range: TimeRange,
    len: i64,
    cohort: CohortBy,
    zone: &ZoneTable,
) -> Result<String, QueryError> {
    let sc = event_cond(&start.event, &start.filters)?;
    let rc = event_cond(&ret.event, &ret.filters)?;
    let from = literal::int(range.from);
    let len = literal::int(len);
    // Each event of a kind with its person; `lo` bounds the scan from below.
    let people = |cond: &str, lo: i64| {
        format!(
            "(SELECT {PERSON} AS person, ts_ms FROM {} ANY LEFT JOIN {ALIASES} USING link)",
            dedup_events("", lo, range.to, cond)
        )
    };
    let local_from = literal::int(zone.local(range.from));
    let period = |t: &str| {
        if zone.is_utc() {
            format!("toInt64(intDiv({t} - {from}, {len}))")
        } else {
            format!(
                "toInt64(intDiv({t} + {} - {local_from}, {len}))",
                zone.clickhouse_offset(t)
            )
        }
    };
    let cohorts = match cohort {
        // Every start event before `to` counts for "first", so people first seen earlier
        // are left out rather than put in period 0.
        CohortBy::First => format!(
            "(SELECT person, {} AS cp FROM {} GROUP BY person HAVING min(ts_ms) >= {from})",
            period("min(ts_ms)"),
            people(&sc, i64::MIN)
        ),
        CohortBy::Every => format!(
            "(SELECT DISTINCT person, {} AS cp FROM {})",
            period("ts_ms"),
            people(&sc, range.from)
        ),
    };
    let returns = format!(
        "(SELECT DISTINCT person, {} AS rp FROM {})",
        period("ts_ms"),
        people(&rc, range.from)
    );
    Ok(format!(
        "SELECT cp AS cohort, toInt64(0) AS k, toInt64(count()) AS people FROM {cohorts} GROUP BY cp \
         UNION ALL SELECT cp, toInt64(rp - cp), toInt64(count()) FROM {cohorts} \
         AS c ALL INNER JOIN {returns} AS r USING person WHERE rp > cp GROUP BY cp, rp"
    ))
}

#[cfg(test)]
mod tests {
    use crate::query::RetentionQuery;
    use serde_json::json;

    #[test]
    fn values_go_through_the_encoder() {
        let q: RetentionQuery = serde_json::from_value(json!({
            "start": {"event": "it's"}, "return": {"event": "Back",
                "filters": [{"field": "properties.plan", "value": "o'x"}]},
            "from": "2026-11-01T00:00:00Z", "to": "2026-11-15T00:00:00Z", "interval": "week"
        }))
        .unwrap();
        let sql = q
            .plan_clickhouse(&crate::journeys::FixedZones)
            .unwrap()
            .sql
            .text;
        assert!(sql.contains(r"event = 'it\'s'"), "{sql}");
        assert!(sql.contains(r"= 'o\'x'"), "{sql}");
        assert!(
            sql.contains("intDiv(min(ts_ms) - 1793491200000, 604800000)"),
            "{sql}"
        );
        assert!(sql.contains("ts_ms >= -9223372036854775808"), "{sql}");
        assert!(!sql.contains("WITH "), "no CTEs on 18.16");
    }
}
