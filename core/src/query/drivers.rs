//! Conversion drivers: for a funnel, which behaviours are over- or under-represented among the
//! people who converted compared with those who entered and dropped off.
//!
//! Semantics. The funnel (steps, range, window) is the ordered funnel of [`super::funnel`]. An
//! *entrant* is a person with a step-1 event in the range; they *converted* if they reached the
//! last step. Each entrant has a *span*: from their first step-1 event in the range (`te`) to
//! their first completion of the last step if they converted, else to `te + window`; both ends
//! inclusive. A person *has* an item if one of their events inside their span carries it:
//! - `event`: a track event of that name, other than the names of the funnel's own steps
//!   (they would trivially predict conversion);
//! - `property`: a value (not null, not missing) of one of the requested fields
//!   (`properties.plan`, `context.campaign.source`, `name`, …) on any of their events in the
//!   span, step events included (which category they viewed is a driver worth seeing).
//!
//! Candidates are capped per list: the [`limits::MAX_DRIVER_VALUES`] event names (and, per
//! requested field, values) that the most entrants have, ties by value in SQLite's order
//! (null, numbers, text by bytes), identically on both stores.
//!
//! Statistics (computed here from the per-item counts, so both stores agree by construction):
//! the 2×2 table `a` converters with the item, `b` converters without, `c` drop-offs with,
//! `d` drop-offs without; when any cell is 0, 0.5 is added to every cell (Haldane–Anscombe).
//! The odds ratio is `ad / bc`, its log's standard error `√(1/a + 1/b + 1/c + 1/d)` (Woolf), the
//! 95 % interval `log OR ± 1.959964·SE`, and the significance a two-sided Wald test:
//! `z = log OR / SE`, `p = erfc(|z| / √2)`. (Wald rather than Fisher's exact test: it is cheap
//! for 100 items and well behaved with the correction; with very small cells p is only
//! approximate — the counts are returned so a reader can judge.) Drivers are sorted by p
//! ascending, then |log OR| descending, then list and value, and cut to `limit`. With no
//! converters or no drop-offs there is nothing to compare and the list is empty.
//!
//! Invariant: the SQL is the funnel's own statement (shared code, so "converted" means exactly
//! what the funnel answers) followed by the span scan; values from the request are bound
//! (SQLite) or encoded by the literal encoder (ClickHouse), never spliced.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::field::{EventMatcher, Field};
use super::funnel::{Chain, FunnelQuery, Step};
use super::sql::{de_int, Params, Sql, EVENTS_WITH_ALIASES, PERSON};
use super::time_range::TimeRange;
use super::{limits, QueryError};

/// `POST /v1/query/drivers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DriversQuery {
    /// The funnel's ordered steps (2..=10); converting means reaching the last one.
    pub steps: Vec<Step>,
    /// Range for the first step, RFC 3339 (inclusive).
    pub from: String,
    /// Range end for the first step, RFC 3339 (exclusive).
    pub to: String,
    /// Conversion window (default 14d).
    #[serde(default)]
    pub window: Option<String>,
    /// Fields whose values are compared too (at most [`limits::MAX_DRIVER_PROPERTIES`]).
    #[serde(default)]
    pub properties: Vec<String>,
    /// How many drivers to return (default [`limits::DEFAULT_DRIVERS`]).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A validated drivers query with its SQL.
#[derive(Debug, Clone)]
pub struct DriversPlan {
    /// The statement; its rows are [`DriverRow`]s.
    pub sql: Sql,
    window_ms: i64,
    properties: Vec<String>,
    limit: usize,
}

/// One row of the drivers statement (both stores).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DriverRow {
    /// -1: all entrants; 0: a track event name; i ≥ 1: a value of the i-th property.
    #[serde(deserialize_with = "de_int")]
    pub key: i64,
    /// The event name or property value (null for the totals row).
    #[serde(default)]
    pub label: Value,
    /// Entrants who have the item.
    #[serde(deserialize_with = "de_int")]
    pub people: i64,
    /// Of those, the ones who converted.
    #[serde(deserialize_with = "de_int")]
    pub converters: i64,
}

/// What a driver is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// Doing a track event.
    Event,
    /// A property value on one's events.
    Property,
}

/// One driver of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Driver {
    /// `event` or `property`.
    pub kind: DriverKind,
    /// The track event name (for `event`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The field as requested (for `property`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// The property value (for `property`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Converters with the item (`a`).
    pub converted: i64,
    /// Drop-offs with the item (`c`).
    pub dropped_off: i64,
    /// `a / converters`.
    pub converted_share: f64,
    /// `c / drop-offs`.
    pub dropped_off_share: f64,
    /// The statistics of the 2×2 table.
    #[serde(flatten)]
    pub odds: Odds,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriversResult {
    /// The conversion window in ms.
    pub window_ms: i64,
    /// People who entered the funnel.
    pub entered: i64,
    /// Of those, people who reached the last step.
    pub converted: i64,
    /// `entered - converted`.
    pub dropped_off: i64,
    /// Items compared (after the per-list caps, before `limit`).
    pub candidates: usize,
    /// The strongest drivers, most significant first.
    pub drivers: Vec<Driver>,
}

/// The statistics of a 2×2 table (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Odds {
    /// `ad / bc` (after the correction, if applied).
    pub odds_ratio: f64,
    /// Natural log of the odds ratio.
    pub log_odds_ratio: f64,
    /// Standard error of the log odds ratio.
    pub standard_error: f64,
    /// 95 % confidence interval of the log odds ratio, `[low, high]`.
    pub log_odds_ratio_ci95: [f64; 2],
    /// Wald statistic.
    pub z: f64,
    /// Two-sided p value.
    pub p_value: f64,
    /// Whether 0.5 was added to every cell because one was zero.
    pub corrected: bool,
}

/// The 97.5 % quantile of the standard normal distribution.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// The statistics of the table `[[a, b], [c, d]]` (counts ≥ 0).
#[allow(clippy::cast_precision_loss)] // counts are far below 2^53
pub fn odds(a: i64, b: i64, c: i64, d: i64) -> Odds {
    let corrected = a == 0 || b == 0 || c == 0 || d == 0;
    let add = if corrected { 0.5 } else { 0.0 };
    let [a, b, c, d] = [a, b, c, d].map(|x| x as f64 + add);
    let log = (a.ln() + d.ln()) - (b.ln() + c.ln());
    let se = (1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d).sqrt();
    let z = log / se;
    Odds {
        odds_ratio: log.exp(),
        log_odds_ratio: log,
        standard_error: se,
        log_odds_ratio_ci95: [log - Z_95 * se, log + Z_95 * se],
        z,
        p_value: erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0),
        corrected,
    }
}

/// The complementary error function, to about 1e-15 relative: below 1.2 as `1 - erf` with
/// erf's all-positive series (erfc > 0.08 there, so the subtraction loses little), from 1.2 up
/// by its continued fraction evaluated from a fixed depth of 150 (checked against libm).
#[allow(clippy::cast_precision_loss)] // small loop indices
pub fn erfc(x: f64) -> f64 {
    const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 1.2 {
        // erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)); at x < 1.2 the terms fall
        // below 1e-17 of the sum well within 60 terms.
        let mut term = x;
        let mut sum = x;
        for n in 1..60 {
            term *= 2.0 * x * x / f64::from(2 * n + 1);
            sum += term;
        }
        1.0 - TWO_OVER_SQRT_PI * (-x * x).exp() * sum
    } else {
        // erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3⁄2/(x + …)))).
        let mut f = x;
        for k in (1..=150).rev() {
            f = x + (k as f64 / 2.0) / f;
        }
        TWO_OVER_SQRT_PI / 2.0 * (-x * x).exp() / f
    }
}

impl DriversQuery {
    fn funnel(&self) -> FunnelQuery {
        FunnelQuery {
            steps: self.steps.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            window: self.window.clone(),
            breakdown: None,
            breakdown_limit: None,
            cohort: None,
            timezone: None,
        }
    }

    /// The requested fields, parsed, and the result limit.
    fn fields(&self) -> Result<(Vec<Field>, usize), QueryError> {
        if self.properties.len() > limits::MAX_DRIVER_PROPERTIES {
            return Err(QueryError::value(
                "properties",
                format!("at most {} properties", limits::MAX_DRIVER_PROPERTIES),
            ));
        }
        let mut fields = Vec::with_capacity(self.properties.len());
        for p in &self.properties {
            let f = Field::parse(p)?;
            if fields.contains(&f) {
                return Err(QueryError::value("properties", format!("`{p}` twice")));
            }
            fields.push(f);
        }
        let limit = self.limit.unwrap_or(limits::DEFAULT_DRIVERS);
        if !(1..=limits::MAX_DRIVERS).contains(&limit) {
            return Err(QueryError::value(
                "limit",
                format!("between 1 and {}", limits::MAX_DRIVERS),
            ));
        }
        Ok((fields, limit))
    }

    /// The funnel's track step names (excluded from the event list).
    fn step_names(&self) -> Result<Vec<String>, QueryError> {
        let mut names = Vec::new();
        for s in &self.steps {
            if let EventMatcher::Track(name) = EventMatcher::parse(&s.event)? {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    /// Validates the definition and builds its SQLite SQL.
    pub fn plan(&self) -> Result<DriversPlan, QueryError> {
        let funnel = self.funnel();
        let last = self.steps.len().saturating_sub(1);
        let mut p = Params::default();
        let Chain {
            mut sql,
            window,
            from,
            end,
            ..
        } = funnel.chain(&mut p, None)?;
        let (fields, limit) = self.fields()?;
        let w = window.ms;
        let names: Vec<String> = self.step_names()?.iter().map(|n| p.text(n)).collect();
        let not_step = if names.is_empty() {
            String::new()
        } else {
            format!(" AND e.event NOT IN ({})", names.join(", "))
        };
        let mut cols = format!("CASE WHEN e.type = 'track'{not_step} THEN e.event END AS v0");
        for (i, f) in fields.iter().enumerate() {
            cols += &format!(", {} AS v{}", f.sql(&mut p), i + 1);
        }
        // `CROSS JOIN` keeps SQLite's join order: the range's events outside, the spans inside
        // through an automatic index on `person` (the planner otherwise scanned every event
        // once per span: 1.2 s instead of 0.07 s over 8k events in sqlite 3.40).
        sql += &format!(
            ", per AS MATERIALIZED (SELECT person, MIN(s0) AS te, MAX(s{last} IS NOT NULL) AS conv, \
             MIN(CASE WHEN s{last} IS NOT NULL THEN ts END) AS tc FROM f GROUP BY person HAVING te IS NOT NULL), \
             span AS MATERIALIZED (SELECT person, conv, te, \
             CASE WHEN conv = 1 THEN tc ELSE te + {w} END AS te2 FROM per), \
             ev AS MATERIALIZED (SELECT s.person AS person, s.conv AS conv, {cols} \
             FROM {EVENTS_WITH_ALIASES} CROSS JOIN span s ON s.person = {PERSON} \
             WHERE e.ts_ms >= {from} AND e.ts_ms < {end} AND e.ts_ms >= s.te AND e.ts_ms <= s.te2)"
        );
        let lists: Vec<String> = (0..=fields.len())
            .map(|i| {
                format!(" UNION SELECT person, conv, {i}, v{i} FROM ev WHERE v{i} IS NOT NULL")
            })
            .collect();
        sql += &format!(
            ", did AS (SELECT person, conv, -1 AS key, NULL AS label FROM ev{}), \
             agg AS (SELECT key, label, COUNT(*) AS people, SUM(conv) AS converters \
             FROM did GROUP BY key, label) \
             SELECT key, label, people, converters FROM (SELECT *, ROW_NUMBER() OVER \
             (PARTITION BY key ORDER BY people DESC, label) AS rn FROM agg) WHERE rn <= {}",
            lists.concat(),
            limits::MAX_DRIVER_VALUES
        );
        Ok(DriversPlan {
            sql: p.finish(sql)?,
            window_ms: w,
            properties: self.properties.clone(),
            limit,
        })
    }

    /// Validates the definition (as [`DriversQuery::plan`] does) and builds its ClickHouse SQL;
    /// its rows are the same [`DriverRow`]s.
    pub fn plan_clickhouse(&self) -> Result<DriversPlan, QueryError> {
        let mut plan = self.plan()?;
        let funnel = self.funnel();
        let range = TimeRange::parse(&self.from, &self.to)?;
        let (fields, _) = self.fields()?;
        plan.sql = Sql {
            text: super::clickhouse::drivers::sql(
                &funnel,
                range,
                super::time_range::Window { ms: plan.window_ms },
                &self.step_names()?,
                &fields,
            )?,
            params: Vec::new(),
        };
        Ok(plan)
    }
}

/// SQLite's order of `json_extract` values: null, numbers, then text by bytes.
fn value_order(x: &Value, y: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) | Value::Number(_) => 1,
        _ => 2,
    };
    rank(x).cmp(&rank(y)).then_with(|| match (x, y) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            a.partial_cmp(&b).unwrap_or(Ordering::Equal)
        }
        (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
        _ => Ordering::Equal,
    })
}

impl DriversPlan {
    /// Computes each candidate's statistics, sorts and cuts the list.
    #[allow(clippy::cast_precision_loss)] // counts are far below 2^53
    pub fn finish(&self, rows: Vec<DriverRow>) -> DriversResult {
        let (mut entered, mut converted) = (0, 0);
        let mut items = Vec::new();
        for r in rows {
            if r.key < 0 {
                entered = r.people;
                converted = r.converters;
            } else {
                items.push(r);
            }
        }
        let dropped_off = entered - converted;
        let candidates = items.len();
        let mut drivers: Vec<(i64, i64, Value, Driver)> = Vec::new();
        if converted > 0 && dropped_off > 0 {
            for r in items {
                let (a, c) = (r.converters, r.people - r.converters);
                let (kind, event, property, value) = if r.key == 0 {
                    let name = r.label.as_str().map(str::to_owned);
                    (DriverKind::Event, name, None, None)
                } else {
                    let field = usize::try_from(r.key - 1)
                        .ok()
                        .and_then(|i| self.properties.get(i))
                        .cloned();
                    (DriverKind::Property, None, field, Some(r.label.clone()))
                };
                let driver = Driver {
                    kind,
                    event,
                    property,
                    value,
                    converted: a,
                    dropped_off: c,
                    converted_share: a as f64 / converted as f64,
                    dropped_off_share: c as f64 / dropped_off as f64,
                    odds: odds(a, converted - a, c, dropped_off - c),
                };
                drivers.push((r.key, r.people, r.label, driver));
            }
        }
        drivers.sort_by(|x, y| {
            let (ox, oy) = (&x.3.odds, &y.3.odds);
            ox.p_value
                .total_cmp(&oy.p_value)
                .then_with(|| oy.log_odds_ratio.abs().total_cmp(&ox.log_odds_ratio.abs()))
                .then_with(|| x.0.cmp(&y.0))
                .then_with(|| y.1.cmp(&x.1))
                .then_with(|| value_order(&x.2, &y.2))
        });
        drivers.truncate(self.limit);
        DriversResult {
            window_ms: self.window_ms,
            entered,
            converted,
            dropped_off,
            candidates,
            drivers: drivers.into_iter().map(|d| d.3).collect(),
        }
    }
}

#[cfg(test)]
#[path = "drivers_tests.rs"]
mod tests;
