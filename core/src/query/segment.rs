//! Behavioral segments: the people matching conditions on what they did, when they were last
//! seen and their traits, combined with and/or/not; a count and a page of ids.
//!
//! Invariant: every leaf evaluates to exactly 0 or 1 (a person without events or traits gets
//! 0, never SQL NULL), so `not` is the exact complement and and/or are two-valued. The people
//! considered are everyone with an event plus everyone in `users`; events after `as_of` are
//! ignored.
//!
//! Leaves: `did` counts a person's events of a kind (with filters) in a window — `within`
//! (`as_of - within <= t <= as_of`), or `from`/`to` (`from <= t < to`), or all time — and
//! checks `min <= count <= max` (min defaults to 1, or to 0 when `max` is given; "did not"
//! is `max: 0` or `not`).
//! `lastSeen` compares the latest event time: `before` is strictly earlier, `after` is at
//! or later; either takes RFC 3339 or a duration ago (`"7d"`). `trait` reads `users.traits`,
//! else the latest `identify` event carrying that trait.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::field::{event_sql, json_path, Filter, FilterOp};
use super::sql::{de_opt_int, Params, Sql, EVENTS_WITH_ALIASES, PERSON};
use super::time_range::{parse_instant, Window};
use super::{limits, QueryError};

/// A condition tree as sent, e.g. `{"and": [{"did": {"event": "Viewed"}}, {"not": …}]}`.
/// Serializes back in the canonical (camelCase, defaults left out) spelling, which is what a
/// saved segment stores.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Condition {
    /// All of these.
    And(Vec<Condition>),
    /// Any of these.
    Or(Vec<Condition>),
    /// Not this.
    Not(Box<Condition>),
    /// Did an event between `min` and `max` times.
    Did(Did),
    /// Last seen before/after a time (`lastSeen`; the old `last_seen` is still read).
    #[serde(alias = "last_seen")]
    LastSeen(LastSeen),
    /// A trait compares to a value.
    Trait(Trait),
}

/// `{"did": {...}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Did {
    /// Event name (see [`super::EventMatcher`]).
    pub event: String,
    /// Filters on the counted events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// At least this many times (default 1, or 0 when `max` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// At most this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// Only events within this duration before `asOf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// Only events from this time (RFC 3339, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Only events before this time (RFC 3339, exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `{"lastSeen": {"before": "7d"}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LastSeen {
    /// Last event strictly before this time (RFC 3339 or a duration ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Last event at or after this time (RFC 3339 or a duration ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// `{"trait": {"name": "plan", "op": "eq", "value": "pro"}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Trait {
    /// Dotted path inside the traits object.
    pub name: String,
    /// Comparison (default `eq`).
    #[serde(default = "eq", skip_serializing_if = "FilterOp::is_eq")]
    pub op: FilterOp,
    /// Value to compare with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

const fn eq() -> FilterOp {
    FilterOp::Eq
}

/// `POST /v1/query/segment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SegmentQuery {
    /// The condition.
    #[serde(rename = "where")]
    pub condition: Condition,
    /// Evaluate as of this time (RFC 3339; default: now). The old `as_of` is still read.
    #[serde(default, alias = "as_of")]
    pub as_of: Option<String>,
    /// Ids per page (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Return ids after this one (the previous page's `nextCursor`).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Options for running a saved segment: a [`SegmentQuery`] without the condition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SegmentOptions {
    /// See [`SegmentQuery::as_of`].
    #[serde(default, alias = "as_of")]
    pub as_of: Option<String>,
    /// See [`SegmentQuery::limit`].
    #[serde(default)]
    pub limit: Option<usize>,
    /// See [`SegmentQuery::cursor`].
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A saved segment's body (`PUT /v1/segments/{id}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SavedSegment {
    /// A human name.
    pub name: String,
    /// The condition.
    #[serde(rename = "where")]
    pub condition: Condition,
    /// Whether membership is kept live per person (see [`super::live`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub live: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
const fn is_false(b: &bool) -> bool {
    !*b
}

impl SavedSegment {
    /// Validates name and condition (and, when `live`, that it can be kept live).
    pub fn validate(&self) -> Result<(), QueryError> {
        let len = self.name.chars().count();
        if len == 0 || len > limits::MAX_VALUE_CHARS {
            return Err(QueryError::value("name", "must be 1..=1024 characters"));
        }
        SegmentQuery::with_options(self.condition.clone(), SegmentOptions::default()).plan(0)?;
        if self.live {
            super::live::LiveSegment::compile("check", self)?;
        }
        Ok(())
    }
}

/// Refuses saving `saved` as segment `id` when that would make more than
/// [`crate::limits::MAX_LIVE_SEGMENTS`] segments live; `live_now` lists the ids of the segments live
/// now (re-saving one of them, or saving a segment not marked live, never counts twice).
pub fn check_live_count<'a>(
    id: &str,
    saved: &SavedSegment,
    live_now: impl IntoIterator<Item = &'a str>,
) -> Result<(), QueryError> {
    if !saved.live {
        return Ok(());
    }
    let others = live_now.into_iter().filter(|other| *other != id).count();
    if others >= crate::limits::MAX_LIVE_SEGMENTS {
        return Err(too_many_live(others));
    }
    Ok(())
}

/// The refusal of a live save past [`crate::limits::MAX_LIVE_SEGMENTS`] (`invalid_value` on
/// `live`) when `others` are live. The store's write of a live segment is itself conditional
/// on the count (so concurrent saves cannot race past the cap): when it did not write, the
/// caller answers this too.
pub fn too_many_live(others: usize) -> QueryError {
    QueryError::value(
        "live",
        format!(
            "at most {} segments can be live at once (MAX_LIVE_SEGMENTS); {others} already are",
            crate::limits::MAX_LIVE_SEGMENTS
        ),
    )
}

/// Whether `id` can name a saved segment: 1..=64 of `A-Z a-z 0-9 _ -`.
pub fn valid_segment_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A validated segment with its SQL.
#[derive(Debug, Clone)]
pub struct SegmentPlan {
    /// The statement; its rows are [`SegmentRow`]s.
    pub sql: Sql,
    limit: usize,
}

/// One row: the total (`person` null) or one id of the page.
#[derive(Debug, Clone, Deserialize)]
pub struct SegmentRow {
    /// A person id of the page.
    #[serde(default)]
    pub person: Option<String>,
    /// The total count (on the count row).
    #[serde(default, deserialize_with = "de_opt_int")]
    pub total: Option<i64>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentResult {
    /// How many people match.
    pub count: i64,
    /// One page of their ids, ascending.
    pub users: Vec<String>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Collects the pieces of SQL while the tree is walked.
struct Build {
    p: Params,
    as_of: String,
    as_of_ms: i64,
    counts: Vec<String>,
    traits: Vec<String>,
    leaves: usize,
}

impl SegmentQuery {
    /// A query from a saved condition plus run options.
    pub fn with_options(condition: Condition, o: SegmentOptions) -> Self {
        SegmentQuery {
            condition,
            as_of: o.as_of,
            limit: o.limit,
            cursor: o.cursor,
        }
    }

    /// Validates the definition and builds its SQL; `now_ms` is used when `as_of` is absent.
    pub fn plan(&self, now_ms: i64) -> Result<SegmentPlan, QueryError> {
        let limit = self.limit.unwrap_or(limits::DEFAULT_PAGE);
        if limit == 0 || limit > limits::MAX_PAGE {
            return Err(QueryError::value(
                "limit",
                format!("must be 1..={}", limits::MAX_PAGE),
            ));
        }
        let as_of_ms = match &self.as_of {
            Some(s) => parse_instant("asOf", s)?,
            None => now_ms,
        };
        let mut p = Params::default();
        let as_of = p.int(as_of_ms);
        let mut b = Build {
            p,
            as_of,
            as_of_ms,
            counts: Vec::new(),
            traits: Vec::new(),
            leaves: 0,
        };
        let expr = b.condition(&self.condition, 1)?;
        let cursor = b.p.text(self.cursor.as_deref().unwrap_or(""));
        let Build {
            p,
            as_of,
            counts,
            traits,
            ..
        } = b;
        let mut sql = format!(
            "WITH agg AS (SELECT {PERSON} AS person, \
             MAX(CASE WHEN e.ts_ms <= {as_of} THEN e.ts_ms END) AS last_ts"
        );
        for (i, c) in counts.iter().enumerate() {
            sql += &format!(", SUM(CASE WHEN {c} THEN 1 ELSE 0 END) AS c{i}");
        }
        sql += &format!(" FROM {EVENTS_WITH_ALIASES} GROUP BY 1)");
        for (i, t) in traits.iter().enumerate() {
            // The latest identify value per person: the max of "<15-digit ts><value as JSON>"
            // (a GROUP BY, so the join below gets an automatic index; a ROW_NUMBER() = 1
            // filter looked tiny to the planner and was scanned once per person).
            sql += &format!(
                ", t{i} AS (SELECT {PERSON} AS person, \
                 MAX(printf('%015d', e.ts_ms) || (e.traits -> {t})) AS tv \
                 FROM {EVENTS_WITH_ALIASES} WHERE e.type = 'identify' AND e.ts_ms <= {as_of} \
                 AND (e.traits ->> {t}) IS NOT NULL GROUP BY 1)"
            );
        }
        sql += ", pp AS (SELECT person FROM agg UNION SELECT user_id FROM users), \
                seg AS MATERIALIZED (SELECT pp.person AS person FROM pp \
                LEFT JOIN agg ON agg.person = pp.person LEFT JOIN users u ON u.user_id = pp.person";
        for i in 0..traits.len() {
            sql += &format!(" LEFT JOIN t{i} ON t{i}.person = pp.person");
        }
        sql += &format!(
            " WHERE {expr}) \
             SELECT NULL AS person, COUNT(*) AS total FROM seg \
             UNION ALL SELECT person, NULL FROM (SELECT person FROM seg WHERE person > {cursor} \
             ORDER BY person LIMIT {limit})"
        );
        Ok(SegmentPlan {
            sql: p.finish(sql)?,
            limit,
        })
    }
}

impl SegmentQuery {
    /// Validates the definition (as [`SegmentQuery::plan`] does) and builds its ClickHouse
    /// SQL; its one row is a [`super::clickhouse::segment::SegmentPage`] (see
    /// [`SegmentPlan::finish_clickhouse`]).
    pub fn plan_clickhouse(&self, now_ms: i64) -> Result<SegmentPlan, QueryError> {
        let mut plan = self.plan(now_ms)?;
        let as_of_ms = match &self.as_of {
            Some(s) => parse_instant("asOf", s)?,
            None => now_ms,
        };
        plan.sql = Sql {
            text: super::clickhouse::segment::sql(
                &self.condition,
                as_of_ms,
                self.cursor.as_deref().unwrap_or(""),
                plan.limit,
            )?,
            params: Vec::new(),
        };
        Ok(plan)
    }
}

impl Build {
    fn condition(&mut self, c: &Condition, depth: usize) -> Result<String, QueryError> {
        if depth > limits::MAX_CONDITION_DEPTH {
            return Err(QueryError::value(
                "where",
                format!(
                    "and/or/not nest deeper than {}",
                    limits::MAX_CONDITION_DEPTH
                ),
            ));
        }
        let leaf = matches!(
            c,
            Condition::Did(_) | Condition::LastSeen(_) | Condition::Trait(_)
        );
        if leaf {
            self.leaves += 1;
            if self.leaves > limits::MAX_CONDITIONS {
                return Err(QueryError::value(
                    "where",
                    format!("more than {} conditions", limits::MAX_CONDITIONS),
                ));
            }
        }
        Ok(match c {
            Condition::And(list) | Condition::Or(list) => {
                if list.is_empty() {
                    return Err(QueryError::value(
                        "where",
                        "`and`/`or` need at least one condition",
                    ));
                }
                let mut parts = Vec::with_capacity(list.len());
                for item in list {
                    parts.push(self.condition(item, depth + 1)?);
                }
                let glue = if matches!(c, Condition::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                format!("({})", parts.join(glue))
            }
            Condition::Not(inner) => format!("(NOT {})", self.condition(inner, depth + 1)?),
            Condition::Did(d) => self.did(d)?,
            Condition::LastSeen(s) => self.last_seen(s)?,
            Condition::Trait(t) => self.trait_leaf(t)?,
        })
    }

    fn did(&mut self, d: &Did) -> Result<String, QueryError> {
        let min = d.min.unwrap_or(if d.max.is_some() { 0 } else { 1 });
        if let Some(max) = d.max {
            if max < min {
                return Err(QueryError::value("max", "must be at least `min`"));
            }
        }
        let cond = event_sql(&d.event, &d.filters, &mut self.p)?;
        let time = match (&d.within, &d.from, &d.to) {
            (Some(w), None, None) => {
                let w = Window::parse("within", w)?;
                let start = self.p.int(self.as_of_ms - w.ms);
                format!("e.ts_ms >= {start} AND e.ts_ms <= {}", self.as_of)
            }
            (None, from, to) => {
                let mut t = format!("e.ts_ms <= {}", self.as_of);
                if let Some(f) = from {
                    t += &format!(" AND e.ts_ms >= {}", self.p.int(parse_instant("from", f)?));
                }
                if let Some(x) = to {
                    t += &format!(" AND e.ts_ms < {}", self.p.int(parse_instant("to", x)?));
                }
                t
            }
            _ => {
                return Err(QueryError::value(
                    "within",
                    "use either `within` or `from`/`to`",
                ))
            }
        };
        let i = self.counts.len();
        self.counts.push(format!("{cond} AND {time}"));
        let n = format!("COALESCE(agg.c{i}, 0)");
        Ok(match d.max {
            Some(max) => format!("({n} >= {min} AND {n} <= {max})"),
            None => format!("({n} >= {min})"),
        })
    }

    fn last_seen(&mut self, s: &LastSeen) -> Result<String, QueryError> {
        let mut parts = Vec::new();
        if let Some(t) = &s.before {
            parts.push(format!("agg.last_ts < {}", self.instant("before", t)?));
        }
        if let Some(t) = &s.after {
            parts.push(format!("agg.last_ts >= {}", self.instant("after", t)?));
        }
        if parts.is_empty() {
            return Err(QueryError::value(
                "lastSeen",
                "needs `before` and/or `after`",
            ));
        }
        Ok(format!("COALESCE(({}), 0)", parts.join(" AND ")))
    }

    /// An RFC 3339 time, or a duration before `as_of`, bound as ms.
    fn instant(&mut self, what: &'static str, s: &str) -> Result<String, QueryError> {
        let ms = match Window::parse(what, s) {
            Ok(w) => self.as_of_ms - w.ms,
            Err(_) => parse_instant(what, s)?,
        };
        Ok(self.p.int(ms))
    }

    fn trait_leaf(&mut self, t: &Trait) -> Result<String, QueryError> {
        let path = json_path(&t.name).map_err(|why| QueryError::Field {
            field: format!(
                "traits.{}",
                t.name
                    .chars()
                    .take(limits::MAX_VALUE_CHARS)
                    .collect::<String>()
            ),
            why,
        })?;
        let path = self.p.text(&path);
        let i = self.traits.len();
        self.traits.push(path.clone());
        let filter = Filter {
            field: String::new(),
            op: t.op,
            value: t.value.clone(),
        };
        let x = format!("COALESCE(json_extract(u.traits, {path}), substr(t{i}.tv, 16) ->> '$')");
        Ok(format!(
            "COALESCE(({}), 0)",
            filter.compare(&x, &mut self.p)?
        ))
    }
}

impl SegmentPlan {
    /// [`SegmentPlan::finish`] for the ClickHouse statement's rows.
    pub fn finish_clickhouse(
        &self,
        rows: Vec<super::clickhouse::segment::SegmentPage>,
    ) -> SegmentResult {
        self.finish(rows.into_iter().flat_map(|r| r.rows()).collect())
    }

    /// Splits the count row from the page of ids.
    pub fn finish(&self, rows: Vec<SegmentRow>) -> SegmentResult {
        let mut count = 0;
        let mut users = Vec::new();
        for row in rows {
            match row.person {
                Some(p) => users.push(p),
                None => count = row.total.unwrap_or(0),
            }
        }
        users.sort();
        let next_cursor = (users.len() == self.limit)
            .then(|| users.last().cloned())
            .flatten();
        SegmentResult {
            count,
            users,
            next_cursor,
        }
    }
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
