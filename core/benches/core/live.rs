//! Live segment upkeep cost per event (issue 12): one event observed by a person's states
//! with 1 and 20 live segments, against decoding the same event (the consumer's baseline
//! cost per event) in the same run.
//!
//! `SPUR_BENCH=live cargo bench -p spur-core --bench core`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BatchSize, Criterion};
use serde_json::json;
use spur_core::query::live_set::LiveSet;
use spur_core::query::segment::SavedSegment;
use spur_core::Event;

const EVENT: &str = r#"{"messageId":"m-1","type":"track","event":"Event 7","userId":"u-1",
"properties":{"category":"cat-3","price":42.5,"sku":"SKU-1"},"context":{"page":{"path":"/p/1"}},
"timestamp":"2024-05-01T12:00:00Z","receivedAt":"2024-05-01T12:00:00Z"}"#;
const NOW: i64 = 1_714_564_800_000;

fn set(n: usize) -> LiveSet {
    let saved = (0..n).map(|i| {
        let s: SavedSegment = serde_json::from_value(json!({
            "name": format!("s{i}"), "live": true,
            "where": {"and": [
                {"did": {"event": format!("Event {}", i % 10), "min": 2, "within": "7d",
                    "filters": [{"field": "properties.price", "op": "gt", "value": 10}]}},
                {"not": {"did": {"event": "Churned"}}}
            ]}
        }))
        .unwrap();
        (format!("s{i}"), s)
    });
    LiveSet::build(1, saved).0
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("live upkeep per event");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("baseline: decode the event", |b| {
        b.iter(|| black_box(serde_json::from_str::<Event>(black_box(EVENT)).unwrap()));
    });
    let e: Event = serde_json::from_str(EVENT).unwrap();
    for n in [1usize, 20] {
        let live = set(n);
        let mut states = BTreeMap::new();
        live.observe(&mut states, &[&e], None, NOW);
        g.bench_function(format!("observe, {n} live segments"), |b| {
            b.iter_batched(
                || states.clone(),
                |mut s| black_box(live.observe(&mut s, &[&e], None, NOW)),
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
