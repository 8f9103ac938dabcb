use super::*;
use serde_json::json;

fn close(x: f64, y: f64, rel: f64) -> bool {
    x == y || (x - y).abs() <= rel * y.abs().max(f64::MIN_POSITIVE)
}

fn query(v: Value) -> DriversQuery {
    serde_json::from_value(v).unwrap()
}

fn base() -> Value {
    json!({"steps": [{"event": "Viewed"}, {"event": "Bought"}],
        "from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z", "window": "1d",
        "properties": ["properties.category", "context.campaign.source"]})
}

#[test]
fn erfc_matches_known_values() {
    // Reference values: Python's math.erfc (libm).
    for (x, want) in [
        (0.0, 1.0),
        (0.1, 0.887_537_083_981_715_2),
        (1.2, 0.089_686_021_770_364_65),
        (0.5, 0.479_500_122_186_953_5),
        (1.0, 0.157_299_207_050_285_13),
        (1.5, 0.033_894_853_524_689_274),
        (1.999, 0.004_698_443_348_629_488),
        (2.0, 0.004_677_734_981_047_265),
        (2.5, 0.000_406_952_017_444_958_9),
        (3.0, 2.209_049_699_858_543_8e-5),
        (5.0, 1.537_459_794_428_035_1e-12),
        (8.0, 1.122_429_717_298_292_8e-29),
    ] {
        let got = erfc(x);
        assert!(close(got, want, 1e-13), "erfc({x}) = {got}, want {want}");
        assert!(close(erfc(-x), 2.0 - want, 1e-13));
    }
    assert_eq!(erfc(30.0), 0.0);
    assert!(erfc(f64::NAN).is_nan());
}

#[test]
fn odds_match_known_values() {
    // (a, b, c, d) → OR, log OR, SE, CI, z, p (computed independently in Python).
    let cases = [
        (
            (10, 20, 30, 40),
            [
                0.666_666_666_666_666_6,
                -0.405_465_108_108_164_44,
                0.456_435_464_587_638_45,
                -1.300_062_179_966_743_1,
                0.489_131_963_750_414_2,
                -0.888_329_543_968_449_9,
                0.374_363_512_135_005_5,
            ],
            false,
        ),
        (
            (0, 5, 10, 10),
            [
                0.090_909_090_909_090_9,
                -2.397_895_272_798_370_7,
                1.540_225_429_050_687,
                -5.416_681_641_810_469,
                0.620_891_096_213_728,
                -1.556_846_957_316_050_6,
                0.119_506_825_451_750_26,
            ],
            true,
        ),
        (
            (50, 10, 20, 80),
            [
                20.0,
                2.995_732_273_553_991,
                0.427_200_187_265_876_6,
                2.158_435_292_324_106,
                3.833_029_254_783_875_6,
                7.012_478_839_784_629,
                2.341_322_800_863_149_6e-12,
            ],
            false,
        ),
    ];
    for ((a, b, c, d), want, corrected) in cases {
        let o = odds(a, b, c, d);
        let got = [
            o.odds_ratio,
            o.log_odds_ratio,
            o.standard_error,
            o.log_odds_ratio_ci95[0],
            o.log_odds_ratio_ci95[1],
            o.z,
            o.p_value,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!(close(*g, w, 1e-12), "{a} {b} {c} {d}: {got:?} vs {want:?}");
        }
        assert_eq!(o.corrected, corrected);
    }
    // No association: OR 1, p 1.
    let o = odds(10, 10, 10, 10);
    assert!(close(o.odds_ratio, 1.0, 1e-15) && close(o.p_value, 1.0, 1e-15));
    // Every cell zero: corrected to 0.5 each, still finite.
    let o = odds(0, 0, 0, 0);
    assert!(o.corrected && o.odds_ratio == 1.0 && o.standard_error == 8.0_f64.sqrt());
}

#[test]
fn plan_binds_values_and_reuses_the_funnel() {
    let plan = query(base()).plan().unwrap();
    let sql = &plan.sql.text;
    assert!(
        !sql.contains("Viewed") && !sql.contains("category"),
        "{sql}"
    );
    assert!(
        sql.contains("MIN(CASE WHEN s1 IS NOT NULL THEN ts END) AS tc")
            && sql.contains("te + 86400000"),
        "{sql}"
    );
    assert!(sql.contains(&format!("rn <= {}", limits::MAX_DRIVER_VALUES)));
    // from, to, end, 2 step names, prefilter names (2), step names again (2), 2 paths.
    assert_eq!(plan.sql.params.len(), 11);
    assert!(sql.contains("?11"));
    let ch = query(base()).plan_clickhouse().unwrap();
    assert!(ch.sql.params.is_empty());
}

#[test]
fn refuses_bad_definitions_with_a_reason() {
    let mut many = base();
    many["properties"] = json!((0..=limits::MAX_DRIVER_PROPERTIES)
        .map(|i| format!("properties.p{i}"))
        .collect::<Vec<_>>());
    assert!(matches!(
        query(many).plan(),
        Err(QueryError::Value {
            what: "properties",
            ..
        })
    ));
    let mut at_limit = base();
    at_limit["properties"] = json!((0..limits::MAX_DRIVER_PROPERTIES)
        .map(|i| format!("properties.p{i}"))
        .collect::<Vec<_>>());
    assert!(query(at_limit).plan().is_ok());
    let mut twice = base();
    twice["properties"] = json!(["properties.a", "properties.a"]);
    assert!(query(twice).plan().is_err());
    let mut bad = base();
    bad["properties"] = json!(["plan"]);
    assert!(matches!(query(bad).plan(), Err(QueryError::Field { .. })));
    for limit in [0, limits::MAX_DRIVERS + 1] {
        let mut q = base();
        q["limit"] = json!(limit);
        assert!(
            matches!(
                query(q).plan(),
                Err(QueryError::Value { what: "limit", .. })
            ),
            "{limit}"
        );
    }
    let mut one = base();
    one["steps"] = json!([{"event": "A"}]);
    assert!(matches!(
        query(one).plan(),
        Err(QueryError::Value { what: "steps", .. })
    ));
    let mut unknown = base();
    unknown["breakdown"] = json!("properties.category");
    assert!(serde_json::from_value::<DriversQuery>(unknown).is_err());
}

fn row(key: i64, label: Value, people: i64, converters: i64) -> DriverRow {
    DriverRow {
        key,
        label,
        people,
        converters,
    }
}

#[test]
fn finish_ranks_by_significance_with_corrections() {
    let mut q = base();
    q["limit"] = json!(3);
    let plan = query(q).plan().unwrap();
    let r = plan.finish(vec![
        row(0, json!("Coupon"), 30, 25),     // strong positive
        row(1, json!("shoes"), 40, 10),      // weak
        row(0, json!("Help Opened"), 20, 0), // zero cell: no converter did it
        row(2, json!("ads"), 50, 20),        // no association (20/40 vs 30/60)
        row(-1, Value::Null, 100, 40),       // totals
        row(1, json!(3), 10, 4),             // a number value
    ]);
    assert_eq!((r.entered, r.converted, r.dropped_off), (100, 40, 60));
    assert_eq!(r.candidates, 5);
    assert_eq!(r.drivers.len(), 3);
    let coupon = &r.drivers[0];
    assert_eq!(coupon.event.as_deref(), Some("Coupon"));
    assert_eq!((coupon.converted, coupon.dropped_off), (25, 5));
    assert_eq!(coupon.odds, odds(25, 15, 5, 55));
    assert!(close(coupon.converted_share, 25.0 / 40.0, 1e-15));
    let help = &r.drivers[1];
    assert_eq!(help.kind, DriverKind::Event);
    assert!(help.odds.corrected && help.odds.odds_ratio < 1.0);
    assert!(r
        .drivers
        .windows(2)
        .all(|w| w[0].odds.p_value <= w[1].odds.p_value));
    let out = serde_json::to_value(&r).unwrap();
    assert_eq!(out["droppedOff"], 60);
    assert_eq!(out["drivers"][0]["kind"], "event");
    assert!(out["drivers"][0]["pValue"].is_number());
    assert!(out["drivers"][0]["logOddsRatioCi95"].is_array());
    assert!(out["drivers"][0].get("value").is_none());
    assert_eq!(out["drivers"][2]["property"], "properties.category");
    assert_eq!(out["drivers"][2]["value"], "shoes");
}

#[test]
fn no_comparison_without_both_groups() {
    let plan = query(base()).plan().unwrap();
    // Nobody converted.
    let none = plan.finish(vec![row(-1, Value::Null, 7, 0), row(0, json!("X"), 3, 0)]);
    assert_eq!((none.entered, none.converted, none.dropped_off), (7, 0, 7));
    assert!(none.drivers.is_empty());
    assert_eq!(none.candidates, 1);
    // Everybody converted.
    let all = plan.finish(vec![row(-1, Value::Null, 5, 5), row(0, json!("X"), 5, 5)]);
    assert_eq!(all.dropped_off, 0);
    assert!(all.drivers.is_empty());
    // Nobody entered.
    let empty = plan.finish(Vec::new());
    assert_eq!((empty.entered, empty.candidates), (0, 0));
}

#[test]
fn ties_break_by_list_people_and_value() {
    let plan = query(base()).plan().unwrap();
    let r = plan.finish(vec![
        row(-1, Value::Null, 10, 5),
        row(1, json!("b"), 4, 2),
        row(1, json!(2), 4, 2),
        row(0, json!("Z"), 4, 2),
        row(1, json!("a"), 4, 2),
    ]);
    let order: Vec<Value> = r
        .drivers
        .iter()
        .map(|d| d.value.clone().unwrap_or_else(|| json!(d.event)))
        .collect();
    assert_eq!(order, vec![json!("Z"), json!(2), json!("a"), json!("b")]);
}
