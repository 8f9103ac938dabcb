//! The person's outbox: in-app messages waiting for the person's next page view.
//!
//! Invariant: at most [`MAX_OUTBOX`] messages wait (oldest dropped first), one per message id;
//! a message older than [`OUTBOX_TTL_MS`] is never handed out.

use serde::Deserialize;
use spur_core::merge::Pending;
use spur_core::rules::InAppMessage;
use worker::SqlStorage;

use super::TextRow;
use crate::http::error::ApiError;

/// Most in-app messages waiting for pickup (oldest dropped first).
pub const MAX_OUTBOX: usize = spur_core::limits::MAX_PENDING_MESSAGES;
/// How long a waiting in-app message stays worth showing.
pub const OUTBOX_TTL_MS: i64 = 86_400_000;

#[derive(Deserialize)]
struct OutboxRow {
    message: String,
    at: i64,
}

/// The messages waiting for pickup, still worth showing, oldest first.
pub(super) fn load_outbox(
    sql: &SqlStorage,
    at: i64,
) -> std::result::Result<Vec<Pending>, ApiError> {
    let rows: Vec<OutboxRow> = sql
        .exec(
            "SELECT message, at FROM outbox WHERE at >= ? ORDER BY at",
            vec![(at - OUTBOX_TTL_MS).into()],
        )?
        .to_array()?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Pending {
                message: serde_json::from_str(&r.message).ok()?,
                at: r.at,
            })
        })
        .collect())
}

/// Replaces the outbox with `pending`.
pub(super) fn write_outbox(
    sql: &SqlStorage,
    pending: &[Pending],
) -> std::result::Result<(), ApiError> {
    sql.exec("DELETE FROM outbox", None)?;
    for p in pending {
        let text =
            serde_json::to_string(&p.message).map_err(|e| ApiError::Internal(e.to_string()))?;
        sql.exec(
            "INSERT INTO outbox (id, message, at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
            vec![p.message.id.as_str().into(), text.into(), p.at.into()],
        )?;
    }
    Ok(())
}

pub(super) fn park(
    sql: &SqlStorage,
    messages: &[InAppMessage],
    at: i64,
) -> std::result::Result<(), ApiError> {
    for m in messages {
        let text = serde_json::to_string(m).map_err(|e| ApiError::Internal(e.to_string()))?;
        sql.exec(
            "INSERT INTO outbox (id, message, at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
            vec![m.id.as_str().into(), text.into(), at.into()],
        )?;
    }
    sql.exec(
        "DELETE FROM outbox WHERE id NOT IN (SELECT id FROM outbox ORDER BY at DESC LIMIT ?)",
        vec![i64::try_from(MAX_OUTBOX).unwrap_or(20).into()],
    )?;
    Ok(())
}

pub(super) fn take_outbox(
    sql: &SqlStorage,
    at: i64,
) -> std::result::Result<Vec<InAppMessage>, ApiError> {
    let rows: Vec<TextRow> = sql
        .exec(
            "SELECT message AS value FROM outbox WHERE at >= ? ORDER BY at",
            vec![(at - OUTBOX_TTL_MS).into()],
        )?
        .to_array()?;
    sql.exec("DELETE FROM outbox", None)?;
    Ok(rows
        .iter()
        .filter_map(|r| serde_json::from_str(&r.value).ok())
        .collect())
}
