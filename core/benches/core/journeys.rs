//! Journey cost per event with 0 (baseline) and 100 published journeys (issue 11).
//!
//! Two paths: the ingest request's routing check (`JourneyIndex::needs`: does the person's
//! Durable Object need this event?) and the object's transition (`journeys::on_event`) for a
//! person with 10 runs waiting, on an event that names every journey (the worst case: trigger,
//! wait and goal checks run for each) and on one that names none. Journeys are spread over
//! 100 trigger names; each waits on "Order Completed" and has a goal on it.
//!
//! `SPUR_BENCH=journeys cargo bench -p spur-core --bench core` (also run by `npm run bench`).
//!
//! Measured 2026-11-30 on the shared 2-core dev machine (release, criterion medians; the
//! state clone and drop are outside the timing):
//!
//! | path | 0 journeys (baseline) | 100 journeys |
//! |---|---|---|
//! | ingest routing check (`needs`) | 2.0 ns | 76 ns |
//! | object, event no journey names | 0.11 µs | 2.1 µs |
//! | object, event all 100 name (10 runs woken, each runs to its end) | 0.13 µs | 27.5 µs |
//!
//! The ingest request pays 76 ns per event with 100 journeys (goal ≤ 20 µs); the object's
//! common case is ~2 µs. The worst case is dominated by the event being serialised once per
//! call and parsed into the JSONLogic arena, plus 10 full run transitions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion};
use serde_json::json;
use spur_core::journeys::{self, Facts, Journey, JourneyIndex, PersonJourneys};
use spur_core::Event;

const T0: i64 = 1_714_564_800_000;

fn event(name: &str) -> Event {
    serde_json::from_value(json!({
        "messageId": "m-1", "type": "track", "event": name, "userId": "u-1",
        "properties": {"cart_id": "c-1", "price": 42.5, "plan": "pro"},
        "context": {"geo": {"country": "US"}},
        "timestamp": "2024-05-01T12:00:00Z", "receivedAt": "2024-05-01T12:00:00Z"
    }))
    .unwrap()
}

fn journey(i: usize) -> (Journey, u64) {
    let doc = json!({
        "id": format!("j-{i}"),
        "trigger": {"type": "event", "events": [format!("Added {}", i % 100)],
                    "condition": {">=": [{"var": "properties.price"}, 10]}},
        "start": "wait",
        "nodes": [
            {"id": "wait", "type": "wait_until", "events": ["Order Completed"], "match": "properties.cart_id",
             "timeout": "30m", "next": "bye", "onTimeout": "tier"},
            {"id": "tier", "type": "branch", "branches": [
                {"condition": {"==": [{"var": "trigger.properties.plan"}, "pro"]}, "next": "hook"}], "else": "bye"},
            {"id": "hook", "type": "action", "action": {"type": "webhook", "url": "https://h.example.com/x"}, "next": "bye"},
            {"id": "bye", "type": "exit"}
        ],
        "goal": {"events": ["Order Completed"], "within": "3d", "exitOnGoal": false}
    });
    (serde_json::from_value(doc).unwrap(), 1)
}

fn index(n: usize) -> JourneyIndex {
    JourneyIndex::build((0..n).map(journey), 1)
}

/// A person with runs waiting in the first `runs` journeys.
fn person(index: &JourneyIndex, runs: usize) -> PersonJourneys {
    let mut p = PersonJourneys::default();
    for i in 0..runs.min(index.len()) {
        journeys::on_event(
            index,
            &mut p,
            "u-1",
            &event(&format!("Added {i}")),
            Facts::default(),
            T0,
        );
    }
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("journeys per event");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for n in [0usize, 100] {
        let idx = index(n);
        let unrelated = event("Page Viewed");
        let named = event("Order Completed");
        g.bench_with_input(BenchmarkId::new("ingest routing check", n), &n, |b, _| {
            b.iter(|| black_box(idx.needs(black_box(&named))))
        });
        let base = person(&idx, 10);
        for (label, e) in [
            ("object, unrelated event", &unrelated),
            ("object, event every journey waits on", &named),
        ] {
            g.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
                b.iter_batched_ref(
                    || base.clone(),
                    |p| {
                        black_box(journeys::on_event(
                            &idx,
                            p,
                            "u-1",
                            e,
                            Facts::default(),
                            T0 + 60_000,
                        ))
                    },
                    criterion::BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
