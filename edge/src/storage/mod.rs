//! Storage: every SQL statement and binding read of the Worker lives below this module.
//!
//! Invariant: handlers and consumers call typed functions here; none of them builds SQL or
//! holds the raw D1 database.

pub mod bad_rows;
pub mod cache;
pub mod clickhouse;
pub mod email;
pub mod events;
pub mod firings;
pub mod journeys;
pub mod live_segments;
pub mod message_ids;
pub mod profiles;
pub mod push;
pub mod queries;
pub mod rules;
pub mod segments;
pub mod settings;
pub mod versioned;

/// The D1 binding name (wrangler.toml `[[d1_databases]] binding`).
pub const DB_BINDING: &str = "DB";

/// Milliseconds as the f64 JavaScript (and D1) binds numbers with.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 ms, i.e. for ~285,000 years
pub fn js_ms(ms: i64) -> wasm_bindgen::JsValue {
    wasm_bindgen::JsValue::from_f64(ms as f64)
}
