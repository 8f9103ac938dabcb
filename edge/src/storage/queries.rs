//! Running the read side's statements: core's validated SQL with its bound values, and the fixed
//! statements of the live stream.
//!
//! Invariant: the only SQL text run here comes from `spur_core::query` (validated, with every
//! request value bound, never spliced) or is a constant without request input.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spur_core::query::{Sql, SqlValue};
use wasm_bindgen::JsValue;
use worker::Env;

use crate::http::error::ApiError;
use crate::storage::DB_BINDING;

/// Most event names the live stream lists.
pub const MAX_EVENT_NAMES: u32 = 200;

/// An event name and how often it was stored.
#[derive(Debug, Deserialize, Serialize)]
pub struct NameCount {
    /// The `track` event name.
    pub event: String,
    /// Stored events with it.
    pub count: f64,
}

/// Runs core's statement with its bound values.
pub async fn run<T: DeserializeOwned>(env: &Env, sql: &Sql) -> Result<Vec<T>, ApiError> {
    let params: Vec<JsValue> = sql.params.iter().map(js_value).collect();
    let result = env
        .d1(DB_BINDING)?
        .prepare(sql.text.as_str())
        .bind(&params)?
        .all()
        .await?;
    Ok(result.results()?)
}

/// The most frequent `track` event names, most frequent first.
pub async fn event_names(env: &Env) -> Result<Vec<NameCount>, ApiError> {
    Ok(env
        .d1(DB_BINDING)?
        .prepare(format!(
            "SELECT event, COUNT(*) AS count FROM events WHERE event IS NOT NULL \
             GROUP BY event ORDER BY count DESC, event LIMIT {MAX_EVENT_NAMES}"
        ))
        .all()
        .await?
        .results()?)
}

#[allow(clippy::cast_precision_loss)] // bound integers are ms timestamps and counts, < 2^53
fn js_value(v: &SqlValue) -> JsValue {
    match v {
        SqlValue::Null => JsValue::NULL,
        SqlValue::Int(i) => JsValue::from_f64(*i as f64),
        SqlValue::Real(f) => JsValue::from_f64(*f),
        SqlValue::Text(s) => JsValue::from_str(s),
    }
}
