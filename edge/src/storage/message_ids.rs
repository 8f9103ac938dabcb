//! The message-id ledger of the ClickHouse events store (D1 `message_ids`,
//! `migrations/0014_message_ids.sql`): exactly-once at write time, so ClickHouse queries read
//! `FROM events FINAL` instead of de-duplicating every row by `message_id`.
//!
//! Invariant: for every `messageId` the consumer inserts into ClickHouse only copies whose row
//! digest ([`spur_core::query::clickhouse::row_digest`]) equals the ledger's, which is the
//! digest of the first copy ever recorded — D1's first-copy-wins, as `INSERT OR IGNORE` keeps
//! it for D1's events table. Those copies are byte-identical rows with one sort key, which
//! `ReplacingMergeTree` and `FINAL` collapse to one. A later copy with another digest (a
//! client retry without `timestamp`, whose `ts_ms` moved) is dropped; it would otherwise be a
//! second row under another sort key that `FINAL` cannot collapse.
//!
//! Crash safety: [`Ledger::record`] runs before the ClickHouse insert and is idempotent
//! (`ON CONFLICT DO NOTHING`; the digest is a pure function of the message's content). If the
//! consumer fails after recording — before, during or after the insert — the queue redelivers
//! the same message, whose copies still match the ledger: they are inserted again and collapse
//! with whatever the first attempt stored. Nothing is lost: a message that keeps failing
//! reaches the dead-letter queue and becomes `storage_failed` bad rows, as in D1 mode.
//!
//! Window: ids are remembered for [`MESSAGE_ID_WINDOW_MS`] (the edge's clock, handed in); each
//! call first deletes a bounded range of expired rows (an index range on `seen_ms`, empty and
//! nearly free when nothing expired), so the table holds about a window of ids. A copy of an
//! id older than the window is a first copy again.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use spur_core::limits::{D1_ROWS_PARAM_BYTES, MESSAGE_ID_SWEEP_ROWS, MESSAGE_ID_WINDOW_MS};
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::http::error::ApiError;
use crate::storage::{js_ms, DB_BINDING};

// Deletes up to ?2 rows first seen before ?1 (the oldest first: one range of message_ids_seen).
const SWEEP: &str = "DELETE FROM message_ids WHERE message_id IN \
     (SELECT message_id FROM message_ids WHERE seen_ms < ?1 ORDER BY seen_ms LIMIT ?2)";

// Records the ids of a chunk not in the ledger yet: ?1 is a JSON array of [message_id, digest]
// rows, ?2 the time. Rows apply in array order, so of two copies in one call the first is
// recorded; RETURNING names the ids this statement inserted (the fresh ones). `WHERE true`
// keeps `ON` from parsing as a join.
const RECORD: &str = "INSERT INTO message_ids (message_id, digest, seen_ms) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?2 \
     FROM json_each(?1) WHERE true ORDER BY key \
     ON CONFLICT(message_id) DO NOTHING RETURNING message_id";

// The ledger's digest of every id of a chunk (run after RECORD in the same transaction, so
// every id has one).
const DIGESTS: &str = "SELECT message_id, digest FROM message_ids \
     WHERE message_id IN (SELECT json_extract(value, '$[0]') FROM json_each(?1))";

// Forgets the ids of a chunk whose recorded digest is the given one: ?1 is a JSON array of
// [message_id, digest] rows (the primary key finds each id; the digest check keeps an id that
// another copy now holds).
const FORGET: &str = "DELETE FROM message_ids \
     WHERE message_id IN (SELECT json_extract(value, '$[0]') FROM json_each(?1)) \
     AND digest = (SELECT json_extract(j.value, '$[1]') FROM json_each(?1) AS j \
     WHERE json_extract(j.value, '$[0]') = message_ids.message_id LIMIT 1)";

/// What the ledger says about one copy of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The first time its id was recorded (and the first copy of it in this call): archive
    /// and publish it.
    pub fresh: bool,
    /// Its digest is the ledger's: insert it (it is the first copy, or identical to it).
    pub first_copy: bool,
}

/// The ledger (the D1 binding).
pub struct Ledger {
    db: D1Database,
}

#[derive(Deserialize)]
struct Inserted {
    message_id: String,
}

#[derive(Deserialize)]
struct Recorded {
    message_id: String,
    digest: String,
}

impl Ledger {
    /// Opens the binding.
    pub fn open(env: &Env) -> Result<Self, ApiError> {
        Ok(Ledger {
            db: env.d1(DB_BINDING)?,
        })
    }

    /// Records `(message_id, digest)` copies seen at `now_ms` and answers, per copy in order,
    /// whether it is fresh and whether it is the recorded copy. One D1 batch (one round trip,
    /// one transaction): a bounded sweep, then per chunk of at most [`D1_ROWS_PARAM_BYTES`]
    /// one insert and one read of the chunk's digests.
    pub async fn record(
        &self,
        copies: &[(&str, &str)],
        now_ms: i64,
    ) -> Result<Vec<Verdict>, ApiError> {
        if copies.is_empty() {
            return Ok(Vec::new());
        }
        let sweep_rows = copies
            .len()
            .saturating_mul(2)
            .saturating_add(MESSAGE_ID_SWEEP_ROWS);
        let mut stmts = vec![self.db.prepare(SWEEP).bind(&[
            js_ms(now_ms.saturating_sub(MESSAGE_ID_WINDOW_MS)),
            JsValue::from_f64(f64::from(u32::try_from(sweep_rows).unwrap_or(u32::MAX))),
        ])?];
        for chunk in chunks(copies)? {
            let param = JsValue::from_str(&chunk);
            stmts.push(
                self.db
                    .prepare(RECORD)
                    .bind(&[param.clone(), js_ms(now_ms)])?,
            );
            stmts.push(self.db.prepare(DIGESTS).bind(&[param])?);
        }
        let results = self.db.batch(stmts).await?;
        let mut inserted = HashSet::new();
        let mut digests = HashMap::new();
        for (i, r) in results.iter().enumerate().skip(1) {
            if i % 2 == 1 {
                inserted.extend(r.results::<Inserted>()?.into_iter().map(|r| r.message_id));
            } else {
                digests.extend(
                    r.results::<Recorded>()?
                        .into_iter()
                        .map(|r| (r.message_id, r.digest)),
                );
            }
        }
        Ok(verdicts(copies, &mut inserted, &digests))
    }
}

impl Ledger {
    /// Forgets the recorded copies of a message the queue gave up on (its events become
    /// `storage_failed` bad rows). Their replay re-judges each event, so its row differs (the
    /// replay's request id, its write key) and the ledger would drop it as a retry, although
    /// the first copy may never have reached ClickHouse. Forgotten, the replayed copy is a
    /// first copy again. Should the original have been stored after all, both keep the event's
    /// time (a replay judges at the original receipt time), so they share a sort key and read
    /// as one.
    pub async fn forget(&self, copies: &[(&str, &str)]) -> Result<(), ApiError> {
        let mut stmts = Vec::new();
        for chunk in chunks(copies)? {
            stmts.push(self.db.prepare(FORGET).bind(&[JsValue::from_str(&chunk)])?);
        }
        if !stmts.is_empty() {
            self.db.batch(stmts).await?;
        }
        Ok(())
    }
}

/// Per copy: fresh when this call inserted its id and it is the id's first copy here (the
/// set is drained as ids are met); the recorded copy when its digest is the ledger's.
fn verdicts(
    copies: &[(&str, &str)],
    inserted: &mut HashSet<String>,
    digests: &HashMap<String, String>,
) -> Vec<Verdict> {
    copies
        .iter()
        .map(|(id, digest)| Verdict {
            fresh: inserted.remove(*id),
            first_copy: digests.get(*id).is_some_and(|d| d == digest),
        })
        .collect()
}

/// The copies as JSON arrays of `[message_id, digest]` rows, each at most
/// [`D1_ROWS_PARAM_BYTES`] (a row is a few hundred bytes at most: ids are bounded).
fn chunks(copies: &[(&str, &str)]) -> Result<Vec<String>, ApiError> {
    let mut done = Vec::new();
    let mut open = String::new();
    for copy in copies {
        let row = serde_json::to_string(copy).map_err(|e| ApiError::Internal(e.to_string()))?;
        if !open.is_empty() && open.len() + row.len() + 2 > D1_ROWS_PARAM_BYTES {
            done.push(std::mem::take(&mut open) + "]");
        }
        open.push(if open.is_empty() { '[' } else { ',' });
        open.push_str(&row);
    }
    if !open.is_empty() {
        done.push(open + "]");
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_copy_is_fresh_and_only_matching_digests_are_kept() {
        let copies = [
            ("a", "d1"),
            ("a", "d1"),
            ("b", "d2"),
            ("a", "d9"),
            ("c", "d3"),
        ];
        let mut inserted: HashSet<String> = ["a".into(), "b".into()].into();
        let digests: HashMap<String, String> = [("a", "d1"), ("b", "d2"), ("c", "d0")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let v = verdicts(&copies, &mut inserted, &digests);
        let pairs: Vec<_> = v.iter().map(|v| (v.fresh, v.first_copy)).collect();
        assert_eq!(
            pairs,
            [
                (true, true),
                (false, true),
                (true, true),
                (false, false),
                (false, false)
            ]
        );
    }

    #[test]
    fn chunks_are_json_arrays_of_rows() {
        let c = chunks(&[("a", "0011"), ("b\"", "ff")]).unwrap();
        assert_eq!(c, [r#"[["a","0011"],["b\"","ff"]]"#]);
    }
}
