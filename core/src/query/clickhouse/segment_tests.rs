use super::*;
use crate::query::SegmentQuery;
use serde_json::json;

const NOW: i64 = 1_800_000_000_000;

fn ch(v: serde_json::Value) -> String {
    let q: SegmentQuery = serde_json::from_value(v).unwrap();
    q.plan_clickhouse(NOW).unwrap().sql.text
}

#[test]
fn one_pass_over_events_and_profiles_without_ctes() {
    let sql = ch(json!({"where": {"and": [
        {"did": {"event": "Product Viewed", "within": "7d"}},
        {"not": {"did": {"event": "Order Completed", "max": 2}}}
    ]}}));
    assert!(!sql.contains("WITH"), "18.16 has no CTEs: {sql}");
    assert_eq!(sql.matches("FROM events").count(), 1, "{sql}");
    assert!(sql.contains("FROM events FINAL"), "{sql}");
    assert!(sql.contains("ANY LEFT JOIN (SELECT link, argMax(user_id, v)"));
    assert!(sql.contains("UNION ALL SELECT user_id AS person"), "{sql}");
    assert!(sql.contains("(NOT (c1 >= 0 AND c1 <= 2))"), "{sql}");
    assert!(sql.contains("(c0 >= 1)"), "{sql}");
    assert!(sql.contains(&format!(
        "ts_ms >= {} AND ts_ms <= {NOW}",
        NOW - 7 * 86_400_000
    )));
    assert!(sql.contains("event = 'Product Viewed'"), "{sql}");
    assert!(sql.contains("person > ''"), "{sql}");
    assert!(sql.contains("1, 100) AS page"), "{sql}");
}

#[test]
fn values_pass_the_encoder() {
    let sql = ch(json!({"cursor": "u'1", "limit": 5, "where": {"and": [
        {"trait": {"name": "pl'an", "value": "o'x"}},
        {"did": {"event": "x'); DROP TABLE events; --",
                 "filters": [{"field": "properties.a", "op": "gt", "value": 0.1}]}}
    ]}}));
    assert!(sql.contains(r"person > 'u\'1'"), "{sql}");
    assert!(
        sql.contains(r#"indexOf(f_key, 'traits$."pl\'an"')"#),
        "{sql}"
    );
    assert!(sql.contains(r"tupleElement(t0, 3) = 'o\'x'"), "{sql}");
    assert!(
        sql.contains(r"event = 'x\'); DROP TABLE events; --'"),
        "{sql}"
    );
    assert!(sql.contains("reinterpretAsFloat64(unhex("), "{sql}");
    assert!(!sql.contains("o'x") && !sql.contains("u'1"), "{sql}");
}

#[test]
fn traits_rank_the_profile_above_identify_events_up_to_as_of() {
    let sql = ch(json!({"asOf": "2026-11-20T00:00:00Z", "where": {"or": [
        {"trait": {"name": "plan", "op": "neq", "value": "pro"}},
        {"lastSeen": {"before": "7d", "after": "2026-11-01T00:00:00Z"}}
    ]}}));
    let as_of = crate::query::time_range::parse_instant("asOf", "2026-11-20T00:00:00Z").unwrap();
    assert!(
        sql.contains(&format!("type = 'identify' AND ts_ms <= {as_of}")),
        "{sql}"
    );
    assert!(
        sql.contains(&format!("{}", i64::MAX)),
        "profile rank: {sql}"
    );
    assert!(sql.contains("argMax(tuple(k0, n0, s0), o0) AS t0"), "{sql}");
    assert!(sql.contains("), rev) AS p0"), "{sql}");
    assert!(sql.contains("NOT (tupleElement(t0, 1) = 3"), "{sql}");
    assert!(
        sql.contains(&format!(
            "(seen > 0 AND last_ts < {}",
            as_of - 7 * 86_400_000
        )),
        "{sql}"
    );
}

#[test]
fn refuses_what_sqlite_refuses() {
    let q: SegmentQuery =
        serde_json::from_value(json!({"where": {"did": {"event": "A", "min": 3, "max": 2}}}))
            .unwrap();
    assert!(q.plan_clickhouse(NOW).is_err());
}

#[test]
fn page_rows_read_like_sqlite_rows() {
    let q: SegmentQuery =
        serde_json::from_value(json!({"where": {"did": {"event": "A"}}, "limit": 2})).unwrap();
    let plan = q.plan_clickhouse(NOW).unwrap();
    let rows: Vec<SegmentPage> =
        crate::query::clickhouse::decode_rows(r#"{"total":3,"page":["a","b"]}"#).unwrap();
    let r = plan.finish_clickhouse(rows);
    assert_eq!(r.count, 3);
    assert_eq!(r.users, vec!["a", "b"]);
    assert_eq!(r.next_cursor.as_deref(), Some("b"));
}
