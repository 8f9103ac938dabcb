//! What Spur's fuzz targets assert, one function per target, each taking the raw fuzz input.
//!
//! Invariant: a check panics only when Spur broke a promise on that input — a panic inside
//! Spur, an event neither accepted nor rejected (or both, or twice), a stored event that does
//! not read back as itself, SQL binding more than D1 allows, a tracker body that is not valid
//! JSON. Every other outcome, including every documented refusal, returns normally.
//!
//! The same functions run under libFuzzer (`fuzz/fuzz_targets/*.rs`, nightly, `npm run fuzz`)
//! and on stable in `tests/corpus.rs`, which replays the committed corpus and every past crash
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) as part of `npm test`.

// Native only: the tracker's modules run against their native fake browser here, and the
// fuzzer and the replay test are native. (The workspace's wasm32 clippy pass sees an empty crate.)
#![cfg(not(target_arch = "wasm32"))]
// Assertion code: a failed check must panic, that is what the fuzzer catches.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod batch;
mod ingest;
mod query;
mod rules;
mod tracker_ops;

// The tracker's own modules, compiled natively against its in-memory fake browser
// (`host::fake`), as its native unit tests are: the fuzz target drives a fresh `Tracker` per
// input, which the wasm crate's single global instance could not give.
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/backoff.rs"]
mod backoff;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/capture.rs"]
mod capture;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/config.rs"]
mod config;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/consent.rs"]
mod consent;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/delivery.rs"]
mod delivery;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/hooks.rs"]
mod hooks;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/host.rs"]
mod host;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/json.rs"]
mod json;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/limits.rs"]
mod limits;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/queue.rs"]
mod queue;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/sending.rs"]
mod sending;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/session.rs"]
mod session;
#[allow(dead_code, clippy::single_char_add_str)]
#[path = "../../tracker/src/tracker.rs"]
mod tracker;

pub use batch::ingest_batch;
pub use ingest::{decode, ingest_raw};
pub use query::query;
pub use rules::{plan, rules};
pub use tracker_ops::tracker;

/// A target's check: panics when Spur broke a promise on the input.
pub type Check = fn(&[u8]);

/// Every target: its name (the folder under `fuzz/corpus/` and `fuzz/regressions/`, and the
/// `cargo fuzz` target) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("decode", decode),
    ("ingest_raw", ingest_raw),
    ("ingest_batch", ingest_batch),
    ("plan", plan),
    ("rules", rules),
    ("query", query),
    ("tracker", tracker),
];
