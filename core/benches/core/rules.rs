//! Rule-evaluation cost per event with 10, 1,000 and 10,000 rules (issue 5).
//!
//! Two shapes per size: rules spread over 100 event names (the index hands the event only the
//! ~1% that name it — the usual case) and every rule on the event's name (the worst case: each
//! rule's JSONLogic condition runs). Plus the per-user path: 1,000 window rules on the event
//! applied to stored state, as the Durable Object does.
//!
//! `SPUR_BENCH=rules cargo bench -p spur-core --bench core`
//!
//! Measured 2026-11-28 on the shared 2-core dev machine (release, criterion medians; 1% of the
//! rules on the event fire):
//!
//! | rules | spread over 100 names | all on this event | window rules (per-user path) |
//! |---|---|---|---|
//! | 10 | 2.4 µs | 4.2 µs | 3.0 µs |
//! | 1,000 | 3.2 µs | 97 µs | 115 µs |
//! | 10,000 | 11 µs | 1.9 ms | — |
//!
//! About 2 µs per event is fixed (the event is parsed once into the JSONLogic arena); after the
//! index, each candidate rule costs ~0.1–0.2 µs. Compiling 1,000 rules into an index: ~9 ms.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion};
use serde_json::json;
use spur_core::rules::{Facts, Rule, RuleIndex};
use spur_core::Event;

fn event() -> Event {
    serde_json::from_value(json!({
        "messageId": "m-1", "type": "track", "event": "Event 7", "userId": "u-1",
        "properties": {"category": "cat-3", "price": 42.5, "sku": "SKU-1", "tags": ["sale", "new"]},
        "context": {"geo": {"country": "US", "city": "Austin"}, "page": {"path": "/p/1"}, "locale": "en-US"},
        "traits": {"plan": "pro"},
        "timestamp": "2024-05-01T12:00:00Z", "receivedAt": "2024-05-01T12:00:00Z"
    }))
    .unwrap()
}

fn rules(n: usize, names: usize, window: bool) -> Vec<Rule> {
    (0..n)
        .map(|i| {
            let mut r = json!({
                "id": format!("r-{i}"),
                "trigger": {"events": [format!("Event {}", i % names + if names == 1 { 7 } else { 0 })],
                    "condition": {"and": [
                        {"==": [{"var": "properties.category"}, format!("cat-{}", i % 100)]},
                        {">=": [{"var": "properties.price"}, i % 100]},
                        {"in": [{"var": "context.geo.country"}, ["US", "CA", "MX"]]}
                    ]}},
                "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}]
            });
            if window {
                r["window"] = json!({"count": 3, "within": "1d"});
            }
            serde_json::from_value(r).unwrap()
        })
        .collect()
}

/// `n` rules on the event's name, each with its own property predicate (a distinct SKU), plus
/// a range and a set-membership conjunct: the condition index files each under its SKU.
fn distinct(n: usize) -> Vec<Rule> {
    (0..n)
        .map(|i| {
            serde_json::from_value(json!({
                "id": format!("r-{i}"),
                "trigger": {"events": ["Event 7"],
                    "condition": {"and": [
                        {">=": [{"var": "properties.price"}, i % 100]},
                        {"==": [{"var": "properties.sku"}, format!("SKU-{i}")]},
                        {"in": [{"var": "context.geo.country"}, ["US", "CA", "MX"]]}
                    ]}},
                "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}]
            }))
            .unwrap()
        })
        .collect()
}

/// `n` rules on the event's name with only range predicates (`price >= t`): ten thresholds
/// the event's price passes, the rest above it; the index meets only those ten at every `n`.
fn ranges(n: usize) -> Vec<Rule> {
    (0..n)
        .map(|i| {
            serde_json::from_value(json!({
                "id": format!("r-{i}"),
                "trigger": {"events": ["Event 7"],
                    "condition": {">=": [{"var": "properties.price"}, if i < 10 { i } else { 1_000 + i }]}},
                "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}]
            }))
            .unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let e = event();
    let now = 1_714_564_800_000;
    let mut g = c.benchmark_group("stateless_per_event");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in [10usize, 1_000, 10_000] {
        let spread = RuleIndex::build(rules(n, 100, false), 1);
        g.bench_with_input(
            BenchmarkId::new("spread_over_100_names", n),
            &spread,
            |b, idx| b.iter(|| black_box(idx.stateless_firings(black_box(&e), now))),
        );
        let same = RuleIndex::build(rules(n, 1, false), 1);
        g.bench_with_input(BenchmarkId::new("all_on_this_event", n), &same, |b, idx| {
            b.iter(|| black_box(idx.stateless_firings(black_box(&e), now)))
        });
    }
    g.finish();

    // Issue 15: the condition index. The 10-rule set is the same-run baseline.
    for (group, make) in [
        (
            "distinct_predicates_one_event_name",
            distinct as fn(usize) -> Vec<Rule>,
        ),
        ("range_predicates_one_event_name", ranges),
    ] {
        let mut g = c.benchmark_group(group);
        g.sample_size(20)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(500));
        for (name, n) in [
            ("baseline: 10 rules", 10usize),
            ("1000 rules", 1_000),
            ("10000 rules", 10_000),
        ] {
            let idx = RuleIndex::build(make(n), 1);
            g.bench_function(name, |b| {
                b.iter(|| black_box(idx.stateless_firings(black_box(&e), now)))
            });
        }
        g.finish();
    }

    // The edge's ingest path asks two questions per event (edge/src/triggers.rs): which
    // stateless rules fire, and whether the user's state must see it. `route` answers both
    // from one prepared event. Rule set: 1,000 distinct-predicate instant rules + 10 window rules.
    let mut g = c.benchmark_group("ingest_path_per_event_1000_rules");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    // 1,000 instant rules and 10 window rules (so the state question needs the event).
    let mut mixed = distinct(1_000);
    mixed.extend(rules(10, 1, true).into_iter().map(|mut r| {
        r.id = format!("w-{}", r.id);
        r
    }));
    let idx = RuleIndex::build(mixed, 1);
    g.bench_function("baseline: stateless_firings + needs_state", |b| {
        b.iter(|| {
            let f = idx.stateless_firings(black_box(&e), now);
            black_box((f, idx.needs_state(black_box(&e))))
        })
    });
    g.bench_function("route (one Subject)", |b| {
        b.iter(|| black_box(idx.route(black_box(&e), now)))
    });
    g.finish();

    let mut g = c.benchmark_group("stateful_per_event");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in [10usize, 1_000] {
        let idx = RuleIndex::build(rules(n, 1, true), 1);
        g.bench_function(BenchmarkId::new("window_rules_on_this_event", n), |b| {
            b.iter_batched(
                BTreeMap::new,
                |mut states| {
                    black_box(idx.apply_event(&mut states, black_box(&e), Facts::default(), now))
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.bench_function("build_index_1000_rules", |b| {
        b.iter_batched(
            || rules(1_000, 100, false),
            |r| black_box(RuleIndex::build(r, 1)),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// Spur's own JSONLogic evaluator against datalogic-rs (the engine it replaced, a
/// dev-dependency), same conditions and event, same run: per condition evaluation with the
/// event prepared once, and the preparation itself.
fn engines(c: &mut Criterion) {
    use datalogic_rs::bumpalo::Bump;
    use spur_core::rules::condition::{Condition, Engine, Subject};
    let ev = event();
    let mix = [
        json!({"==": [{"var": "properties.plan"}, "pro"]}),
        json!({"and": [{">=": [{"var": "properties.price"}, 10]}, {"in": [{"var": "context.page.path"}, ["/a", "/b", "/pricing"]]}]}),
        json!({"some": [{"var": "properties.tags"}, {"==": [{"var": ""}, "sale"]}]}),
        json!({"or": [{"!": {"var": "userId"}}, {"<": [1, {"var": "properties.price"}, 100]}]}),
    ];
    let mut g = c.benchmark_group("condition_engines");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    let dl = datalogic_rs::Engine::new();
    let dl_logic: Vec<_> = mix.iter().map(|m| dl.compile(m).unwrap()).collect();
    let text = serde_json::to_string(&ev).unwrap();
    let dl_data = datalogic_rs::ParsedData::from_json(&text).unwrap();
    g.bench_function("baseline: datalogic-rs, 4 conditions", |b| {
        let mut arena = Bump::new();
        b.iter(|| {
            let mut hits = 0;
            for l in &dl_logic {
                hits += usize::from(
                    dl.evaluate(l, &dl_data, &arena)
                        .map(|v| dl.truthy(v))
                        .unwrap_or(false),
                );
                arena.reset();
            }
            black_box(hits)
        })
    });
    let own = Engine::new();
    let conds: Vec<_> = mix
        .iter()
        .map(|m| Condition::compile(&own, m, "/c").unwrap())
        .collect();
    let subject = Subject::new(&ev).unwrap();
    g.bench_function("own evaluator, 4 conditions", |b| {
        b.iter(|| black_box(conds.iter().filter(|c| c.eval(&own, &subject)).count()))
    });
    g.bench_function(
        "prepare the event: datalogic-rs (to_string + ParsedData)",
        |b| {
            b.iter(|| {
                let t = serde_json::to_string(black_box(&ev)).unwrap();
                black_box(datalogic_rs::ParsedData::from_json(&t).is_ok())
            })
        },
    );
    g.bench_function("prepare the event: own (to_string + Value)", |b| {
        b.iter(|| black_box(Subject::new(black_box(&ev)).is_some()))
    });
    g.finish();
}

criterion_group!(benches, bench, engines);
