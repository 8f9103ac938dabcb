//! The ordered funnel in ClickHouse SQL (see [`crate::query::funnel`] for the semantics, which
//! this reproduces exactly).
//!
//! Invariant: the SQLite statement's window passes become per-person arrays, because 18.16 has
//! no window functions (and `windowFunnel` neither gives gaps nor insists on strictly later
//! events): for each step k and each event `e`, `s_k(e)` is the latest attempt start among
//! events strictly earlier than `e` (`arrayFilter(u < t)`), kept when within the window. The
//! statement returns one row per first-touch breakdown value (ordered by people at step 1,
//! then by SQLite's value order); [`rows`] ranks them into top N and "other" and emits the
//! same `n`/`mid` rows the SQLite statement does, so `FunnelPlan::finish` is shared.

use serde::Deserialize;
use serde_json::Value;

use super::{dedup_events, event_cond, field, literal, ALIASES, PERSON};
use crate::query::field::{EventMatcher, Field};
use crate::query::funnel::{FunnelQuery, FunnelRow};
use crate::query::time_range::{TimeRange, Window};
use crate::query::QueryError;

/// One row of the ClickHouse funnel statement: one breakdown value.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupRow {
    /// The breakdown value (null without breakdown).
    #[serde(default)]
    pub label: Value,
    /// People reaching each step.
    pub counts: Vec<i64>,
    /// Per step k ≥ 1 (index k-1): each converting person's gap from step k-1, ms.
    pub gaps: Vec<Vec<i64>>,
}

/// The statement for a validated funnel.
pub(crate) fn sql(
    q: &FunnelQuery,
    range: TimeRange,
    window: Window,
    cohort: Option<(String, String)>,
) -> Result<String, QueryError> {
    let n = q.steps.len();
    let attempts = attempts(q, range, window, cohort)?;
    let counts: Vec<String> = std::iter::once("toInt64(count())".to_string())
        .chain((1..n).map(|k| format!("toInt64(sum(r{k}))")))
        .collect();
    let gaps: Vec<String> = (1..n)
        .map(|k| format!("arraySort(groupArrayIf(g{k}, r{k} = 1))"))
        .collect();
    Ok(format!(
        "SELECT tupleElement(b, 1) AS label_k, tupleElement(b, 3) AS label_s, \
         tupleElement(b, 2) AS label_n, [{}] AS counts, [{}] AS gaps, \
         max({}) AS _keep \
         FROM {attempts} GROUP BY b \
         ORDER BY counts[1] DESC, label_k, label_n, label_s",
        counts.join(", "),
        gaps.join(", "),
        keep(n),
    ))
}

/// A sum over every array and first-completion column of [`attempts`]: 18.16 prunes a
/// subquery's columns that are used only inside lambda bodies (then fails with "Unknown
/// identifier"), so every captured column is also used outside one.
pub(crate) fn keep(n: usize) -> String {
    let rest: String = (1..n)
        .map(|k| format!(" + length(a{k}) + length(d{k}) + f{k}"))
        .collect();
    format!("length(ts) + length(a0){rest}")
}

/// One row per person who entered: `person`, `b` (first-touch breakdown tuple), `ts` (their
/// step events' times), `a0..` (attempt starts per step, 0 for none), `f1..` (first completion
/// of each step, 0 for none), `r1..` (reached step k) and `g1..` (gap at that completion).
pub(crate) fn attempts(
    q: &FunnelQuery,
    range: TimeRange,
    window: Window,
    cohort: Option<(String, String)>,
) -> Result<String, QueryError> {
    let n = q.steps.len();
    let w = literal::int(window.ms);
    let to = literal::int(range.to);
    let mut conds = Vec::with_capacity(n);
    for s in &q.steps {
        conds.push(event_cond(&s.event, &s.filters)?);
    }
    let mut names = Vec::new();
    for s in &q.steps {
        if let EventMatcher::Track(name) = EventMatcher::parse(&s.event)? {
            names.push(literal::string(name.as_bytes()));
        }
    }
    let prefilter = if names.len() == n {
        format!("event IN ({}) AND ", names.join(", "))
    } else {
        String::new()
    };
    let c0 = conds
        .first()
        .ok_or_else(|| QueryError::value("steps", "empty"))?;
    let mut cols = format!(", if({c0} AND ts_ms < {to}, ts_ms, 0) AS s0");
    for (k, c) in conds.iter().enumerate().skip(1) {
        cols += &format!(", toUInt8({c}) AS m{k}");
    }
    match &q.breakdown {
        Some(b) => {
            let t = field(&Field::parse(b)?);
            cols += &format!(", {} AS bk, {} AS bn, {} AS bs", t.group_key(), t.n, t.s);
        }
        None => cols += ", toUInt8(0) AS bk, toFloat64(0) AS bn, '' AS bs",
    }
    let events = dedup_events(
        &cols,
        range.from,
        range.to.saturating_add(window.ms),
        &format!("{prefilter}({})", conds.join(" OR ")),
    );
    let ms: Vec<String> = (1..n).map(|k| format!(", m{k}")).collect();
    let joined = match cohort {
        None => format!(
            "(SELECT {PERSON} AS person, ts_ms, s0{}, bk, bn, bs FROM {events} \
             ANY LEFT JOIN {ALIASES} USING link)",
            ms.concat()
        ),
        // A cohort is the person's: joined on after identity resolution, giving bk/bn/bs.
        Some((join, cols)) => format!(
            "(SELECT person, ts_ms, s0{m}, {cols} FROM (SELECT {PERSON} AS person, ts_ms, s0{m} \
             FROM {events} ANY LEFT JOIN {ALIASES} USING link) AS p{join})",
            m = ms.concat()
        ),
    };
    let arrays: Vec<String> = (1..n)
        .map(|k| format!(", groupArray(m{k}) AS am{k}"))
        .collect();
    let per = format!(
        "(SELECT person, groupArray(ts_ms) AS ts, groupArray(s0) AS a0{}, \
         argMinIf((bk, bn, bs), (ts_ms, bk, bn, bs), s0 > 0) AS b \
         FROM {joined} GROUP BY person HAVING max(s0) > 0)",
        arrays.concat()
    );
    let mut steps = String::new();
    for k in 1..n {
        let prev = k - 1;
        steps += &format!(
            ", arrayMap(t -> arrayReduce('max', arrayFilter((s, u) -> u < t, a{prev}, ts)), ts) AS p{k}, \
             arrayMap((p, t, m) -> if(m = 1 AND p > 0 AND p >= t - {w}, p, 0), p{k}, ts, am{k}) AS a{k}, \
             arrayMap(t -> t - arrayReduce('max', arrayFilter((u, s) -> u < t AND s > 0, ts, a{prev})), ts) AS d{k}, \
             arrayReduce('min', arrayFilter((t, s) -> s > 0, ts, a{k})) AS f{k}, \
             arrayExists(s -> s > 0, a{k}) AS r{k}, \
             arrayReduce('max', arrayFilter((d, t, s) -> s > 0 AND t = f{k}, d{k}, ts, a{k})) AS g{k}"
        );
    }
    Ok(format!("(SELECT person, b, ts, a0{steps} FROM {per})"))
}

/// A group being merged: (grp, label, counts per step, gaps per step).
type Merged = (i64, Value, Vec<i64>, Vec<Vec<i64>>);

/// Turns the per-value rows into the SQLite statement's rows: the first `limit` values by rank
/// are groups 1..=limit, the rest are summed into group 0; with a breakdown, group -1 carries
/// the middle gaps over everyone. Without one, everything is group 1.
pub fn rows(groups: Vec<GroupRow>, steps: usize, breakdown: bool, limit: usize) -> Vec<FunnelRow> {
    let mut merged: Vec<Merged> = Vec::new();
    let mut all_gaps: Vec<Vec<i64>> = vec![Vec::new(); steps];
    for (rank, g) in groups.into_iter().enumerate() {
        let grp = if !breakdown {
            1
        } else if rank < limit {
            i64::try_from(rank + 1).unwrap_or(i64::MAX)
        } else {
            0
        };
        for (k, gs) in g.gaps.iter().enumerate() {
            if let Some(a) = all_gaps.get_mut(k + 1) {
                a.extend(gs);
            }
        }
        let pos = match merged.iter().position(|m| m.0 == grp) {
            Some(p) => p,
            None => {
                let label = if grp == 0 {
                    Value::Null
                } else {
                    g.label.clone()
                };
                merged.push((grp, label, vec![0; steps], vec![Vec::new(); steps]));
                merged.len() - 1
            }
        };
        let Some((_, _, counts, gaps)) = merged.get_mut(pos) else {
            continue;
        };
        for (t, c) in counts.iter_mut().zip(&g.counts) {
            *t += c;
        }
        for (k, gs) in g.gaps.into_iter().enumerate() {
            if let Some(a) = gaps.get_mut(k + 1) {
                a.extend(gs);
            }
        }
    }
    let mut out = Vec::new();
    let step = |k: usize| i64::try_from(k).unwrap_or(i64::MAX);
    for (grp, label, counts, gaps) in merged {
        for (k, c) in counts.iter().enumerate() {
            out.push(FunnelRow {
                kind: "n".into(),
                grp,
                label: label.clone(),
                step: step(k),
                value: *c,
            });
        }
        push_mids(&mut out, grp, gaps);
    }
    if breakdown {
        push_mids(&mut out, -1, all_gaps);
    }
    out
}

fn push_mids(out: &mut Vec<FunnelRow>, grp: i64, gaps: Vec<Vec<i64>>) {
    for (k, mut g) in gaps.into_iter().enumerate() {
        if g.is_empty() {
            continue;
        }
        g.sort_unstable();
        let cnt = g.len();
        let (lo, hi) = (cnt.div_ceil(2), (cnt + 2) / 2);
        let mut picks = vec![lo];
        if hi != lo {
            picks.push(hi);
        }
        for rn in picks {
            if let Some(v) = rn.checked_sub(1).and_then(|i| g.get(i)) {
                out.push(FunnelRow {
                    kind: "mid".into(),
                    grp,
                    label: Value::Null,
                    step: i64::try_from(k).unwrap_or(i64::MAX),
                    value: *v,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(label: Value, counts: Vec<i64>, gaps: Vec<Vec<i64>>) -> GroupRow {
        GroupRow {
            label,
            counts,
            gaps,
        }
    }

    #[test]
    fn ranks_into_top_n_and_other_with_middle_gaps() {
        let rows = rows(
            vec![
                group(json!("shoes"), vec![5, 2], vec![vec![10, 30]]),
                group(json!("hats"), vec![3, 1], vec![vec![20]]),
                group(Value::Null, vec![2, 1], vec![vec![40]]),
            ],
            2,
            true,
            1,
        );
        let n = |grp: i64| -> Vec<i64> {
            rows.iter()
                .filter(|r| r.kind == "n" && r.grp == grp)
                .map(|r| r.value)
                .collect()
        };
        let mids = |grp: i64| -> Vec<i64> {
            rows.iter()
                .filter(|r| r.kind == "mid" && r.grp == grp)
                .map(|r| r.value)
                .collect()
        };
        assert_eq!(n(1), vec![5, 2]);
        assert_eq!(n(0), vec![5, 2]); // hats + null merged into "other"
        assert_eq!(mids(1), vec![10, 30]); // even count: both middle values
        assert_eq!(mids(0), vec![20, 40]);
        assert_eq!(mids(-1), vec![20, 30]); // everyone: 10 20 30 40
        assert!(rows.iter().any(|r| r.grp == 1 && r.label == json!("shoes")));
        assert!(rows
            .iter()
            .filter(|r| r.grp == 0)
            .all(|r| r.label.is_null()));
    }
}
