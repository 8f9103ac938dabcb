//! D1 `bad_rows`: listing rejected messages and marking replays.
//!
//! Invariant: every request value is bound, never spliced (ids are integers, limits are
//! clamped numbers); a replay mark only ever raises `replay_count` and sets `replayed_at` once.

use serde::{Deserialize, Serialize};
use spur_core::identity::ALIAS_LINK_ENDPOINT;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::http::error::ApiError;
use crate::storage::DB_BINDING;

/// A stored bad row (camelCase, as the admin API shows it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Row id.
    pub id: f64,
    /// Receipt time (RFC 3339).
    pub received_at: String,
    /// The write key it came with.
    pub write_key: Option<String>,
    /// The endpoint it came in on.
    pub endpoint: String,
    /// Reason code.
    pub reason: String,
    /// Detail.
    pub detail: String,
    /// Its `messageId`, when readable.
    pub message_id: Option<String>,
    /// The stored message.
    pub payload: String,
    /// When it was replayed, if it was.
    pub replayed_at: Option<String>,
    /// How often a replay was tried.
    pub replay_count: f64,
    /// The kept request facts (JSON), when the row has them.
    #[serde(default)]
    pub request: Option<String>,
    /// The payload was cut to fit (1) or is whole (0).
    #[serde(default)]
    pub payload_truncated: f64,
}

/// Which rows a list returns.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// Only this reason.
    pub reason: Option<&'a str>,
    /// Only ids below this (paging).
    pub before: Option<u64>,
    /// Only replayed (`true`) or unreplayed (`false`) rows.
    pub replayed: Option<bool>,
}

/// Which unreplayed rows a replay considers.
#[derive(Debug)]
pub enum Pick<'a> {
    /// These ids.
    Ids(&'a [u64]),
    /// Every row, optionally of one reason, oldest first.
    Oldest {
        /// Only this reason.
        reason: Option<&'a str>,
    },
}

const SELECT: &str = "SELECT id, received_at AS receivedAt, write_key AS writeKey, endpoint, reason, detail, \
     message_id AS messageId, payload, replayed_at AS replayedAt, replay_count AS replayCount, request, payload_truncated AS payloadTruncated FROM bad_rows";

/// Rows matching `filter`, newest first, at most `limit`.
pub async fn list(env: &Env, filter: &Filter<'_>, limit: u32) -> Result<Vec<Row>, ApiError> {
    let mut sql = format!("{SELECT} WHERE id < ?1");
    #[allow(clippy::cast_precision_loss)] // row ids are far below 2^53
    let mut args: Vec<JsValue> = vec![JsValue::from_f64(
        filter.before.map_or(9.0e15, |b| b as f64),
    )];
    if let Some(reason) = filter.reason {
        args.push(reason.into());
        sql.push_str(&format!(" AND reason = ?{}", args.len()));
    }
    match filter.replayed {
        Some(true) => sql.push_str(" AND replayed_at IS NOT NULL"),
        Some(false) => sql.push_str(" AND replayed_at IS NULL"),
        None => {}
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    Ok(env
        .d1(DB_BINDING)?
        .prepare(sql)
        .bind(&args)?
        .all()
        .await?
        .results()?)
}

/// Unreplayed rows to replay, at most `limit`.
pub async fn unreplayed(env: &Env, pick: &Pick<'_>, limit: u32) -> Result<Vec<Row>, ApiError> {
    let db = env.d1(DB_BINDING)?;
    let rows = match pick {
        Pick::Ids(ids) => {
            let ids: Vec<String> = ids
                .iter()
                .take(limit as usize)
                .map(u64::to_string)
                .collect();
            let sql = format!(
                "{SELECT} WHERE replayed_at IS NULL AND id IN ({}) ORDER BY id",
                ids.join(",")
            );
            db.prepare(sql).all().await?.results()?
        }
        Pick::Oldest { reason } => {
            let (filter, args) = match reason {
                Some(r) => (" AND reason = ?1", vec![JsValue::from_str(r)]),
                None => ("", vec![]),
            };
            // Refused alias links are records of stored events, never replayed: a bare replay
            // skips them, so they cannot crowd out the rows it is for.
            let sql = format!(
                "{SELECT} WHERE replayed_at IS NULL AND endpoint != '{ALIAS_LINK_ENDPOINT}'{filter} \
                 ORDER BY id LIMIT {limit}"
            );
            db.prepare(sql).bind(&args)?.all().await?.results()?
        }
    };
    Ok(rows)
}

/// Marks replayed rows (stamped `at`) and counts a failed try on the others, in one batch.
pub async fn mark(env: &Env, replayed: &[f64], still: &[f64], at: &str) -> Result<(), ApiError> {
    let db = env.d1(DB_BINDING)?;
    let stamp = JsValue::from_str(at);
    let mut stmts = Vec::new();
    for id in replayed {
        stmts.push(
            db.prepare("UPDATE bad_rows SET replayed_at = ?1, replay_count = replay_count + 1 WHERE id = ?2")
                .bind(&[stamp.clone(), JsValue::from_f64(*id)])?,
        );
    }
    for id in still {
        stmts.push(
            db.prepare("UPDATE bad_rows SET replay_count = replay_count + 1 WHERE id = ?1")
                .bind(&[JsValue::from_f64(*id)])?,
        );
    }
    if !stmts.is_empty() {
        db.batch(stmts).await?;
    }
    Ok(())
}
