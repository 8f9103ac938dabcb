use super::*;
use serde_json::json;

fn query(v: serde_json::Value) -> FunnelQuery {
    serde_json::from_value(v).unwrap()
}

fn base() -> serde_json::Value {
    json!({
        "steps": [{"event": "Product Viewed"}, {"event": "Added To Cart"}, {"event": "Order Completed"}],
        "from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z", "window": "1d"
    })
}

#[test]
fn plan_has_one_window_layer_per_later_step_and_binds_names() {
    let plan = query(base()).plan().unwrap();
    let sql = &plan.sql.text;
    assert!(sql.contains("l1 AS") && sql.contains("l2 AS") && !sql.contains("l3 AS"));
    assert!(sql.contains("RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"));
    assert!(
        sql.contains("p >= ts - 86400000"),
        "inclusive window boundary"
    );
    assert!(!sql.contains("Product Viewed"));
    assert!(sql.contains("e.event IN (?7, ?8, ?9)"), "{sql}");
    assert_eq!(plan.sql.params.len(), 9);
}

#[test]
fn one_sort_per_later_step_and_later_layers_take_only_the_rows_that_matter() {
    let mut q = base();
    q["breakdown"] = json!("properties.category");
    let sql = query(q).plan().unwrap().sql.text;
    // One window definition per later step, nothing over a whole partition (issue 13: each
    // such window re-sorted every event).
    assert_eq!(
        sql.matches("WINDOW w AS (PARTITION BY person ORDER BY ts")
            .count(),
        2
    );
    assert!(
        !sql.contains("OVER pw") && !sql.contains("FIRST_VALUE"),
        "{sql}"
    );
    // Layer 2 reads flagged rows, step-1 completions and step-2 events only; the per-person
    // pass reads flagged rows and last-step completions.
    assert!(
        sql.contains("FROM l1 WHERE kp OR s1 IS NOT NULL OR m2 WINDOW"),
        "{sql}"
    );
    assert!(sql.contains("f AS NOT MATERIALIZED (SELECT * FROM l2 WHERE kp OR s2 IS NOT NULL)"));
    // First completions: flagged where no earlier completion exists; the gap reads the
    // earliest completion and the earliest (so its own) previous-step time.
    assert!(sql.contains("CASE WHEN kp OR (s1 IS NOT NULL AND p IS NULL) THEN 1 END AS kp"));
    assert!(sql.contains("MIN(CASE WHEN s2 IS NOT NULL THEN ts END) - MIN(q2) AS g2"));
    // First touch: a missing value sorts first, as ORDER BY would.
    assert!(sql.contains("CASE WHEN MAX(t0 = 1 AND b0 IS NULL) = 1 THEN NULL"));
}

#[test]
fn pageview_steps_skip_the_name_prefilter() {
    let mut q = base();
    q["steps"][0] =
        json!({"event": "$pageview", "filters": [{"field": "properties.path", "value": "/"}]});
    let plan = query(q).plan().unwrap();
    assert!(!plan.sql.text.contains("e.event IN"));
    assert!(plan.sql.text.contains("e.type = 'page'"));
    // Every bound value is used (D1 refuses a statement with unused parameters).
    let n = plan.sql.params.len();
    assert!(
        plan.sql.text.contains(&format!("?{n}")) && !plan.sql.text.contains(&format!("?{}", n + 1))
    );
}

#[test]
fn step_count_window_and_shape_are_checked() {
    let mut one = base();
    one["steps"] = json!([{"event": "A"}]);
    assert!(matches!(
        query(one).plan(),
        Err(QueryError::Value { what: "steps", .. })
    ));
    let mut eleven = base();
    eleven["steps"] = json!((0..11)
        .map(|i| json!({"event": format!("E{i}")}))
        .collect::<Vec<_>>());
    assert!(query(eleven).plan().is_err());
    let mut ten = base();
    ten["steps"] = json!((0..10)
        .map(|i| json!({"event": format!("E{i}")}))
        .collect::<Vec<_>>());
    assert!(query(ten).plan().is_ok());
    let mut w = base();
    w["window"] = json!("0d");
    assert!(query(w).plan().is_err());
    let mut bad_field = base();
    bad_field["breakdown"] = json!("plan");
    assert!(matches!(
        query(bad_field).plan(),
        Err(QueryError::Field { .. })
    ));
    assert!(serde_json::from_value::<FunnelQuery>(
        json!({"steps": [], "from": "", "to": "", "windw": "1d"})
    )
    .is_err());
}

fn row(kind: &str, grp: i64, label: serde_json::Value, step: i64, value: i64) -> FunnelRow {
    FunnelRow {
        kind: kind.into(),
        grp,
        label,
        step,
        value,
    }
}

#[test]
fn finish_computes_rates_drop_off_and_medians() {
    let plan = query(base()).plan().unwrap();
    let r = plan.finish(vec![
        row("n", 1, json!(null), 0, 10),
        row("n", 1, json!(null), 1, 4),
        row("n", 1, json!(null), 2, 1),
        row("mid", 1, json!(null), 1, 100),
        row("mid", 1, json!(null), 1, 300),
        row("mid", 1, json!(null), 2, 50),
    ]);
    assert_eq!(r.steps.len(), 3);
    let s0 = &r.steps[0];
    assert_eq!(
        (s0.entered, s0.converted, s0.drop_off),
        (10, Some(4), Some(6))
    );
    assert_eq!(s0.conversion_rate, Some(0.4));
    assert_eq!(s0.median_ms_to_next, Some(200.0));
    assert_eq!(r.steps[1].median_ms_to_next, Some(50.0));
    assert_eq!(r.steps[2].converted, None);
    assert_eq!(r.steps[2].conversion_from_start, Some(0.1));
    assert!(r.breakdown.is_none());
    let out = serde_json::to_value(&r).unwrap();
    assert_eq!(out["windowMs"], 86_400_000);
    let keys: Vec<&String> = out["steps"][0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "conversionFromStart",
            "conversionRate",
            "converted",
            "dropOff",
            "entered",
            "event",
            "index",
            "medianMsToNext"
        ]
    );
}

#[test]
fn old_snake_case_breakdown_limit_is_still_read() {
    let (mut old, mut new) = (base(), base());
    old["breakdown"] = json!("properties.category");
    new["breakdown"] = json!("properties.category");
    old["breakdown_limit"] = json!(3);
    new["breakdownLimit"] = json!(3);
    assert_eq!(
        query(old).plan().unwrap().sql,
        query(new).plan().unwrap().sql
    );
    let mut both = base();
    both["breakdown_limit"] = json!(3);
    both["breakdownLimit"] = json!(3);
    assert!(serde_json::from_value::<FunnelQuery>(both).is_err());
}

#[test]
fn finish_with_no_people_is_all_zero() {
    let r = query(base()).plan().unwrap().finish(vec![]);
    assert!(r
        .steps
        .iter()
        .all(|s| s.entered == 0 && s.conversion_rate.is_none()));
}

#[test]
fn finish_sums_breakdown_groups_into_the_total() {
    let mut q = base();
    q["breakdown"] = json!("properties.category");
    q["breakdownLimit"] = json!(1);
    let plan = query(q).plan().unwrap();
    let r = plan.finish(vec![
        row("n", 0, json!(null), 0, 3),
        row("n", 1, json!("shoes"), 0, 5),
        row("n", 1, json!("shoes"), 1, 2),
        row("n", 0, json!(null), 1, 1),
        row("mid", -1, json!(null), 1, 70),
    ]);
    assert_eq!(r.steps[0].entered, 8);
    assert_eq!(r.steps[1].entered, 3);
    assert_eq!(r.steps[0].median_ms_to_next, Some(70.0));
    let b = r.breakdown.unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].key, json!("shoes"));
    assert!(b[1].other);
    assert_eq!(b[1].steps[0].converted, Some(1));
}
