//! Conversion drivers in ClickHouse SQL (see [`crate::query::drivers`] for the semantics).
//!
//! Invariant: the same rows as the SQLite statement — `(-1, null, entrants, converters)` and
//! `(list, value, people, converters)` for the top [`limits::MAX_DRIVER_VALUES`] values of each
//! list, ties by value in SQLite's order — from the same definition. Who entered and converted
//! comes from the funnel's own per-person arrays (`funnel::attempts`); each event in a
//! person's span becomes an array of `(valid, list, kind, text, number)` items, array-joined and
//! made distinct per person before counting (18.16 has neither CTEs nor window functions).

use super::funnel::{attempts, keep};
use super::{dedup_events, field, literal, ALIASES, KIND_NUMBER, KIND_TEXT, PERSON};
use crate::query::field::Field;
use crate::query::funnel::FunnelQuery;
use crate::query::time_range::{TimeRange, Window};
use crate::query::{limits, QueryError};

/// The statement for a validated drivers query; `steps` are the funnel's track step names.
pub(crate) fn sql(
    q: &FunnelQuery,
    range: TimeRange,
    window: Window,
    steps: &[String],
    fields: &[Field],
) -> Result<String, QueryError> {
    let last = q.steps.len().saturating_sub(1);
    let w = literal::int(window.ms);
    let people = attempts(q, range, window, None)?;
    // `te` carries the funnel's keep-alive sum (times 0): a column of the funnel's arrays used
    // only inside a lambda would be pruned by 18.16 unless something used later needs it, and
    // `te` is needed by the span filter after the join.
    let spans = format!(
        "(SELECT person, toUInt8(r{last}) AS conv, te, if(r{last} = 1, f{last}, te + {w}) AS te2 \
         FROM (SELECT person, r{last}, f{last}, \
         toInt64(arrayReduce('min', arrayFilter(s -> s > 0, a0)) + 0 * ({})) AS te FROM {people}))",
        keep(q.steps.len())
    );
    let not_step = if steps.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = steps
            .iter()
            .map(|n| literal::string(n.as_bytes()))
            .collect();
        format!(" AND event NOT IN ({})", names.join(", "))
    };
    let mut items = vec![
        "tuple(toUInt8(1), toInt64(-1), toUInt8(0), '', toFloat64(0))".to_string(),
        format!("tuple(toUInt8(type = 'track'{not_step}), toInt64(0), toUInt8({KIND_TEXT}), event, toFloat64(0))"),
    ];
    for (i, f) in fields.iter().enumerate() {
        let t = field(f);
        items.push(format!(
            "tuple(toUInt8({k} IN ({KIND_NUMBER}, {KIND_TEXT})), toInt64({}), toUInt8({k}), \
             if({k} = {KIND_TEXT}, {s}, ''), if({k} = {KIND_NUMBER}, toFloat64({n}), toFloat64(0)))",
            i + 1,
            k = t.k,
            s = t.s,
            n = t.n,
        ));
    }
    let events = dedup_events(
        &format!(", [{}] AS items", items.join(", ")),
        range.from,
        range.to.saturating_add(window.ms),
        "1",
    );
    let joined = format!(
        "(SELECT {PERSON} AS person, ts_ms, items FROM {events} \
         ANY LEFT JOIN {ALIASES} USING link)"
    );
    Ok(format!(
        "SELECT key, label_k, label_s, label_n, toInt64(count()) AS people, \
         toInt64(sum(conv)) AS converters FROM \
         (SELECT DISTINCT person, conv, tupleElement(item, 2) AS key, \
         tupleElement(item, 3) AS label_k, tupleElement(item, 4) AS label_s, \
         tupleElement(item, 5) AS label_n FROM \
         (SELECT person, conv, items FROM {joined} AS seen ALL INNER JOIN {spans} AS spans USING person \
         WHERE ts_ms >= te AND ts_ms <= te2) \
         ARRAY JOIN items AS item WHERE tupleElement(item, 1) = 1) \
         GROUP BY key, label_k, label_s, label_n \
         ORDER BY key, people DESC, label_k, label_n, label_s LIMIT {} BY key",
        limits::MAX_DRIVER_VALUES
    ))
}

#[cfg(test)]
mod tests {
    use crate::query::DriversQuery;
    use serde_json::json;

    #[test]
    fn values_go_through_the_encoder() {
        let q: DriversQuery = serde_json::from_value(json!({
            "steps": [{"event": "it's"}, {"event": "Done"}],
            "from": "2026-11-01T00:00:00Z", "to": "2026-11-15T00:00:00Z",
            "properties": ["properties.o'x"]
        }))
        .unwrap();
        let sql = q.plan_clickhouse().unwrap().sql.text;
        assert!(sql.contains(r"event NOT IN ('it\'s', 'Done')"), "{sql}");
        assert!(sql.contains(r#"'properties$."o\'x"'"#), "{sql}");
        assert!(sql.contains("LIMIT 50 BY key"), "{sql}");
        assert!(!sql.contains("WITH "), "no CTEs on 18.16");
    }
}
