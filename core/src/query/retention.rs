//! Retention: of the people who did a start event in a period, the share who came back with a
//! return event in each later period.
//!
//! Semantics. Periods are consecutive days or weeks (7 × 24 h) starting at `from`: period `i`
//! is `[from + i·len, from + (i+1)·len)`, and there are as many as it takes to cover
//! `[from, to)` (the last one may be cut short by `to`). Only events in `[from, to)` place a
//! person in a cohort or count as a return, with one exception: with `cohort: "first"` a
//! person's cohort is the period of their *first start event ever*, so people whose first one
//! is before `from` are in no cohort (they are not new). With `cohort: "every"` a person joins
//! the cohort of every period in which they did the start event. A cohort member *returned* in
//! period `i + k` (k ≥ 1) if they did the return event in that period; each person counts once
//! per cell. Period 0 of a cohort is its size, so its share is 1.
//!
//! Invariant: cohort `i` has exactly `periods - i` cells (the triangle), counts are distinct
//! people, never summed across cells; the SQL binds every value from the request (SQLite) or
//! writes it through the literal encoder (ClickHouse), and only the validated period length
//! and fixed names are written into the text.

use serde::{Deserialize, Serialize};

use super::field::event_sql;
use super::funnel::Step;
use super::sql::{de_int, Params, Sql, EVENTS_WITH_ALIASES, PERSON};
use super::time_range::{format_instant, TimeRange, DAY_MS};
use super::zone::ZoneTable;
use super::{limits, QueryError};
use crate::journeys::{FixedZones, Zones};

/// Period length of a retention table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RetentionInterval {
    /// 24 h periods.
    #[default]
    Day,
    /// 7 × 24 h periods.
    Week,
}

impl RetentionInterval {
    /// The period length in ms.
    pub const fn ms(self) -> i64 {
        match self {
            RetentionInterval::Day => DAY_MS,
            RetentionInterval::Week => 7 * DAY_MS,
        }
    }
}

/// Which start events put a person in a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CohortBy {
    /// One cohort per person: the period of their first start event ever.
    #[default]
    First,
    /// One cohort per period in which the person did the start event.
    Every,
}

/// `POST /v1/query/retention`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionQuery {
    /// The event (with filters) that puts a person in a cohort.
    pub start: Step,
    /// The event that counts as coming back (default: the start event).
    #[serde(default, rename = "return")]
    pub returning: Option<Step>,
    /// Range start, RFC 3339 (inclusive); period 0 starts here.
    pub from: String,
    /// Range end, RFC 3339 (exclusive).
    pub to: String,
    /// Period length, `day` (default) or `week`.
    #[serde(default)]
    pub interval: RetentionInterval,
    /// `first` (default) or `every`.
    #[serde(default)]
    pub cohort: CohortBy,
    /// IANA zone (or `UTC`, `+05:30`): periods then start at `from`'s local wall-clock time on
    /// each later local day (23 h or 25 h long across a DST change). Default UTC.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// A validated retention query with its SQL.
#[derive(Debug, Clone)]
pub struct RetentionPlan {
    /// The statement; its rows are [`RetentionRow`]s.
    pub sql: Sql,
    range: TimeRange,
    interval: RetentionInterval,
    cohort: CohortBy,
    periods: usize,
    zone: ZoneTable,
}

/// One row of the retention statement (both stores).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RetentionRow {
    /// Cohort period index (0-based from `from`).
    #[serde(deserialize_with = "de_int")]
    pub cohort: i64,
    /// Periods after the cohort's: 0 for the cohort size, k ≥ 1 for returns.
    #[serde(deserialize_with = "de_int")]
    pub k: i64,
    /// Distinct people.
    #[serde(deserialize_with = "de_int")]
    pub people: i64,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cohort {
    /// The cohort's period start, RFC 3339.
    pub start: String,
    /// People in the cohort.
    pub size: i64,
    /// People who returned in each period from the cohort's (index 0: the size).
    pub returned: Vec<i64>,
    /// `returned / size` per period (null for an empty cohort).
    pub shares: Vec<Option<f64>>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionResult {
    /// The period length.
    pub interval: RetentionInterval,
    /// How cohorts were formed.
    pub cohort: CohortBy,
    /// Period starts, RFC 3339.
    pub periods: Vec<String>,
    /// One per period, in order (empty cohorts included).
    pub cohorts: Vec<Cohort>,
}

impl RetentionQuery {
    /// The validated range, number of periods and zone table.
    fn periods(&self, zones: &dyn Zones) -> Result<(TimeRange, usize, ZoneTable), QueryError> {
        let range = TimeRange::parse(&self.from, &self.to)?;
        let zone = match &self.timezone {
            Some(z) => ZoneTable::probe(zones, z, range.from, range.to)?,
            None => ZoneTable::utc(),
        };
        let len = self.interval.ms();
        let n = (zone.local(range.to) - zone.local(range.from) + len - 1) / len;
        let periods = usize::try_from(n).unwrap_or(usize::MAX);
        if periods > limits::MAX_RETENTION_PERIODS {
            return Err(QueryError::value(
                "interval",
                format!(
                    "the range has more than {} periods",
                    limits::MAX_RETENTION_PERIODS
                ),
            ));
        }
        Ok((range, periods, zone))
    }

    fn return_step(&self) -> &Step {
        self.returning.as_ref().unwrap_or(&self.start)
    }

    /// Validates the definition and builds its SQLite SQL (zones: fixed offsets only).
    pub fn plan(&self) -> Result<RetentionPlan, QueryError> {
        self.plan_in(&FixedZones)
    }

    /// Validates the definition and builds its SQLite SQL, asking `zones` about `timezone`.
    pub fn plan_in(&self, zones: &dyn Zones) -> Result<RetentionPlan, QueryError> {
        let (range, periods, zone) = self.periods(zones)?;
        let len = self.interval.ms();
        let mut p = Params::default();
        let (from, to) = (p.int(range.from), p.int(range.to));
        let sc = event_sql(&self.start.event, &self.start.filters, &mut p)?;
        let ret = self.return_step();
        let rc = event_sql(&ret.event, &ret.filters, &mut p)?;
        // A bound integer may reach SQLite as a REAL (D1 binds JS numbers), so the period index
        // is cast back; the difference is never negative here, so the cast floors.
        // In a zone, the period is counted on the local clock from `from`'s local time (an
        // integer computed here, not a request string).
        let local_from = zone.local(range.from);
        let period = |t: &str| {
            if zone.is_utc() {
                format!("CAST(({t} - {from}) / {len} AS INTEGER)")
            } else {
                format!(
                    "CAST(({t} + {} - {local_from}) / {len} AS INTEGER)",
                    zone.sqlite_offset(t)
                )
            }
        };
        let cohorts = match self.cohort {
            CohortBy::First => format!(
                "SELECT person, {} AS p FROM (SELECT {PERSON} AS person, MIN(e.ts_ms) AS t \
                 FROM {EVENTS_WITH_ALIASES} WHERE {sc} AND e.ts_ms < {to} GROUP BY 1) \
                 WHERE t >= {from}",
                period("t")
            ),
            CohortBy::Every => format!(
                "SELECT {PERSON} AS person, {} AS p FROM {EVENTS_WITH_ALIASES} \
                 WHERE {sc} AND e.ts_ms >= {from} AND e.ts_ms < {to} GROUP BY 1, 2",
                period("e.ts_ms")
            ),
        };
        // (person, period) pairs are made distinct with GROUP BY, not DISTINCT: the planner
        // then puts an automatic index on `c` for the join below (with DISTINCT it scanned `c`
        // once per return row: 7 s instead of 0.3 s over 100k events).
        let text = format!(
            "WITH c AS MATERIALIZED ({cohorts}), \
             r AS MATERIALIZED (SELECT {PERSON} AS person, {} AS p \
             FROM {EVENTS_WITH_ALIASES} WHERE {rc} AND e.ts_ms >= {from} AND e.ts_ms < {to} \
             GROUP BY 1, 2) \
             SELECT p AS cohort, 0 AS k, COUNT(*) AS people FROM c GROUP BY p \
             UNION ALL SELECT c.p, r.p - c.p, COUNT(*) FROM c JOIN r \
             ON r.person = c.person AND r.p > c.p GROUP BY c.p, r.p",
            period("e.ts_ms")
        );
        Ok(RetentionPlan {
            sql: p.finish(text)?,
            range,
            interval: self.interval,
            cohort: self.cohort,
            periods,
            zone,
        })
    }

    /// Validates the definition (as [`RetentionQuery::plan`] does) and builds its ClickHouse
    /// SQL; its rows are the same [`RetentionRow`]s.
    pub fn plan_clickhouse(&self, zones: &dyn Zones) -> Result<RetentionPlan, QueryError> {
        let mut plan = self.plan_in(zones)?;
        let ret = self.return_step();
        plan.sql = Sql {
            text: super::clickhouse::retention::sql(
                &self.start,
                ret,
                plan.range,
                self.interval.ms(),
                self.cohort,
                &plan.zone,
            )?,
            params: Vec::new(),
        };
        Ok(plan)
    }
}

impl RetentionPlan {
    /// Fills the triangle: every cohort, every cell up to the last period, zero when empty.
    pub fn finish(&self, rows: Vec<RetentionRow>) -> RetentionResult {
        let len = self.interval.ms();
        let mut returned: Vec<Vec<i64>> = (0..self.periods)
            .map(|i| vec![0; self.periods - i])
            .collect();
        for row in rows {
            let (Ok(i), Ok(k)) = (usize::try_from(row.cohort), usize::try_from(row.k)) else {
                continue;
            };
            if let Some(cell) = returned.get_mut(i).and_then(|c| c.get_mut(k)) {
                *cell = row.people;
            }
        }
        let local_from = self.zone.local(self.range.from);
        let start = |i: usize| {
            let k = i64::try_from(i).unwrap_or(i64::MAX / len) * len;
            if self.zone.is_utc() {
                format_instant(self.range.from + k)
            } else {
                format_instant(self.zone.utc_of_local(local_from + k))
            }
        };
        let cohorts = returned
            .into_iter()
            .enumerate()
            .map(|(i, returned)| {
                let size = returned.first().copied().unwrap_or(0);
                Cohort {
                    start: start(i),
                    size,
                    shares: returned.iter().map(|r| share(*r, size)).collect(),
                    returned,
                }
            })
            .collect();
        RetentionResult {
            interval: self.interval,
            cohort: self.cohort,
            periods: (0..self.periods).map(start).collect(),
            cohorts,
        }
    }
}

#[allow(clippy::cast_precision_loss)] // counts are far below 2^53
fn share(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(v: serde_json::Value) -> RetentionQuery {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({"start": {"event": "Signed Up"}, "return": {"event": "Order Completed",
            "filters": [{"field": "properties.total", "op": "gt", "value": 10}]},
            "from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z"})
    }

    #[test]
    fn plan_binds_names_and_values() {
        let plan = query(base()).plan().unwrap();
        let sql = &plan.sql.text;
        assert!(!sql.contains("Signed Up") && !sql.contains("Order Completed"));
        assert!(sql.contains("MIN(e.ts_ms)"), "first occurrence: {sql}");
        assert!(sql.contains("/ 86400000 AS INTEGER"));
        // from, to, start name, return name, filter path, filter value: each used.
        let n = plan.sql.params.len();
        assert_eq!(n, 6);
        assert!(sql.contains(&format!("?{n}")));
        assert_eq!(plan.periods, 7);
        let mut every = base();
        every["cohort"] = json!("every");
        every["interval"] = json!("week");
        let plan = query(every).plan().unwrap();
        assert!(!plan.sql.text.contains("MIN(e.ts_ms)"));
        assert!(plan.sql.text.contains("/ 604800000 AS INTEGER"));
        assert_eq!(plan.periods, 1);
    }

    #[test]
    fn return_defaults_to_the_start_event() {
        let plan = query(
            json!({"start": {"event": "A"}, "from": "2026-11-01T00:00:00Z",
            "to": "2026-11-02T00:00:00Z"}),
        )
        .plan()
        .unwrap();
        let texts: Vec<_> = plan.sql.params.iter().skip(2).collect();
        assert_eq!(texts.len(), 2);
        assert_eq!(texts[0], texts[1]);
    }

    #[test]
    fn refuses_bad_definitions_with_a_reason() {
        // At the period limit, and one past it.
        let day = |n: i64| {
            let mut q = base();
            q["to"] = json!(format_instant(
                super::super::time_range::parse_instant("x", "2026-01-01T00:00:00Z").unwrap()
                    + n * DAY_MS
            ));
            q["from"] = json!("2026-01-01T00:00:00Z");
            query(q).plan()
        };
        let max = i64::try_from(limits::MAX_RETENTION_PERIODS).unwrap();
        assert!(day(max).is_ok());
        assert!(matches!(
            day(max + 1),
            Err(QueryError::Value {
                what: "interval",
                ..
            })
        ));
        for (key, value) in [
            ("interval", json!("hour")),
            ("cohort", json!("sometimes")),
            ("start_event", json!({"event": "A"})),
        ] {
            let mut q = base();
            q[key] = value;
            assert!(
                serde_json::from_value::<RetentionQuery>(q).is_err(),
                "{key}"
            );
        }
        let mut bad_filter = base();
        bad_filter["start"]["filters"] = json!([{"field": "nope", "value": 1}]);
        assert!(matches!(
            query(bad_filter).plan(),
            Err(QueryError::Field { .. })
        ));
        let mut backwards = base();
        backwards["to"] = json!("2026-10-01T00:00:00Z");
        assert!(query(backwards).plan().is_err());
    }

    #[test]
    fn finish_fills_the_triangle() {
        let mut q = base();
        q["to"] = json!("2026-11-03T12:00:00Z"); // 3 periods, the last cut short
        let plan = query(q).plan().unwrap();
        let row = |cohort, k, people| RetentionRow { cohort, k, people };
        let r = plan.finish(vec![
            row(0, 0, 4),
            row(0, 2, 1),
            row(0, 1, 2),
            row(2, 0, 3),
            row(7, 0, 9), // out of range: ignored
        ]);
        assert_eq!(
            r.periods,
            vec![
                "2026-11-01T00:00:00Z",
                "2026-11-02T00:00:00Z",
                "2026-11-03T00:00:00Z"
            ]
        );
        assert_eq!(r.cohorts[0].returned, vec![4, 2, 1]);
        assert_eq!(r.cohorts[0].shares, vec![Some(1.0), Some(0.5), Some(0.25)]);
        assert_eq!(r.cohorts[1].returned, vec![0, 0]);
        assert_eq!(r.cohorts[1].shares, vec![None, None]);
        assert_eq!(r.cohorts[2].size, 3);
        assert_eq!(r.cohorts[2].returned, vec![3]);
        let out = serde_json::to_value(&r).unwrap();
        assert_eq!(out["interval"], "day");
        assert_eq!(out["cohort"], "first");
        assert_eq!(out["cohorts"][1]["shares"], json!([null, null]));
    }
}
