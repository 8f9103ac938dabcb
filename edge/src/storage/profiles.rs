//! Stored profile traits (the `users` rows the events consumer merges from `identify`), read
//! for rule and journey conditions that name `traits.*`.
//!
//! Invariant: read-only and bounded — one statement per [`MAX_PROFILE_LOOKUP`] ids; a row
//! whose traits are not a JSON object reads as no profile.

use serde::Deserialize;
use serde_json::{Map, Value};
use spur_core::limits::MAX_PROFILE_LOOKUP;
use spur_core::rules::Profiles;
use worker::Env;

use crate::http::error::ApiError;
use crate::storage::DB_BINDING;

#[derive(Deserialize)]
struct Row {
    user_id: String,
    traits: String,
}

/// The stored traits of these `userId`s (absent: no row yet).
pub async fn load(env: &Env, ids: &[&str]) -> Result<Profiles, ApiError> {
    let mut out = Profiles::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let db = env.d1(DB_BINDING)?;
    for chunk in ids.chunks(MAX_PROFILE_LOOKUP) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT user_id, traits FROM users WHERE user_id IN ({marks})");
        let args: Vec<wasm_bindgen::JsValue> = chunk.iter().map(|id| (*id).into()).collect();
        let rows: Vec<Row> = db.prepare(&sql).bind(&args)?.all().await?.results()?;
        for r in rows {
            if let Ok(Value::Object(traits)) = serde_json::from_str::<Value>(&r.traits) {
                out.insert(r.user_id, traits);
            }
        }
    }
    Ok(out)
}

/// One person's stored traits.
pub async fn one(env: &Env, id: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    Ok(load(env, &[id]).await?.remove(id))
}
