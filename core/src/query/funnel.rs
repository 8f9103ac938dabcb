//! Ordered funnels: of the people who did step 1 in the range, how many then did step 2,
//! then step 3, … within the conversion window from their step 1.
//!
//! Semantics (as PostHog's ordered funnel): each person is counted once per step, at the
//! deepest step any of their attempts reached. An attempt starts with a step-1 event inside
//! `[from, to)`; each later step must be a *later* event (strictly greater ms timestamp, so one
//! event never fills two steps) of that step, and every step must happen at most `window`
//! after the attempt's start (inclusive: exactly `window` later still converts). Later steps
//! may fall after `to`. Events of other kinds in between do not matter.
//!
//! How: one window pass (one sort by person and time) per later step, then one GROUP BY
//! person; nothing else sorts every event. For each event `e` matching step k, `S_k(e)` is the
//! latest start of an attempt that reaches step k at `e`: the running maximum of `S_{k-1}` over
//! events strictly before `e`, if that maximum is within the window of `e`. Keeping the
//! *latest* start is optimal (a later start leaves the most window), and it makes `S_k`
//! non-decreasing in time.
//!
//! Time to convert from step k to k+1, per person: at their first event completing step k+1,
//! the time since the latest earlier step-k event of a qualifying attempt. The median is over
//! the people who converted (the mean of the two middle values for an even count). Later
//! window passes drop the events no later step or per-person aggregate needs (see [`Chain`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cohort::{exclusive, Cohort, Plan as CohortPlan};
use super::field::{event_sql, EventMatcher, Field, Filter};
use super::insight::breakdown_limit;
use super::sql::{de_int, Params, Sql, EVENTS_WITH_ALIASES, PERSON};
use super::time_range::{TimeRange, Window};
use super::{limits, QueryError};
use crate::journeys::{FixedZones, Zones};

/// One funnel step as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Event name (see [`EventMatcher`]).
    pub event: String,
    /// Filters on the step's events, ANDed.
    #[serde(default)]
    pub filters: Vec<Filter>,
}

/// `POST /v1/query/funnel`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunnelQuery {
    /// The ordered steps (2..=10).
    pub steps: Vec<Step>,
    /// Range for the first step, RFC 3339 (inclusive).
    pub from: String,
    /// Range end for the first step, RFC 3339 (exclusive).
    pub to: String,
    /// Conversion window from the first step (`"30m"`, `"7d"`; default 14d).
    #[serde(default)]
    pub window: Option<String>,
    /// Break down by a field of the person's first step-1 event in the range.
    #[serde(default)]
    pub breakdown: Option<String>,
    /// How many breakdown values before "other" (default 5).
    #[serde(default, alias = "breakdown_limit")]
    pub breakdown_limit: Option<usize>,
    /// Break down by the person's cohort (first-seen period or a trait) instead of a field.
    #[serde(default)]
    pub cohort: Option<Cohort>,
    /// IANA zone (or `UTC`, `+05:30`) whose local weeks first-seen cohorts follow (default UTC).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// A validated funnel with its SQL.
#[derive(Debug, Clone)]
pub struct FunnelPlan {
    /// The statement; its rows are [`FunnelRow`]s.
    pub sql: Sql,
    events: Vec<String>,
    window: Window,
    breakdown: bool,
    limit: usize,
    cohort: Option<CohortPlan>,
}

/// One row of the funnel statement: a count (`kind` `n`) or a middle gap (`kind` `mid`).
#[derive(Debug, Clone, Deserialize)]
pub struct FunnelRow {
    /// `n` (people reaching `step`) or `mid` (a middle value of the step's gaps).
    pub kind: String,
    /// Group: 1..=N by rank, 0 for "other", -1 for all (medians with a breakdown).
    #[serde(deserialize_with = "de_int")]
    pub grp: i64,
    /// Breakdown value of the group.
    #[serde(default)]
    pub label: Value,
    /// Step index (0-based); for `mid`, the step converted *to*.
    #[serde(deserialize_with = "de_int")]
    pub step: i64,
    /// The count or the gap in ms.
    #[serde(deserialize_with = "de_int")]
    pub value: i64,
}

/// One step of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    /// 0-based position.
    pub index: usize,
    /// The step's event name.
    pub event: String,
    /// People who reached this step.
    pub entered: i64,
    /// People who went on to the next step (none for the last).
    pub converted: Option<i64>,
    /// `converted / entered`.
    pub conversion_rate: Option<f64>,
    /// `entered - converted`.
    pub drop_off: Option<i64>,
    /// `entered / entered at step 1`.
    pub conversion_from_start: Option<f64>,
    /// Median time to the next step, ms.
    pub median_ms_to_next: Option<f64>,
}

/// One breakdown group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakdownResult {
    /// The breakdown value (null for "other" or a missing value).
    pub key: Value,
    /// True for the "other" group.
    pub other: bool,
    /// The steps for this group.
    pub steps: Vec<StepResult>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunnelResult {
    /// The conversion window in ms.
    pub window_ms: i64,
    /// All people.
    pub steps: Vec<StepResult>,
    /// Per breakdown group (top N by people at step 1, then "other"), if asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Vec<BreakdownResult>>,
}

const DEFAULT_WINDOW: &str = "14d";

/// The funnel's SQLite statement up to its per-event layers: `WITH m …, l1 …, f AS (…)`, where
/// `f` holds, per person, the step events that decide the answer, with `person`, `ts`, `s0..`
/// (attempt starts: set on the events completing that step) and `q1..` (on a completion of step
/// k, the time of the step-(k-1) event it follows). It keeps at least each person's first
/// step-1 events (flagged `t0`, with their breakdown value `b0`) and first completions of every
/// step, so per person `MIN(s0)`, `MAX(s{k} IS NOT NULL)` and the first completion time
/// `MIN(CASE WHEN s{k} IS NOT NULL THEN ts END)` read as over all events; `q{k}` never
/// decreases with time, so `MIN(q{k})` belongs to the first completion.
pub(crate) struct Chain {
    /// The `WITH …` text.
    pub sql: String,
    /// The validated conversion window.
    pub window: Window,
    /// Whether `bd` holds a breakdown value.
    pub breakdown: bool,
    /// Placeholder of the range start.
    pub from: String,
    /// Placeholder of the scan end (range end + window).
    pub end: String,
}

impl FunnelQuery {
    /// Validates the steps, range, window and breakdown and builds the shared [`Chain`].
    pub(crate) fn chain(
        &self,
        p: &mut Params,
        cohort: Option<&CohortPlan>,
    ) -> Result<Chain, QueryError> {
        let n = self.steps.len();
        if !(limits::MIN_FUNNEL_STEPS..=limits::MAX_FUNNEL_STEPS).contains(&n) {
            return Err(QueryError::value(
                "steps",
                format!(
                    "a funnel has {}..={} steps, this one has {n}",
                    limits::MIN_FUNNEL_STEPS,
                    limits::MAX_FUNNEL_STEPS
                ),
            ));
        }
        let range = TimeRange::parse(&self.from, &self.to)?;
        let window = Window::parse("window", self.window.as_deref().unwrap_or(DEFAULT_WINDOW))?;
        let w = window.ms;
        let from = p.int(range.from);
        let to = p.int(range.to);
        let end = p.int(range.to.saturating_add(w));
        let mut conds = Vec::with_capacity(n);
        for s in &self.steps {
            conds.push(event_sql(&s.event, &s.filters, p)?);
        }
        exclusive(self.breakdown.as_ref(), self.cohort.as_ref())?;
        let coh = cohort.map(|c| c.sqlite(p));
        let bd = match (&self.breakdown, &coh) {
            (Some(b), _) => Some(Field::parse(b)?.sql(p)),
            (None, Some(c)) => Some(c.value.clone()),
            (None, None) => None,
        };
        let (ctes, joins) = match &coh {
            Some(c) => (format!("{}, ", c.cte), c.joins.as_str()),
            None => (String::new(), ""),
        };
        // All-track funnels prefilter on `event IN (…)` so the (event, ts_ms) index serves them.
        // (Only bind the names when used: D1 refuses statements with unused parameters.)
        let mut names = Vec::new();
        for s in &self.steps {
            if let EventMatcher::Track(name) = EventMatcher::parse(&s.event)? {
                names.push(name);
            }
        }
        let prefilter = if names.len() == n {
            let marks: Vec<String> = names.iter().map(|name| p.text(name)).collect();
            format!("e.event IN ({}) AND ", marks.join(", "))
        } else {
            String::new()
        };

        let (c0, rest) = conds
            .split_first()
            .ok_or_else(|| QueryError::value("steps", "empty"))?;
        // `NOT MATERIALIZED`: each layer feeds the next one's sorter directly instead of being
        // written out first (the layers are read once each).
        let mut sql = format!("WITH {ctes}m AS NOT MATERIALIZED (SELECT ");
        sql += &format!("{PERSON} AS person, e.ts_ms AS ts, CASE WHEN {c0} AND e.ts_ms < {to} THEN e.ts_ms END AS s0");
        for (k, c) in rest.iter().enumerate() {
            sql += &format!(", {c} AS m{}", k + 1);
        }
        if let Some(bd) = &bd {
            sql += &format!(", CASE WHEN {c0} AND e.ts_ms < {to} THEN {bd} END AS b0");
        }
        sql += &format!(
            " FROM {EVENTS_WITH_ALIASES}{joins} WHERE {prefilter}e.ts_ms >= {from} AND e.ts_ms < {end} AND ({}))",
            conds.join(" OR ")
        );
        // Layer k computes s{k} (attempt start) and q{k} (latest qualifying step-(k-1) time
        // before the event) for step-k events, and flags (`kp`) the rows the per-person
        // aggregates need: a row is its person's first completion of step k-1 exactly when no
        // earlier row has an s{k-1}, i.e. when the window's running maximum `p` is NULL.
        // Layer 1 also flags (`t0`) the person's first step-1 events (first touch). From layer
        // 2 on, only rows that still matter go in: completions of the previous step, events
        // of this or a later step, and flagged rows.
        let mut carried: Vec<String> = vec!["s0".into()];
        if bd.is_some() {
            carried.push("b0".into());
        }
        for k in 1..n {
            let keep: Vec<String> = carried
                .iter()
                .cloned()
                .chain((k + 1..n).map(|j| format!("m{j}")))
                .collect();
            let prev = k - 1;
            let (src, flags, q) = if k == 1 {
                // s0 is the event's own time, so the latest earlier s0 is also the maximum.
                (
                    "m".to_string(),
                    "CASE WHEN s0 IS NOT NULL AND p IS NULL THEN 1 END AS t0, \
                     CASE WHEN s0 IS NOT NULL AND p IS NULL THEN 1 END AS kp"
                        .to_string(),
                    "p".to_string(),
                )
            } else {
                let later: String = (k..n).map(|j| format!(" OR m{j}")).collect();
                (
                    format!("l{prev} WHERE kp OR s{prev} IS NOT NULL{later}"),
                    format!("CASE WHEN kp OR (s{prev} IS NOT NULL AND p IS NULL) THEN 1 END AS kp"),
                    "q".to_string(),
                )
            };
            let q_col = if k == 1 {
                String::new()
            } else {
                format!(", MAX(CASE WHEN s{prev} IS NOT NULL THEN ts END) OVER w AS q")
            };
            sql += &format!(
                ", l{k} AS NOT MATERIALIZED (SELECT person, ts, {keep}, {flags}, \
                 CASE WHEN m{k} AND p >= ts - {w} THEN p END AS s{k}, \
                 CASE WHEN m{k} AND p >= ts - {w} THEN {q} END AS q{k} \
                 FROM (SELECT *, MAX(s{prev}) OVER w AS p{q_col} FROM {src} \
                 WINDOW w AS (PARTITION BY person ORDER BY ts \
                 RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)))",
                keep = keep.join(", "),
            );
            if k == 1 {
                carried.push("t0".into());
            }
            carried.push(format!("s{k}"));
            carried.push(format!("q{k}"));
        }
        sql += &format!(
            ", f AS NOT MATERIALIZED (SELECT * FROM l{last} WHERE kp OR s{last} IS NOT NULL)",
            last = n - 1
        );
        Ok(Chain {
            sql,
            window,
            breakdown: bd.is_some(),
            from,
            end,
        })
    }
}

impl FunnelQuery {
    /// Validates the definition and builds its SQL (zones: fixed offsets only).
    pub fn plan(&self) -> Result<FunnelPlan, QueryError> {
        self.plan_in(&FixedZones)
    }

    /// The validated cohort, its first-seen periods in `timezone` over the scanned range.
    fn cohort_plan(&self, zones: &dyn Zones) -> Result<Option<CohortPlan>, QueryError> {
        let Some(c) = &self.cohort else {
            return Ok(None);
        };
        let range = TimeRange::parse(&self.from, &self.to)?;
        Ok(Some(c.plan(zones, self.timezone.as_deref(), range)?))
    }

    /// Validates the definition and builds its SQL, asking `zones` about `timezone`.
    pub fn plan_in(&self, zones: &dyn Zones) -> Result<FunnelPlan, QueryError> {
        let n = self.steps.len();
        let mut p = Params::default();
        let cohort = self.cohort_plan(zones)?;
        let Chain {
            mut sql,
            window,
            breakdown,
            ..
        } = self.chain(&mut p, cohort.as_ref())?;
        let limit = breakdown_limit(self.breakdown_limit)?;
        let bd = breakdown.then_some(());
        let reached: Vec<String> = (0..n)
            .map(|k| format!("MAX(s{k} IS NOT NULL) AS r{k}"))
            .collect();
        // Gap at the first completion: its time minus its step-(k-1) time (see `Chain`).
        let gaps: Vec<String> = (1..n)
            .map(|k| format!("MIN(CASE WHEN s{k} IS NOT NULL THEN ts END) - MIN(q{k}) AS g{k}"))
            .collect();
        // First touch: the smallest value among the first step-1 events, a missing one first
        // (as `ORDER BY b0` would).
        let first_touch = if bd.is_some() {
            "CASE WHEN MAX(t0 = 1 AND b0 IS NULL) = 1 THEN NULL \
             ELSE MIN(CASE WHEN t0 = 1 THEN b0 END) END"
        } else {
            "NULL"
        };
        sql += &format!(
            ", per AS MATERIALIZED (SELECT person, {first_touch} AS bd, {}, {} FROM f GROUP BY person HAVING r0 = 1)",
            reached.join(", "),
            gaps.join(", ")
        );
        if bd.is_some() {
            sql += &format!(
                ", rk AS (SELECT bd, ROW_NUMBER() OVER (ORDER BY COUNT(*) DESC, bd) AS r FROM per GROUP BY bd), \
                 g AS MATERIALIZED (SELECT CASE WHEN rk.r <= {limit} THEN rk.r ELSE 0 END AS grp, \
                 CASE WHEN rk.r <= {limit} THEN rk.bd END AS label, per.* FROM per JOIN rk ON rk.bd IS per.bd)"
            );
        } else {
            sql += ", g AS (SELECT 1 AS grp, NULL AS label, per.* FROM per)";
        }
        let mut gap_rows: Vec<String> = (1..n)
            .map(|k| format!("SELECT grp, {k} AS step, g{k} AS gap FROM g WHERE g{k} IS NOT NULL"))
            .collect();
        if bd.is_some() {
            gap_rows.extend(
                (1..n).map(|k| format!("SELECT -1, {k}, g{k} FROM per WHERE g{k} IS NOT NULL")),
            );
        }
        sql += &format!(", gaps AS ({})", gap_rows.join(" UNION ALL "));
        // All steps' counts in one GROUP BY (one sort of the people, not one per step).
        let sums: Vec<String> = (0..n).map(|k| format!("SUM(r{k}) AS c{k}")).collect();
        sql += &format!(
            ", totals AS MATERIALIZED (SELECT grp, label, {} FROM g GROUP BY grp)",
            sums.join(", ")
        );
        let counts: Vec<String> = (0..n)
            .map(|k| {
                format!("SELECT 'n' AS kind, grp, label, {k} AS step, c{k} AS value FROM totals")
            })
            .collect();
        sql += &format!(
            " {} UNION ALL SELECT 'mid', grp, NULL, step, gap FROM (SELECT grp, step, gap, \
             ROW_NUMBER() OVER (PARTITION BY grp, step ORDER BY gap) AS rn, \
             COUNT(*) OVER (PARTITION BY grp, step) AS cnt FROM gaps) \
             WHERE rn IN ((cnt + 1) / 2, (cnt + 2) / 2)",
            counts.join(" UNION ALL ")
        );
        Ok(FunnelPlan {
            sql: p.finish(sql)?,
            events: self.steps.iter().map(|s| s.event.clone()).collect(),
            window,
            breakdown: bd.is_some(),
            limit,
            cohort,
        })
    }
}

impl FunnelQuery {
    /// Validates the definition (as [`FunnelQuery::plan`] does) and builds its ClickHouse SQL;
    /// its rows ([`super::clickhouse::funnel::GroupRow`]) go through
    /// [`FunnelPlan::finish_clickhouse`].
    pub fn plan_clickhouse(&self, zones: &dyn Zones) -> Result<FunnelPlan, QueryError> {
        let mut plan = self.plan_in(zones)?;
        let range = TimeRange::parse(&self.from, &self.to)?;
        plan.limit = breakdown_limit(self.breakdown_limit)?;
        let cohort = match &plan.cohort {
            Some(c) => Some(c.clickhouse()?),
            None => None,
        };
        plan.sql = Sql {
            text: super::clickhouse::funnel::sql(self, range, plan.window, cohort)?,
            params: Vec::new(),
        };
        Ok(plan)
    }
}

/// Counts and middle gaps of one group while rows are read.
#[derive(Debug, Default, Clone)]
struct Acc {
    label: Value,
    counts: Vec<i64>,
    mids: Vec<Vec<i64>>,
}

impl FunnelPlan {
    /// Like [`FunnelPlan::finish`] for the rows of the ClickHouse statement.
    pub fn finish_clickhouse(
        &self,
        groups: Vec<super::clickhouse::funnel::GroupRow>,
    ) -> FunnelResult {
        let rows =
            super::clickhouse::funnel::rows(groups, self.events.len(), self.breakdown, self.limit);
        self.finish(rows)
    }

    /// Turns rows into per-step results (overall and per breakdown group).
    pub fn finish(&self, rows: Vec<FunnelRow>) -> FunnelResult {
        let n = self.events.len();
        let mut groups: Vec<(i64, Acc)> = Vec::new();
        for row in rows {
            let pos = match groups.iter().position(|(g, _)| *g == row.grp) {
                Some(pos) => pos,
                None => {
                    let acc = Acc {
                        label: Value::Null,
                        counts: vec![0; n],
                        mids: vec![Vec::new(); n],
                    };
                    groups.push((row.grp, acc));
                    groups.len() - 1
                }
            };
            let Some((_, acc)) = groups.get_mut(pos) else {
                continue;
            };
            let Ok(step) = usize::try_from(row.step) else {
                continue;
            };
            if row.kind == "n" {
                acc.label = row.label;
                if let Some(c) = acc.counts.get_mut(step) {
                    *c = row.value;
                }
            } else if let Some(m) = acc.mids.get_mut(step) {
                m.push(row.value);
            }
        }
        let overall = if self.breakdown {
            let mut all = Acc {
                label: Value::Null,
                counts: vec![0; n],
                mids: vec![Vec::new(); n],
            };
            for (g, acc) in &groups {
                if *g >= 0 {
                    for (t, c) in all.counts.iter_mut().zip(&acc.counts) {
                        *t += c;
                    }
                } else {
                    all.mids.clone_from(&acc.mids);
                }
            }
            all
        } else {
            groups
                .iter()
                .find(|(g, _)| *g == 1)
                .map(|(_, a)| a.clone())
                .unwrap_or(Acc {
                    label: Value::Null,
                    counts: vec![0; n],
                    mids: vec![Vec::new(); n],
                })
        };
        let breakdown = self.breakdown.then(|| {
            let mut list: Vec<&(i64, Acc)> = groups.iter().filter(|(g, _)| *g >= 0).collect();
            list.sort_by_key(|(g, _)| if *g == 0 { i64::MAX } else { *g });
            list.into_iter()
                .map(|(g, acc)| BreakdownResult {
                    key: match (&self.cohort, *g) {
                        (_, 0) => Value::Null,
                        (Some(c), _) => c.label(acc.label.clone()),
                        (None, _) => acc.label.clone(),
                    },
                    other: *g == 0,
                    steps: self.steps(acc),
                })
                .collect()
        });
        FunnelResult {
            window_ms: self.window.ms,
            steps: self.steps(&overall),
            breakdown,
        }
    }

    fn steps(&self, acc: &Acc) -> Vec<StepResult> {
        let first = acc.counts.first().copied().unwrap_or(0);
        self.events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let entered = acc.counts.get(i).copied().unwrap_or(0);
                let converted = acc.counts.get(i + 1).copied();
                StepResult {
                    index: i,
                    event: event.clone(),
                    entered,
                    converted,
                    conversion_rate: converted.and_then(|c| ratio(c, entered)),
                    drop_off: converted.map(|c| entered - c),
                    conversion_from_start: ratio(entered, first),
                    median_ms_to_next: acc.mids.get(i + 1).and_then(|m| median(m)),
                }
            })
            .collect()
    }
}

#[allow(clippy::cast_precision_loss)] // counts are far below 2^53
fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The mean of the one or two middle values the SQL returned.
#[allow(clippy::cast_precision_loss)] // gaps are far below 2^53 ms
fn median(mids: &[i64]) -> Option<f64> {
    match mids {
        [] => None,
        [one] => Some(*one as f64),
        [a, b, ..] => Some((*a as f64 + *b as f64) / 2.0),
    }
}

#[cfg(test)]
#[path = "funnel_tests.rs"]
mod tests;
