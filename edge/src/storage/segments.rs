//! D1 `segments`: saved segment definitions.
//!
//! Invariant: only definitions core validated are written (the caller checks first); the stored
//! JSON is the validated body re-serialized, so a stored segment always plans. A live segment is
//! written only while fewer than the cap others are live, checked in the write itself.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::storage::DB_BINDING;

/// A stored segment row.
#[derive(Debug, Deserialize)]
pub struct Row {
    /// Segment id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The definition (JSON text).
    pub definition: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

const SELECT: &str = "SELECT id, name, definition, created_at, updated_at FROM segments";

/// Every saved segment, by name.
pub async fn list(env: &Env) -> Result<Vec<Row>, ApiError> {
    Ok(env
        .d1(DB_BINDING)?
        .prepare(format!("{SELECT} ORDER BY name, id"))
        .all()
        .await?
        .results()?)
}

/// One saved segment.
pub async fn load(env: &Env, id: &str) -> Result<Option<Row>, ApiError> {
    Ok(env
        .d1(DB_BINDING)?
        .prepare(format!("{SELECT} WHERE id = ?1"))
        .bind(&[id.into()])?
        .first::<Row>(None)
        .await?)
}

/// Inserts or replaces a validated definition.
pub async fn save(env: &Env, id: &str, name: &str, definition: &str) -> Result<(), ApiError> {
    let now = JsValue::from_str(&spur_core::instant::ms_to_rfc3339(now_ms()));
    env.d1(DB_BINDING)?
        .prepare(
            "INSERT INTO segments (id, name, definition, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(id) DO UPDATE SET \
             name = excluded.name, definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .bind(&[id.into(), name.into(), definition.into(), now])?
        .run()
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct IdRow {
    #[allow(dead_code)] // read only to learn that a row was written
    id: String,
}

/// Inserts or replaces a validated *live* definition unless `cap` other segments are live
/// already: one statement, so atomic in SQLite — concurrent saves cannot race past the cap,
/// whatever their interleaving. Whether it wrote.
pub async fn save_live(
    env: &Env,
    id: &str,
    name: &str,
    definition: &str,
    cap: usize,
) -> Result<bool, ApiError> {
    let now = JsValue::from_str(&spur_core::instant::ms_to_rfc3339(now_ms()));
    let cap = JsValue::from_f64(f64::from(u32::try_from(cap).unwrap_or(u32::MAX)));
    let written: Option<IdRow> = env
        .d1(DB_BINDING)?
        .prepare(
            "INSERT INTO segments (id, name, definition, created_at, updated_at) \
             SELECT ?1, ?2, ?3, ?4, ?4 WHERE (SELECT count(*) FROM segments \
             WHERE id <> ?1 AND json_extract(definition, '$.live') = 1) < ?5 \
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, \
             definition = excluded.definition, updated_at = excluded.updated_at RETURNING id",
        )
        .bind(&[id.into(), name.into(), definition.into(), now, cap])?
        .first(None)
        .await?;
    Ok(written.is_some())
}

/// Deletes a segment (absent is fine).
pub async fn delete(env: &Env, id: &str) -> Result<(), ApiError> {
    env.d1(DB_BINDING)?
        .prepare("DELETE FROM segments WHERE id = ?1")
        .bind(&[id.into()])?
        .run()
        .await?;
    Ok(())
}
