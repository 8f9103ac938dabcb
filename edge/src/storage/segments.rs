//! D1 `segments`: saved segment definitions.
//!
//! Invariant: only definitions core validated are written (the caller checks first); the stored
//! JSON is the validated body re-serialized, so a stored segment always plans.

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

/// Deletes a segment (absent is fine).
pub async fn delete(env: &Env, id: &str) -> Result<(), ApiError> {
    env.d1(DB_BINDING)?
        .prepare("DELETE FROM segments WHERE id = ?1")
        .bind(&[id.into()])?
        .run()
        .await?;
    Ok(())
}
