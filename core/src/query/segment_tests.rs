use super::*;
use crate::query::SqlValue;
use serde_json::json;

fn query(v: serde_json::Value) -> SegmentQuery {
    serde_json::from_value(v).unwrap()
}

const NOW: i64 = 1_800_000_000_000;

#[test]
fn did_x_but_not_y_builds_two_counts_and_a_not() {
    let plan = query(json!({"where": {"and": [
        {"did": {"event": "Product Viewed", "within": "7d"}},
        {"not": {"did": {"event": "Order Completed"}}}
    ]}}))
    .plan(NOW)
    .unwrap();
    let sql = &plan.sql.text;
    assert!(sql.contains("AS c0") && sql.contains("AS c1"));
    assert!(sql.contains("(NOT (COALESCE(agg.c1, 0) >= 1))"), "{sql}");
    assert!(!sql.contains("Product Viewed"));
    // as_of, within start, two event names, cursor
    assert_eq!(plan.sql.params[0], SqlValue::Int(NOW));
    assert_eq!(plan.sql.params[2], SqlValue::Int(NOW - 7 * 86_400_000));
}

#[test]
fn traits_and_last_seen_bind_their_values() {
    let plan = query(json!({"asOf": "2026-11-20T00:00:00Z", "where": {"or": [
        {"trait": {"name": "plan", "value": "pro"}},
        {"lastSeen": {"before": "7d", "after": "2026-11-01T00:00:00Z"}}
    ]}}))
    .plan(NOW)
    .unwrap();
    let sql = &plan.sql.text;
    assert!(
        sql.contains("t0 AS") && sql.contains("GROUP BY 1)"),
        "trait lookups aggregate per person"
    );
    assert!(sql.contains("LEFT JOIN t0 ON t0.person = pp.person"));
    assert!(sql.contains("agg.last_ts < ?"));
    assert!(plan
        .sql
        .params
        .contains(&SqlValue::Text("$.\"plan\"".into())));
    assert!(plan.sql.params.contains(&SqlValue::Text("pro".into())));
}

#[test]
fn refuses_bad_trees() {
    let bad = [
        json!({"where": {"and": []}}),
        json!({"where": {"did": {"event": "A", "min": 3, "max": 2}}}),
        json!({"where": {"did": {"event": "A", "within": "7d", "from": "2026-11-01T00:00:00Z"}}}),
        json!({"where": {"lastSeen": {}}}),
        json!({"where": {"trait": {"name": "a\"b", "value": 1}}}),
        json!({"where": {"did": {"event": "A"}}, "limit": 0}),
        json!({"where": {"did": {"event": "A"}}, "limit": limits::MAX_PAGE + 1}),
    ];
    for b in bad {
        assert!(query(b.clone()).plan(NOW).is_err(), "{b}");
    }
    // Too many leaves and too deep.
    let leaves: Vec<_> = (0..=limits::MAX_CONDITIONS)
        .map(|_| json!({"lastSeen": {"after": "1d"}}))
        .collect();
    assert!(query(json!({"where": {"and": leaves}})).plan(NOW).is_err());
    let mut deep = json!({"lastSeen": {"after": "1d"}});
    for _ in 0..limits::MAX_CONDITION_DEPTH {
        deep = json!({"not": deep});
    }
    assert!(query(json!({"where": deep})).plan(NOW).is_err());
    // Shapes serde refuses.
    assert!(serde_json::from_value::<SegmentQuery>(
        json!({"where": {"did": {"event": "A"}, "not": {}}})
    )
    .is_err());
    assert!(serde_json::from_value::<SegmentQuery>(json!({"where": {"xor": []}})).is_err());
}

#[test]
fn finish_pages() {
    let plan = query(json!({"where": {"did": {"event": "A"}}, "limit": 2}))
        .plan(NOW)
        .unwrap();
    let row = |person: Option<&str>, total: Option<i64>| SegmentRow {
        person: person.map(Into::into),
        total,
    };
    let r = plan.finish(vec![
        row(None, Some(5)),
        row(Some("b"), None),
        row(Some("a"), None),
    ]);
    assert_eq!(
        r,
        SegmentResult {
            count: 5,
            users: vec!["a".into(), "b".into()],
            next_cursor: Some("b".into())
        }
    );
    let r = plan.finish(vec![row(None, Some(1)), row(Some("a"), None)]);
    assert_eq!(r.next_cursor, None);
}

#[test]
fn saved_segments_validate() {
    assert!(valid_segment_id("pro-users_2"));
    assert!(!valid_segment_id(""));
    assert!(!valid_segment_id("a/b"));
    assert!(!valid_segment_id(&"a".repeat(65)));
    let s: SavedSegment = serde_json::from_value(
        json!({"name": "Pro", "where": {"trait": {"name": "plan", "value": "pro"}}}),
    )
    .unwrap();
    assert!(s.validate().is_ok());
    let s: SavedSegment = serde_json::from_value(
        json!({"name": "", "where": {"trait": {"name": "plan", "value": "pro"}}}),
    )
    .unwrap();
    assert!(s.validate().is_err());
}

#[test]
fn old_snake_case_keys_are_still_read_and_written_back_in_camel_case() {
    let old = json!({"as_of": "2026-11-20T00:00:00Z", "where": {"or": [
        {"last_seen": {"before": "7d"}}, {"did": {"event": "A", "filters": [
            {"field": "properties.x", "op": "not_exists"}]}}
    ]}});
    let new = json!({"asOf": "2026-11-20T00:00:00Z", "where": {"or": [
        {"lastSeen": {"before": "7d"}}, {"did": {"event": "A", "filters": [
            {"field": "properties.x", "op": "not_exists"}]}}
    ]}});
    assert_eq!(
        query(old.clone()).plan(NOW).unwrap().sql,
        query(new.clone()).plan(NOW).unwrap().sql
    );
    // Saved definitions are stored canonically: camelCase keys, defaults left out.
    let saved: SavedSegment =
        serde_json::from_value(json!({"name": "n", "where": old["where"].clone()})).unwrap();
    assert_eq!(
        serde_json::to_value(&saved).unwrap(),
        json!({"name": "n", "where": new["where"].clone()})
    );
    let opts: SegmentOptions = serde_json::from_value(json!({"as_of": "x"})).unwrap();
    assert_eq!(opts.as_of.as_deref(), Some("x"));
    // Both spellings at once is a duplicate, not a silent pick.
    assert!(serde_json::from_value::<SegmentOptions>(json!({"as_of": "x", "asOf": "y"})).is_err());
}

#[test]
fn results_are_camel_case() {
    let r = SegmentResult {
        count: 1,
        users: vec!["a".into()],
        next_cursor: Some("a".into()),
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"count": 1, "users": ["a"], "nextCursor": "a"})
    );
}

#[test]
fn at_most_max_live_segments_are_live() {
    use crate::limits::MAX_LIVE_SEGMENTS;
    let live: SavedSegment = serde_json::from_value(
        json!({"name": "Buyers", "where": {"did": {"event": "purchase"}}, "live": true}),
    )
    .unwrap();
    let not_live = SavedSegment {
        live: false,
        ..live.clone()
    };
    let ids: Vec<String> = (0..MAX_LIVE_SEGMENTS).map(|i| format!("s{i}")).collect();
    let full = || ids.iter().map(String::as_str);
    // One short of the limit: one more may become live.
    assert!(check_live_count("new", &live, full().skip(1)).is_ok());
    // At the limit: a new live one is refused, naming the limit …
    let err = check_live_count("new", &live, full()).unwrap_err();
    assert!(err.to_string().contains("MAX_LIVE_SEGMENTS"), "{err}");
    assert!(
        err.to_string().contains(&MAX_LIVE_SEGMENTS.to_string()),
        "{err}"
    );
    // … while re-saving a live one, or saving one not live, is not.
    assert!(check_live_count("s3", &live, full()).is_ok());
    assert!(check_live_count("new", &not_live, full()).is_ok());
}
