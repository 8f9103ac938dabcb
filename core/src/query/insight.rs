//! Insight: how often an event happened per hour or day, and by how many people, optionally
//! broken down by a field into the top N values plus "other".
//!
//! Invariant: every bucket of the range appears in the result (zero when empty); per-series
//! and overall unique-user totals are counted in SQL over the whole range, never summed from
//! buckets, so a person active on two days counts once in a total.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cohort::{exclusive, Cohort, Plan as CohortPlan};
use super::field::{event_sql, Field, Filter};
use super::sql::{de_int, de_opt_int, Params, Sql, EVENTS_WITH_ALIASES, PERSON};
use super::time_range::{format_instant, Interval, TimeRange};
use super::zone::ZoneTable;
use super::{limits, QueryError};
use crate::journeys::{FixedZones, Zones};

/// `POST /v1/query/insight`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InsightQuery {
    /// Event name (see [`super::EventMatcher`]); `$any` or absent for every event.
    #[serde(default)]
    pub event: Option<String>,
    /// Range start, RFC 3339 (inclusive).
    pub from: String,
    /// Range end, RFC 3339 (exclusive).
    pub to: String,
    /// Bucket size, `hour` or `day` (default).
    #[serde(default)]
    pub interval: Interval,
    /// Filters on the counted events, ANDed.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// A field to break down by (`properties.plan`, `context.page.path`, …).
    #[serde(default)]
    pub breakdown: Option<String>,
    /// How many breakdown values to show before "other" (default 5).
    #[serde(default, alias = "breakdown_limit")]
    pub breakdown_limit: Option<usize>,
    /// IANA zone (or `UTC`, `+05:30`) whose local days/hours the buckets follow (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Break down by the person's cohort (first-seen period or a trait) instead of a field.
    #[serde(default)]
    pub cohort: Option<Cohort>,
}

/// A validated insight with its SQL.
#[derive(Debug, Clone)]
pub struct InsightPlan {
    /// The statement; its rows are [`InsightRow`]s.
    pub sql: Sql,
    range: TimeRange,
    interval: Interval,
    breakdown: bool,
    zone: ZoneTable,
    cohort: Option<CohortPlan>,
}

/// The SQL bucket key of an event at `t` (see [`bucket_keys`]): in UTC the bucket start; in a
/// zone, for days the local midnight (local ms), for hours the instant the local hour began.
pub(crate) fn bucket_key(zone: &ZoneTable, iv: i64, t: &str, offset: &str) -> String {
    if zone.is_utc() {
        format!("({t} / {iv}) * {iv}")
    } else if iv == super::time_range::DAY_MS {
        format!("(({t} + {offset}) / {iv}) * {iv}")
    } else {
        format!("(({t} + {offset}) / {iv}) * {iv} - {offset}")
    }
}

/// Every bucket of `[from, to)` as (SQL key, start instant), in order.
fn bucket_keys(zone: &ZoneTable, iv: i64, range: TimeRange) -> Vec<(i64, i64)> {
    let day = iv == super::time_range::DAY_MS;
    let bucket = |t: i64| {
        let off = zone.offset(t);
        (t + off).div_euclid(iv) * iv - if day { 0 } else { off }
    };
    let mut out = Vec::new();
    if day {
        let (first, last) = (bucket(range.from), bucket(range.to - 1));
        let mut k = first;
        while k <= last && out.len() <= usize::try_from(limits::MAX_BUCKETS).unwrap_or(0) {
            out.push((k, zone.utc_of_local(k)));
            k += iv;
        }
    } else {
        let mut b = bucket(range.from);
        while b < range.to && out.len() <= usize::try_from(limits::MAX_BUCKETS).unwrap_or(0) {
            out.push((b, b));
            b = bucket(b + iv);
        }
    }
    out
}

/// One row of the insight statement.
#[derive(Debug, Clone, Deserialize)]
pub struct InsightRow {
    /// Series: 1..=N by rank, 0 for "other", -1 for the overall total.
    #[serde(deserialize_with = "de_int")]
    pub grp: i64,
    /// The breakdown value of the series.
    #[serde(default)]
    pub label: Value,
    /// Bucket start in ms, or null for a whole-range total.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub bucket: Option<i64>,
    /// Events counted.
    #[serde(deserialize_with = "de_int")]
    pub events: i64,
    /// Distinct people.
    #[serde(deserialize_with = "de_int")]
    pub users: i64,
}

/// One line of the chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// The breakdown value (null without breakdown or for "other").
    pub key: Value,
    /// True for the "other" series.
    pub other: bool,
    /// Events per bucket.
    pub events: Vec<i64>,
    /// Distinct people per bucket.
    pub users: Vec<i64>,
    /// Events in the range.
    pub total_events: i64,
    /// Distinct people in the range.
    pub total_users: i64,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightResult {
    /// The bucket size.
    pub interval: Interval,
    /// Bucket starts, RFC 3339.
    pub buckets: Vec<String>,
    /// One series without breakdown; top N then "other" with one.
    pub series: Vec<Series>,
    /// Events in the range.
    pub total_events: i64,
    /// Distinct people in the range.
    pub total_users: i64,
}

impl InsightQuery {
    /// Validates the definition and builds its SQL (zones: fixed offsets only).
    pub fn plan(&self) -> Result<InsightPlan, QueryError> {
        self.plan_in(&FixedZones)
    }

    /// Validates the definition and builds its SQL, asking `zones` about `timezone`.
    pub fn plan_in(&self, zones: &dyn Zones) -> Result<InsightPlan, QueryError> {
        let range = TimeRange::parse(&self.from, &self.to)?;
        let zone = match &self.timezone {
            Some(z) => ZoneTable::probe(zones, z, range.from, range.to)?,
            None => ZoneTable::utc(),
        };
        let iv = self.interval.ms();
        let first = range.from.div_euclid(iv) * iv;
        if (range.to - first + iv - 1) / iv > limits::MAX_BUCKETS {
            return Err(QueryError::value(
                "interval",
                format!("the range has more than {} buckets", limits::MAX_BUCKETS),
            ));
        }
        let limit = breakdown_limit(self.breakdown_limit)?;
        exclusive(self.breakdown.as_ref(), self.cohort.as_ref())?;
        let cohort = match &self.cohort {
            Some(c) => Some(c.plan(zones, self.timezone.as_deref(), range)?),
            None => None,
        };
        let mut p = Params::default();
        let (from, to) = (p.int(range.from), p.int(range.to));
        let event = self.event.as_deref().unwrap_or("$any");
        let cond = event_sql(event, &self.filters, &mut p)?;
        let coh = cohort.as_ref().map(|c| c.sqlite(&mut p));
        let (ctes, joins) = match &coh {
            Some(c) => (format!("{}, ", c.cte), c.joins.as_str()),
            None => (String::new(), ""),
        };
        let breakdown = match (&self.breakdown, &coh) {
            (Some(b), _) => Some(Field::parse(b)?.sql(&mut p)),
            (None, Some(c)) => Some(c.value.clone()),
            (None, None) => None,
        };
        let bucket = bucket_key(&zone, iv, "e.ts_ms", &zone.sqlite_offset("e.ts_ms"));
        let text = match &breakdown {
            None => format!(
                "WITH m AS MATERIALIZED (SELECT {PERSON} AS person, {bucket} AS bucket \
                 FROM {EVENTS_WITH_ALIASES} WHERE e.ts_ms >= {from} AND e.ts_ms < {to} AND {cond}) \
                 SELECT 1 AS grp, NULL AS label, bucket, COUNT(*) AS events, COUNT(DISTINCT person) AS users \
                 FROM m GROUP BY bucket \
                 UNION ALL SELECT 1, NULL, NULL, COUNT(*), COUNT(DISTINCT person) FROM m"
            ),
            Some(bd) => format!(
                "WITH {ctes}m AS MATERIALIZED (SELECT {PERSON} AS person, {bucket} AS bucket, \
                 {bd} AS bd FROM {EVENTS_WITH_ALIASES}{joins} \
                 WHERE e.ts_ms >= {from} AND e.ts_ms < {to} AND {cond}), \
                 r AS (SELECT bd, ROW_NUMBER() OVER (ORDER BY COUNT(*) DESC, bd) AS rk FROM m GROUP BY bd), \
                 g AS MATERIALIZED (SELECT CASE WHEN r.rk <= {limit} THEN r.rk ELSE 0 END AS grp, \
                 CASE WHEN r.rk <= {limit} THEN r.bd END AS label, m.person, m.bucket \
                 FROM m JOIN r ON r.bd IS m.bd) \
                 SELECT grp, label, bucket, COUNT(*) AS events, COUNT(DISTINCT person) AS users \
                 FROM g GROUP BY grp, bucket \
                 UNION ALL SELECT grp, label, NULL, COUNT(*), COUNT(DISTINCT person) FROM g GROUP BY grp \
                 UNION ALL SELECT -1, NULL, NULL, COUNT(*), COUNT(DISTINCT person) FROM m"
            ),
        };
        Ok(InsightPlan {
            sql: p.finish(text)?,
            range,
            interval: self.interval,
            breakdown: breakdown.is_some(),
            zone,
            cohort,
        })
    }
}

impl InsightQuery {
    /// Validates the definition (as [`InsightQuery::plan`] does) and builds its ClickHouse SQL;
    /// the plan's `finish` reads rows decoded by [`super::clickhouse::decode_rows`].
    pub fn plan_clickhouse(&self, zones: &dyn Zones) -> Result<InsightPlan, QueryError> {
        let mut plan = self.plan_in(zones)?;
        let limit = breakdown_limit(self.breakdown_limit)?;
        let cohort = match &plan.cohort {
            Some(c) => Some(c.clickhouse()?),
            None => None,
        };
        plan.sql = Sql {
            text: super::clickhouse::insight::sql(
                self,
                plan.range,
                self.interval.ms(),
                limit,
                &plan.zone,
                cohort,
            )?,
            params: Vec::new(),
        };
        Ok(plan)
    }
}

/// Validates a breakdown limit (default [`limits::DEFAULT_BREAKDOWN_LIMIT`]).
pub(crate) fn breakdown_limit(given: Option<usize>) -> Result<usize, QueryError> {
    let n = given.unwrap_or(limits::DEFAULT_BREAKDOWN_LIMIT);
    if n == 0 || n > limits::MAX_BREAKDOWN_LIMIT {
        return Err(QueryError::value(
            "breakdownLimit",
            format!("must be 1..={}", limits::MAX_BREAKDOWN_LIMIT),
        ));
    }
    Ok(n)
}

impl InsightPlan {
    /// Zero-fills buckets and orders series: by rank, then "other".
    pub fn finish(&self, rows: Vec<InsightRow>) -> InsightResult {
        let iv = self.interval.ms();
        let keys = bucket_keys(&self.zone, iv, self.range);
        let starts: Vec<i64> = keys.iter().map(|(_, start)| *start).collect();
        let empty = |key: Value, other: bool| Series {
            key,
            other,
            events: vec![0; starts.len()],
            users: vec![0; starts.len()],
            total_events: 0,
            total_users: 0,
        };
        let mut groups: Vec<(i64, Series)> = Vec::new();
        let (mut total_events, mut total_users) = (0, 0);
        for row in rows {
            if row.grp == -1 {
                (total_events, total_users) = (row.events, row.users);
                continue;
            }
            let pos = match groups.iter().position(|(g, _)| *g == row.grp) {
                Some(pos) => pos,
                None => {
                    let label = match &self.cohort {
                        Some(c) if row.grp > 0 => c.label(row.label.clone()),
                        _ => row.label.clone(),
                    };
                    groups.push((row.grp, empty(label, row.grp == 0)));
                    groups.len() - 1
                }
            };
            let Some((_, series)) = groups.get_mut(pos) else {
                continue;
            };
            match row.bucket {
                None => {
                    series.total_events = row.events;
                    series.total_users = row.users;
                }
                Some(b) => {
                    let i = keys
                        .binary_search_by_key(&b, |(k, _)| *k)
                        .unwrap_or(usize::MAX);
                    if let (Some(e), Some(u)) = (series.events.get_mut(i), series.users.get_mut(i))
                    {
                        (*e, *u) = (row.events, row.users);
                    }
                }
            }
        }
        // Rank order, "other" (0) last.
        groups.sort_by_key(|(g, _)| if *g == 0 { i64::MAX } else { *g });
        let mut series: Vec<Series> = groups.into_iter().map(|(_, s)| s).collect();
        if !self.breakdown {
            if series.is_empty() {
                series.push(empty(Value::Null, false));
            }
            if let Some(s) = series.first() {
                (total_events, total_users) = (s.total_events, s.total_users);
            }
        }
        InsightResult {
            interval: self.interval,
            buckets: starts.into_iter().map(format_instant).collect(),
            series,
            total_events,
            total_users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(v: serde_json::Value) -> InsightQuery {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn plan_binds_everything_from_the_request() {
        let plan = query(json!({
            "event": "Order Completed", "from": "2026-11-01T00:00:00Z", "to": "2026-11-03T00:00:00Z",
            "filters": [{"field": "properties.plan", "value": "zz-pro-zz"}],
            "breakdown": "context.campaign.source"
        }))
        .plan()
        .unwrap();
        assert!(!plan.sql.text.contains("Order Completed"));
        assert!(!plan.sql.text.contains("zz-pro-zz"));
        assert!(plan.sql.text.contains("e.event = ?3"));
        assert_eq!(plan.sql.params.len(), 6);
    }

    #[test]
    fn refuses_bad_definitions_with_a_reason() {
        let base = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"});
        let mut hourly = base.clone();
        hourly["interval"] = json!("hour");
        assert!(query(hourly).plan().is_ok()); // 720 buckets
        let mut long = base.clone();
        long["interval"] = json!("hour");
        long["to"] = json!("2027-01-15T00:00:00Z");
        assert!(matches!(
            query(long).plan(),
            Err(QueryError::Value {
                what: "interval",
                ..
            })
        ));
        let mut limit = base.clone();
        limit["breakdownLimit"] = json!(0);
        assert!(matches!(
            query(limit).plan(),
            Err(QueryError::Value {
                what: "breakdownLimit",
                ..
            })
        ));
        assert!(serde_json::from_value::<InsightQuery>(
            json!({"from": "x", "to": "y", "bucket": 1})
        )
        .is_err());
    }

    #[test]
    fn finish_zero_fills_and_puts_other_last() {
        let plan = query(
            json!({"from": "2026-11-01T12:00:00Z", "to": "2026-11-03T00:00:00Z",
            "breakdown": "properties.plan", "breakdownLimit": 1}),
        )
        .plan()
        .unwrap();
        let day = 86_400_000;
        let d0 = plan.range.from.div_euclid(day) * day;
        let row = |grp, label: Value, bucket, events, users| InsightRow {
            grp,
            label,
            bucket,
            events,
            users,
        };
        let r = plan.finish(vec![
            row(0, Value::Null, Some(d0 + day), 4, 2),
            row(1, json!("pro"), Some(d0), 3, 1),
            row(1, json!("pro"), None, 3, 1),
            row(0, Value::Null, None, 4, 2),
            row(-1, Value::Null, None, 7, 3),
        ]);
        assert_eq!(
            r.buckets,
            vec!["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"]
        );
        assert_eq!(r.series.len(), 2);
        assert_eq!(r.series[0].key, json!("pro"));
        assert_eq!(r.series[0].events, vec![3, 0]);
        assert!(r.series[1].other);
        assert_eq!(r.series[1].users, vec![0, 2]);
        assert_eq!((r.total_events, r.total_users), (7, 3));
    }

    #[test]
    fn old_snake_case_input_is_read_and_output_is_camel_case() {
        let q = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z",
            "breakdown": "properties.plan"});
        let (mut old, mut new) = (q.clone(), q);
        old["breakdown_limit"] = json!(2);
        new["breakdownLimit"] = json!(2);
        assert_eq!(
            query(old).plan().unwrap().sql,
            query(new).plan().unwrap().sql
        );
        let out = serde_json::to_value(
            query(json!({"from": "2026-11-01T00:00:00Z",
            "to": "2026-11-02T00:00:00Z"}))
            .plan()
            .unwrap()
            .finish(vec![]),
        )
        .unwrap();
        assert_eq!(out["totalEvents"], 0);
        assert_eq!(out["totalUsers"], 0);
        assert_eq!(out["series"][0]["totalEvents"], 0);
        assert!(out.get("total_events").is_none());
    }

    #[test]
    fn no_rows_is_one_empty_series() {
        let plan = query(json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "interval": "hour"}))
            .plan()
            .unwrap();
        let r = plan.finish(vec![]);
        assert_eq!(r.buckets.len(), 24);
        assert_eq!(r.series.len(), 1);
        assert_eq!(r.series[0].events, vec![0; 24]);
    }

    /// America/New_York with its 2026 changes (EDT from 03-08 07:00Z to 11-01 06:00Z).
    #[derive(Debug)]
    struct NewYork;
    impl Zones for NewYork {
        fn offset_ms(&self, zone: &str, t: i64) -> Option<i64> {
            const H: i64 = 3_600_000;
            (zone == "America/New_York").then_some(
                if (1_772_953_200_000..1_793_512_800_000).contains(&t) {
                    -4 * H
                } else {
                    -5 * H
                },
            )
        }
    }

    #[test]
    fn zone_buckets_follow_local_days_across_dst() {
        let q = |from: &str, to: &str, interval: &str| {
            query(json!({"from": from, "to": to, "interval": interval,
                "timezone": "America/New_York"}))
        };
        // Fall back on 2026-11-01: that local day is 25 h.
        let plan = q("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "day")
            .plan_in(&NewYork)
            .unwrap();
        assert!(
            plan.sql
                .text
                .contains("CASE WHEN e.ts_ms < 1793512800000 THEN -14400000 ELSE -18000000 END"),
            "{}",
            plan.sql.text
        );
        let r = plan.finish(vec![InsightRow {
            grp: 1,
            label: Value::Null,
            bucket: Some(1_793_491_200_000),
            events: 7,
            users: 2,
        }]);
        assert_eq!(
            r.buckets,
            vec![
                "2026-10-31T04:00:00Z",
                "2026-11-01T04:00:00Z",
                "2026-11-02T05:00:00Z"
            ]
        );
        assert_eq!(r.series[0].events, vec![0, 7, 0]);
        // Spring forward on 2026-03-08: 23 h.
        let r = q("2026-03-08T05:00:00Z", "2026-03-10T04:00:00Z", "day")
            .plan_in(&NewYork)
            .unwrap()
            .finish(Vec::new());
        assert_eq!(
            r.buckets,
            vec!["2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"]
        );
        // Hours across the fall-back change: the repeated 01:00 is two buckets.
        let r = q("2026-11-01T04:00:00Z", "2026-11-01T08:00:00Z", "hour")
            .plan_in(&NewYork)
            .unwrap()
            .finish(Vec::new());
        assert_eq!(r.buckets.len(), 4);
        // Unknown zone, and UTC by name equals no zone.
        let mut bad = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"});
        bad["timezone"] = json!("Mars/Base");
        assert_eq!(
            query(bad).plan_in(&NewYork).unwrap_err().code(),
            "unknown_timezone"
        );
        let utc = query(
            json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z",
            "timezone": "UTC"}),
        )
        .plan()
        .unwrap();
        let plain = query(json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}))
            .plan()
            .unwrap();
        assert_eq!(utc.sql, plain.sql);
    }
}
