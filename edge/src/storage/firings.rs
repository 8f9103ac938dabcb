//! D1 `rule_firings`: one row per firing, with each action's outcome.
//!
//! Invariant: a firing row is inserted once, by firing id (`ON CONFLICT DO NOTHING`), so a
//! redelivered actions message never duplicates it; later writes only update its outcomes.

use serde::Deserialize;
use serde_json::{json, Value};
use spur_core::rules::{FiringRecord, Outcome};
use wasm_bindgen::JsValue;
use worker::Env;

use crate::clock::{now, rfc3339};
use crate::http::error::ApiError;
use crate::storage::{js_ms, DB_BINDING};

/// Most recorded firings explain shows.
pub const MAX_SHOWN_FIRINGS: u32 = 20;

/// Inserts a firing unless its id is already stored.
pub async fn insert(env: &Env, rec: &FiringRecord) -> Result<(), ApiError> {
    let actions =
        serde_json::to_string(&rec.actions).map_err(|e| ApiError::Internal(e.to_string()))?;
    let ids =
        serde_json::to_string(&rec.message_ids).map_err(|e| ApiError::Internal(e.to_string()))?;
    env.d1(DB_BINDING)?
        .prepare(
            "INSERT INTO rule_firings (id, rule_id, user_id, fired_at, fired_ms, message_ids, source, \
             capped, actions, attempts, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10) \
             ON CONFLICT(id) DO NOTHING",
        )
        .bind(&[
            rec.id.as_str().into(),
            rec.rule.as_str().into(),
            rec.user.as_str().into(),
            spur_core::instant::ms_to_rfc3339(rec.at_ms).into(),
            js_ms(rec.at_ms),
            ids.into(),
            rec.source.as_str().into(),
            JsValue::from_f64(if rec.capped { 1.0 } else { 0.0 }),
            actions.into(),
            rfc3339(now()).into(),
        ])?
        .run()
        .await?;
    Ok(())
}

/// A stored firing's outcomes and webhook attempt count, if the row exists.
pub async fn outcomes(env: &Env, id: &str) -> Result<Option<(Vec<Outcome>, u32)>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        actions: String,
        attempts: f64,
    }
    let row: Option<Row> = env
        .d1(DB_BINDING)?
        .prepare("SELECT actions, attempts FROM rule_firings WHERE id = ?1")
        .bind(&[id.into()])?
        .first(None)
        .await?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(row.map(|r| {
        (
            serde_json::from_str(&r.actions).unwrap_or_default(),
            r.attempts as u32,
        )
    }))
}

/// Writes a firing's outcomes and attempt count back.
pub async fn update(
    env: &Env,
    id: &str,
    outcomes: &[Outcome],
    attempts: u32,
) -> Result<(), ApiError> {
    let actions = serde_json::to_string(outcomes).map_err(|e| ApiError::Internal(e.to_string()))?;
    env.d1(DB_BINDING)?
        .prepare(
            "UPDATE rule_firings SET actions = ?1, attempts = ?2, updated_at = ?3 WHERE id = ?4",
        )
        .bind(&[
            actions.into(),
            JsValue::from_f64(f64::from(attempts)),
            rfc3339(now()).into(),
            id.into(),
        ])?
        .run()
        .await?;
    Ok(())
}

/// Firings per rule id since `since_ms`.
pub async fn counts_since(env: &Env, since_ms: i64) -> Result<Vec<(String, f64)>, ApiError> {
    #[derive(Deserialize)]
    struct Count {
        rule_id: String,
        n: f64,
    }
    let counts: Vec<Count> = env
        .d1(DB_BINDING)?
        .prepare(
            "SELECT rule_id, count(*) AS n FROM rule_firings WHERE fired_ms >= ?1 GROUP BY rule_id",
        )
        .bind(&[js_ms(since_ms)])?
        .all()
        .await?
        .results()?;
    Ok(counts.into_iter().map(|c| (c.rule_id, c.n)).collect())
}

/// A user's latest recorded firings of a rule, newest first, as explain shows them.
pub async fn of_user(env: &Env, rule: &str, user: &str) -> Result<Vec<Value>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        fired_at: String,
        source: String,
        capped: f64,
        message_ids: String,
        actions: String,
        attempts: f64,
    }
    let rows: Vec<Row> = env
        .d1(DB_BINDING)?
        .prepare(format!(
            "SELECT id, fired_at, source, capped, message_ids, actions, attempts FROM rule_firings \
             WHERE rule_id = ?1 AND user_id = ?2 ORDER BY fired_ms DESC LIMIT {MAX_SHOWN_FIRINGS}"
        ))
        .bind(&[rule.into(), user.into()])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id, "firedAt": r.fired_at, "source": r.source, "capped": r.capped > 0.0,
                "messageIds": serde_json::from_str::<Value>(&r.message_ids).unwrap_or_default(),
                "actions": serde_json::from_str::<Value>(&r.actions).unwrap_or_default(),
                "attempts": r.attempts,
            })
        })
        .collect())
}
