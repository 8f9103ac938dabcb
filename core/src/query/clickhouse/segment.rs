//! The segment query in ClickHouse SQL (see [`crate::query::segment`] for the semantics).
//!
//! Invariant: the same people as the SQLite statement, from the same validated definition —
//! everyone with a stored event (any time) plus everyone in `users`, each leaf exactly 0 or 1.
//! 18.16 has no CTEs and joins one table per SELECT, so one pass does it all: the deduplicated
//! events (person resolved through [`ALIASES`]) and the current `users` rows (highest `rev`)
//! are one `UNION ALL`, grouped by person into `last_ts`/`seen` (events up to `asOf`), one
//! count per `did` leaf and one typed value per `trait` leaf — the profile's value (ranked
//! above any time, as D1's `COALESCE(users.traits, latest identify)`), else the latest
//! `identify` event up to `asOf` carrying it. The single row answers the total and the page
//! (`groupArrayIf` after the cursor, sorted, sliced), so the tree is evaluated once.
//! Values reach the text only through [`super::literal`].

use serde::Deserialize;

use super::{compare, event_cond, field_key, literal, Typed, ALIASES, KIND_NUMBER, KIND_TEXT};
use super::{LINK, PERSON};
use crate::query::field::{json_path, Filter, JsonColumn};
use crate::query::segment::{Condition, Did, LastSeen, SegmentRow, Trait};
use crate::query::time_range::{parse_instant, Window};
use crate::query::QueryError;

/// The rank of a profile's trait: above any event time, so the profile wins.
const PROFILE_RANK: i64 = i64::MAX;

/// The one row of a ClickHouse segment statement.
#[derive(Debug, Clone, Deserialize)]
pub struct SegmentPage {
    /// How many people match.
    #[serde(deserialize_with = "crate::query::sql::de_int")]
    pub total: i64,
    /// The page of ids after the cursor, ascending.
    #[serde(default)]
    pub page: Vec<String>,
}

impl SegmentPage {
    /// The rows the SQLite statement gives for the same answer: the count row, then the ids.
    pub fn rows(self) -> Vec<SegmentRow> {
        let mut rows = vec![SegmentRow {
            person: None,
            total: Some(self.total),
        }];
        rows.extend(self.page.into_iter().map(|p| SegmentRow {
            person: Some(p),
            total: None,
        }));
        rows
    }
}

/// Collects the per-event and per-profile columns while the tree is walked.
struct Build {
    as_of_ms: i64,
    /// Per `did` leaf: the condition on one event row.
    counts: Vec<String>,
    /// Per `trait` leaf: its `f_key` literal.
    traits: Vec<String>,
}

/// The statement for a condition already validated by [`crate::query::SegmentQuery::plan`].
pub(crate) fn sql(
    condition: &Condition,
    as_of_ms: i64,
    cursor: &str,
    limit: usize,
) -> Result<String, QueryError> {
    let mut b = Build {
        as_of_ms,
        counts: Vec::new(),
        traits: Vec::new(),
    };
    let expr = b.condition(condition)?;
    let as_of = literal::int(as_of_ms);
    // Per event row: computed inside the deduplicating subquery (they read f_*), then named.
    // Every UNION ALL column is materialize()d: 18.16 folds `x IN (…)` to a constant in a
    // stream's header and then refuses to unite it with a non-constant column.
    let mut ev = String::new();
    let mut names = String::new();
    // Per profile row, and the per-person aggregates.
    let mut pr = String::new();
    let mut agg = String::new();
    for (i, c) in b.counts.iter().enumerate() {
        ev += &format!(", materialize(toUInt8({c})) AS e{i}");
        names += &format!(", e{i}");
        pr += &format!(", materialize(toUInt8(0)) AS e{i}");
        agg += &format!(", toInt64(sum(e{i})) AS c{i}");
    }
    let min = literal::int(i64::MIN);
    let mut prof = String::new();
    for (i, key) in b.traits.iter().enumerate() {
        let at = format!("indexOf(f_key, {key})");
        let cand = format!(
            "type = 'identify' AND ts_ms <= {as_of} AND f_kind[{at}] IN ({KIND_NUMBER}, {KIND_TEXT})"
        );
        ev += &format!(
            ", materialize(toUInt8(if({cand}, f_kind[{at}], 0))) AS k{i}, \
             materialize(toFloat64(if({cand}, f_num[{at}], 0))) AS n{i}, \
             materialize(toString(if({cand}, f_str[{at}], ''))) AS s{i}, \
             materialize(if({cand}, toInt64(ts_ms), toInt64({min}))) AS o{i}"
        );
        names += &format!(", k{i}, n{i}, s{i}, o{i}");
        prof += &format!(", argMax(tuple(f_kind[{at}], f_num[{at}], f_str[{at}]), rev) AS p{i}");
        let known = format!("tupleElement(p{i}, 1) IN ({KIND_NUMBER}, {KIND_TEXT})");
        pr += &format!(
            ", materialize(toUInt8(if({known}, tupleElement(p{i}, 1), 0))) AS k{i}, \
             materialize(toFloat64(if({known}, tupleElement(p{i}, 2), 0))) AS n{i}, \
             materialize(toString(if({known}, tupleElement(p{i}, 3), ''))) AS s{i}, \
             materialize(if({known}, toInt64({rank}), toInt64({min}))) AS o{i}",
            rank = literal::int(PROFILE_RANK),
        );
        agg += &format!(", argMax(tuple(k{i}, n{i}, s{i}), o{i}) AS t{i}");
    }
    let events = format!(
        "SELECT {PERSON} AS person, materialize(toUInt8(1)) AS ev, ts_ms{names} FROM ({}) AS e \
         ANY LEFT JOIN {ALIASES} USING link",
        super::distinct_events(
            &format!("message_id, user_id, anonymous_id, {LINK}, ts_ms{ev}"),
            "1"
        )
    );
    let profiles = format!(
        "SELECT user_id AS person, materialize(toUInt8(0)) AS ev, \
         materialize(toInt64(0)) AS ts_ms{pr} \
         FROM (SELECT user_id{prof} FROM users GROUP BY user_id)"
    );
    let people = format!(
        "(SELECT person, maxIf(ts_ms, ev = 1 AND ts_ms <= {as_of}) AS last_ts, \
         countIf(ev = 1 AND ts_ms <= {as_of}) AS seen{agg} \
         FROM ({events} UNION ALL {profiles}) GROUP BY person)"
    );
    Ok(format!(
        "SELECT toInt64(count()) AS total, \
         arraySlice(arraySort(groupArrayIf(person, person > {cursor})), 1, {limit}) AS page \
         FROM (SELECT person FROM {people} WHERE {expr})",
        cursor = literal::string(cursor.as_bytes()),
    ))
}

impl Build {
    fn condition(&mut self, c: &Condition) -> Result<String, QueryError> {
        Ok(match c {
            Condition::And(list) | Condition::Or(list) => {
                let mut parts = Vec::with_capacity(list.len());
                for item in list {
                    parts.push(self.condition(item)?);
                }
                let glue = if matches!(c, Condition::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                format!("({})", parts.join(glue))
            }
            Condition::Not(inner) => format!("(NOT {})", self.condition(inner)?),
            Condition::Did(d) => self.did(d)?,
            Condition::LastSeen(s) => self.last_seen(s)?,
            Condition::Trait(t) => self.trait_leaf(t)?,
        })
    }

    fn did(&mut self, d: &Did) -> Result<String, QueryError> {
        let min = d.min.unwrap_or(if d.max.is_some() { 0 } else { 1 });
        let cond = event_cond(&d.event, &d.filters)?;
        let as_of = literal::int(self.as_of_ms);
        let time = match (&d.within, &d.from, &d.to) {
            (Some(w), None, None) => {
                let w = Window::parse("within", w)?;
                format!(
                    "ts_ms >= {} AND ts_ms <= {as_of}",
                    literal::int(self.as_of_ms - w.ms)
                )
            }
            (None, from, to) => {
                let mut t = format!("ts_ms <= {as_of}");
                if let Some(f) = from {
                    t += &format!(" AND ts_ms >= {}", literal::int(parse_instant("from", f)?));
                }
                if let Some(x) = to {
                    t += &format!(" AND ts_ms < {}", literal::int(parse_instant("to", x)?));
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
        let n = format!("c{i}");
        Ok(match d.max {
            Some(max) => format!("({n} >= {min} AND {n} <= {max})"),
            None => format!("({n} >= {min})"),
        })
    }

    fn last_seen(&mut self, s: &LastSeen) -> Result<String, QueryError> {
        let mut parts = vec!["seen > 0".to_string()];
        if let Some(t) = &s.before {
            parts.push(format!("last_ts < {}", self.instant("before", t)?));
        }
        if let Some(t) = &s.after {
            parts.push(format!("last_ts >= {}", self.instant("after", t)?));
        }
        if parts.len() == 1 {
            return Err(QueryError::value(
                "lastSeen",
                "needs `before` and/or `after`",
            ));
        }
        Ok(format!("({})", parts.join(" AND ")))
    }

    /// An RFC 3339 time, or a duration before `as_of`, as a literal (ms).
    fn instant(&self, what: &'static str, s: &str) -> Result<String, QueryError> {
        let ms = match Window::parse(what, s) {
            Ok(w) => self.as_of_ms - w.ms,
            Err(_) => parse_instant(what, s)?,
        };
        Ok(literal::int(ms))
    }

    fn trait_leaf(&mut self, t: &Trait) -> Result<String, QueryError> {
        let path = json_path(&t.name).map_err(|why| QueryError::Field {
            field: format!("traits.{}", t.name),
            why,
        })?;
        let i = self.traits.len();
        self.traits.push(literal::string(
            field_key(JsonColumn::Traits, &path).as_bytes(),
        ));
        let filter = Filter {
            field: String::new(),
            op: t.op,
            value: t.value.clone(),
        };
        let x = Typed {
            k: format!("tupleElement(t{i}, 1)"),
            n: format!("tupleElement(t{i}, 2)"),
            s: format!("tupleElement(t{i}, 3)"),
        };
        Ok(format!("({})", compare(&filter, &x)?))
    }
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
