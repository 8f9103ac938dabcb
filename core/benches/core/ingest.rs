//! CPU per realistic 100-event batch through the whole core request path: body decode,
//! auth, limits and shape checks, tracking-plan validation (flag mode), enrichment.
//!
//! `SPUR_BENCH=ingest cargo bench -p spur-core --bench core`

// Test code: a failed unwrap is a failed test (clippy's allow-*-in-tests covers only #[test]
// functions, not the helpers beside them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, Criterion, Throughput};
use serde_json::{json, Value};
use spur_core::{ingest, work, CfFacts, CompiledPlan, Ingest, Pipeline, RequestFacts};
use time::macros::datetime;

const PLAN: &str = r#"{
  "mode": "flag",
  "unknownEvents": "allow",
  "events": {
    "Product Viewed": { "properties": { "type": "object", "required": ["product_id"],
      "properties": { "product_id": { "type": "string" }, "name": { "type": "string" }, "price": { "type": "number", "minimum": 0 } } } },
    "Product Added": { "properties": { "type": "object", "required": ["product_id"],
      "properties": { "product_id": { "type": "string" }, "quantity": { "type": "integer", "minimum": 1 }, "price": { "type": "number", "minimum": 0 } } } },
    "Order Completed": { "properties": { "type": "object", "required": ["order_id", "total"],
      "properties": { "order_id": { "type": "string" }, "total": { "type": "number", "minimum": 0 }, "currency": { "type": "string", "pattern": "^[A-Z]{3}$" } } } }
  },
  "identify": { "traits": { "type": "object", "properties": { "email": { "type": "string", "format": "email" } } } }
}"#;

const UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// An analytics.js-shaped batch: mostly page views and product events, some identifies, one
/// in ten breaking the plan.
fn batch(n: usize) -> String {
    let context = json!({
        "page": {"path": "/products/trail-runner-3", "referrer": "https://www.google.com/",
                 "search": "?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale",
                 "title": "Trail Runner 3", "url": "https://shop.example/products/trail-runner-3?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"},
        "userAgent": UA,
        "userAgentData": {"brands": [{"brand": "Chromium", "version": "124"}, {"brand": "Google Chrome", "version": "124"}, {"brand": "Not-A.Brand", "version": "99"}], "mobile": false, "platform": "macOS"},
        "locale": "en-US",
        "library": {"name": "analytics.js", "version": "next-1.70.0"},
        "timezone": "Europe/Berlin"
    });
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let mut e = match i % 5 {
                0 => json!({"type": "page", "name": "Product", "properties": {"path": "/products/trail-runner-3", "title": "Trail Runner 3"}}),
                1 => json!({"type": "track", "event": "Product Viewed", "properties": {"product_id": format!("sku-{i}"), "name": "Trail Runner 3", "price": 129.5}}),
                2 => json!({"type": "track", "event": "Product Added", "properties": {"product_id": format!("sku-{i}"), "quantity": if i % 10 == 2 { json!("two") } else { json!(2) }, "price": 129.5}}),
                3 => json!({"type": "track", "event": "Order Completed", "properties": {"order_id": format!("o-{i}"), "total": 259.0, "currency": "EUR", "products": [{"product_id": "sku-1", "quantity": 2}]}}),
                _ => json!({"type": "identify", "userId": "user-8842", "traits": {"email": "ada@example.com", "plan": "pro"}}),
            };
            let obj = e.as_object_mut().unwrap();
            obj.insert("messageId".into(), json!(format!("ajs-next-{i:032x}")));
            obj.insert("anonymousId".into(), json!("6b9f8c52-3f1e-4a7d-9b2c-0e1f2a3b4c5d"));
            obj.insert("timestamp".into(), json!("2024-05-01T12:00:01.250Z"));
            obj.insert("integrations".into(), json!({}));
            obj.insert("context".into(), context.clone());
            obj.insert("_metadata".into(), json!({"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []}));
            e
        })
        .collect();
    json!({"writeKey": "wk_bench", "batch": events, "sentAt": "2024-05-01T12:00:02.000Z"})
        .to_string()
}

fn bench(c: &mut Criterion) {
    let mut pipeline =
        Pipeline::from_json(r#"{"sources": {"wk_bench": {"name": "site", "allowedOrigins": ["https://shop.example"]}}}"#)
            .unwrap();
    let bare = Pipeline::from_json(
        r#"{"sources": {"wk_bench": {"name": "site", "allowedOrigins": ["*"]}}}"#,
    )
    .unwrap();
    pipeline.set_plan(Some(CompiledPlan::from_json(PLAN).unwrap()));
    let cf: CfFacts = serde_json::from_value(json!({"country": "DE", "region": "Berlin", "city": "Berlin", "timezone": "Europe/Berlin", "asn": 3320, "colo": "TXL", "botManagement": {"score": 87}})).unwrap();
    let facts = RequestFacts {
        ip: Some("203.0.113.77"),
        user_agent: Some(UA),
        origin: Some("https://shop.example"),
        cf: Some(&cf),
        ..Default::default()
    };
    let body = batch(100);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    eprintln!(
        "batch: 100 events, {} bytes JSON, {} bytes gzip",
        body.len(),
        gz.len()
    );

    let req = |request| Ingest {
        now: datetime!(2024-05-01 12:00:05 UTC),
        request_id: "req",
        single: None,
        request,
    };
    let sanity = ingest(body.as_bytes(), &req(facts), &pipeline).unwrap();
    assert_eq!(sanity.accepted.len(), 100);
    let flagged = sanity
        .accepted
        .iter()
        .filter(|e| e.context["spur"].get("violations").is_some())
        .count();
    eprintln!("sanity: 100 accepted, {flagged} flagged by the plan");

    let mut g = c.benchmark_group("ingest_100_events");
    g.throughput(Throughput::Elements(100));
    // 20 samples, not criterion's 100: its linear sampling runs 1 + 2 + … + n iterations, so
    // at ≈ 5 ms an iteration 100 samples take ≈ 25 s per bench whatever the measurement time
    // (≈ 2.5 minutes for this group); 20 take ≈ 1 s and fit the bench's 3 s.
    g.sample_size(20);
    // Baseline measured in the same run: only parsing the same body into serde_json values,
    // the least any JSON collector must do. Report ingest as a ratio of this.
    g.bench_function("baseline: serde_json parse only", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())).unwrap())
    });
    g.bench_function("full (plan + enrich, browser request)", |b| {
        b.iter(|| ingest(black_box(body.as_bytes()), &req(facts), &pipeline).unwrap())
    });
    g.bench_function("gzip body, full", |b| {
        let gzip_facts = RequestFacts {
            content_encoding: Some("gzip"),
            ..facts
        };
        b.iter(|| ingest(black_box(&gz), &req(gzip_facts), &pipeline).unwrap())
    });
    g.bench_function("no plan, server request (decode + enrich)", |b| {
        let server = RequestFacts {
            origin: None,
            user_agent: Some("analytics-node-next/latest"),
            ..facts
        };
        b.iter(|| ingest(black_box(body.as_bytes()), &req(server), &bare).unwrap())
    });
    g.bench_function("no plan, browser request (decode + enrich)", |b| {
        b.iter(|| ingest(black_box(body.as_bytes()), &req(facts), &bare).unwrap())
    });
    g.bench_function("plan, server request (decode + plan + enrich)", |b| {
        let server = RequestFacts {
            origin: None,
            user_agent: Some("analytics-node-next/latest"),
            ..facts
        };
        b.iter(|| ingest(black_box(body.as_bytes()), &req(server), &pipeline).unwrap())
    });
    g.finish();

    // After core: the accepted events become queue messages. `ingest` encodes each event once
    // (it must, to bound the stored size) and `work::split` packs those strings; the baseline
    // is the least any message needs, each event serialized once into one buffer. (Before
    // 2026-11, the edge serialized each event to measure it, then the whole message again:
    // 2.18 ms here against 0.88 ms for the baseline.)
    let accepted = sanity.accepted;
    let mut g = c.benchmark_group("queue_message_100_events");
    g.throughput(Throughput::Elements(100));
    g.sample_size(20);
    g.bench_function("baseline: serialize each event once, join", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(64 * 1024);
            out.extend_from_slice(br#"{"kind":"events","write_key":"wk_bench","events":["#);
            for (i, e) in black_box(&accepted).iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, e).unwrap();
            }
            out.extend_from_slice(b"]}");
            out
        })
    });
    g.bench_function(
        "the path: each event encoded once (as ingest does), packed by work::split",
        |b| {
            b.iter(|| {
                let encoded = work::encode_events(black_box(&accepted));
                work::split(Some("wk_bench"), &encoded, Vec::new())
            })
        },
    );
    g.finish();

    c.bench_function("compile tracking plan", |b| {
        b.iter(|| CompiledPlan::from_json(black_box(PLAN)).unwrap())
    });
}

criterion_group!(benches, bench);
