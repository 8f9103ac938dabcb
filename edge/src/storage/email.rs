//! D1 `email_suppressions`: addresses that unsubscribed or hard-bounced.
//!
//! Invariant: an address is stored once, under `spur_core::email::suppression_key` (trimmed,
//! lower-cased), and never removed by Spur itself; its first reason stays.

use spur_core::email::suppression_key;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::clock::{now, rfc3339};
use crate::http::error::ApiError;
use crate::storage::DB_BINDING;

#[derive(serde::Deserialize)]
struct Reason {
    reason: String,
}

/// The reason an address is suppressed (`unsubscribed`, `hard_bounce`), if it is.
pub async fn suppressed(env: &Env, address: &str) -> Result<Option<String>, ApiError> {
    let row: Option<Reason> = env
        .d1(DB_BINDING)?
        .prepare("SELECT reason FROM email_suppressions WHERE address = ?1")
        .bind(&[suppression_key(address).into()])?
        .first(None)
        .await?;
    Ok(row.map(|r| r.reason))
}

/// Adds an address (kept with its first reason when already there). `source` says what put it
/// there: the action id of a bounced send, or `one_click` / `form` for an unsubscribe.
pub async fn suppress(
    env: &Env,
    address: &str,
    reason: &str,
    person: Option<&str>,
    source: &str,
) -> Result<(), ApiError> {
    env.d1(DB_BINDING)?
        .prepare(
            "INSERT INTO email_suppressions (address, reason, person, source, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(address) DO NOTHING",
        )
        .bind(&[
            suppression_key(address).into(),
            reason.into(),
            person.map_or(JsValue::NULL, JsValue::from_str),
            source.into(),
            rfc3339(now()).into(),
        ])?
        .run()
        .await?;
    Ok(())
}
