//! The `messageId`s a person's object has taken in, one ledger per purpose: `seen` (events
//! applied to rules and journeys) and `live_seen` (events observed for live segments). They
//! are apart because the two paths receive the same ids independently.
//!
//! Invariant: an id is recorded at most once per ledger ([`record`] is one
//! `INSERT … ON CONFLICT DO NOTHING RETURNING`, so the check and the write cannot be split);
//! ids older than [`SEEN_TTL_MS`] are swept once per delivery, not per event.

use serde::de::IgnoredAny;
use serde::Deserialize;
use worker::SqlStorage;

use crate::http::error::ApiError;

/// How long taken-in `messageId`s are remembered for de-duplication.
pub const SEEN_TTL_MS: i64 = 86_400_000;

/// One ledger's statements (its table is created with the object's schema).
pub(super) struct Ledger {
    sweep: &'static str,
    contains: &'static str,
    record: &'static str,
    newest: &'static str,
}

macro_rules! ledger {
    ($table:literal) => {
        Ledger {
            sweep: concat!("DELETE FROM ", $table, " WHERE at < ?"),
            contains: concat!("SELECT 1 AS hit FROM ", $table, " WHERE message_id = ?"),
            record: concat!(
                "INSERT INTO ",
                $table,
                " (message_id, at) VALUES (?, ?) ON CONFLICT(message_id) DO NOTHING RETURNING 1 AS hit"
            ),
            newest: concat!(
                "SELECT message_id FROM ",
                $table,
                " ORDER BY at DESC LIMIT ?"
            ),
        }
    };
}

/// Events applied to rules and journeys.
pub(super) const APPLIED: Ledger = ledger!("seen");
/// Events observed for live segment upkeep.
pub(super) const LIVE: Ledger = ledger!("live_seen");

#[derive(Deserialize)]
struct IdRow {
    message_id: String,
}

impl Ledger {
    /// Forgets the ids recorded before the de-duplication window that ends at `at`.
    pub(super) fn sweep(&self, sql: &SqlStorage, at: i64) -> Result<(), ApiError> {
        sql.exec(self.sweep, vec![(at - SEEN_TTL_MS).into()])?;
        Ok(())
    }

    /// Whether the id is recorded.
    pub(super) fn contains(&self, sql: &SqlStorage, id: &str) -> Result<bool, ApiError> {
        let rows: Vec<IgnoredAny> = sql.exec(self.contains, vec![id.into()])?.to_array()?;
        Ok(!rows.is_empty())
    }

    /// Records the id at `at`; false when it was already recorded.
    pub(super) fn record(&self, sql: &SqlStorage, id: &str, at: i64) -> Result<bool, ApiError> {
        let rows: Vec<IgnoredAny> = sql
            .exec(self.record, vec![id.into(), at.into()])?
            .to_array()?;
        Ok(!rows.is_empty())
    }

    /// Records ids another object took in (an identity hand-over) as taken in here.
    pub(super) fn absorb(&self, sql: &SqlStorage, ids: &[String], at: i64) -> Result<(), ApiError> {
        for id in ids {
            self.record(sql, id, at)?;
        }
        Ok(())
    }

    /// The newest `limit` ids, newest first.
    pub(super) fn newest(&self, sql: &SqlStorage, limit: usize) -> Result<Vec<String>, ApiError> {
        let rows: Vec<IdRow> = sql
            .exec(
                self.newest,
                vec![i64::try_from(limit).unwrap_or(i64::MAX).into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|r| r.message_id).collect())
    }
}
