//! The person's frequency tally: admitting sends (in-app, push, email) under the
//! cross-channel frequency policy.
//!
//! Invariant: each ask is decided once by its action key — a retried send gets the answer it
//! got before and is not counted again — and deciding is synchronous (read, decide, write with
//! no await), so two concurrent requests cannot both take the last slot.

use serde::Deserialize;
use spur_core::frequency::{self, Ask, FrequencyPolicy, Tally, Verdict};
use spur_core::journeys::Zones;
use spur_core::rules::Prepared;
use worker::SqlStorage;

use super::{get_meta, set_meta, UserState};
use crate::clock::{now_ms, IntlZones};
use crate::http::error::ApiError;
use crate::storage::settings;

/// How long a frequency verdict is remembered by action id (longer than the actions queue
/// retries a message), so a retried send is never counted twice.
pub const ADMITTED_TTL_MS: i64 = 2 * 86_400_000;
/// Meta key: the person's frequency [`Tally`] (JSON).
pub(super) const FREQUENCY_TALLY: &str = "frequency_tally";

impl UserState {
    /// Answers asks from the ingest request or the actions consumer.
    pub(super) async fn admit_asks(
        &self,
        asks: &[Ask],
    ) -> std::result::Result<Vec<Verdict>, ApiError> {
        let policy = settings::frequency(&self.env).await?;
        if !policy.is_active() {
            return Ok(asks
                .iter()
                .map(|a| Verdict {
                    key: a.key.clone(),
                    skip: None,
                })
                .collect());
        }
        admit_all(&self.sql(), &policy, asks, now_ms())
    }

    /// Admits the in-app messages this object is about to return or park (no hop: the tally
    /// is here); a refused message is not shown and its outcome records why.
    pub(super) async fn gate_in_app(
        &self,
        prepared: &mut Prepared,
    ) -> std::result::Result<(), ApiError> {
        let asks = frequency::in_app_asks(prepared);
        if asks.is_empty() {
            return Ok(());
        }
        let policy = settings::frequency(&self.env).await?;
        if !policy.is_active() {
            return Ok(());
        }
        let verdicts = admit_all(&self.sql(), &policy, &asks, now_ms())?;
        frequency::apply_in_app(prepared, &verdicts);
        Ok(())
    }
}

#[derive(Deserialize)]
struct AdmittedRow {
    skip: Option<String>,
}

/// Decides each ask under `policy` at `at`: a key already answered gets the same answer (not
/// counted again); a new one is decided by `frequency::admit` and remembered. Synchronous —
/// read, decide, write with no await — so concurrent requests cannot both take the last slot.
fn admit_all(
    sql: &SqlStorage,
    policy: &FrequencyPolicy,
    asks: &[Ask],
    at: i64,
) -> std::result::Result<Vec<Verdict>, ApiError> {
    let offset = IntlZones.offset_ms(policy.zone(), at).unwrap_or(0);
    sql.exec(
        "DELETE FROM admitted WHERE at < ?",
        vec![(at - ADMITTED_TTL_MS).into()],
    )?;
    let before: Tally = get_meta(sql, FREQUENCY_TALLY)?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut tally = before.clone();
    let mut verdicts = Vec::with_capacity(asks.len());
    for ask in asks {
        let known: Vec<AdmittedRow> = sql
            .exec(
                "SELECT skip FROM admitted WHERE key = ?",
                vec![ask.key.as_str().into()],
            )?
            .to_array()?;
        let skip = match known.into_iter().next() {
            Some(row) => row.skip,
            None => {
                let skip = frequency::admit(policy, &mut tally, ask.channel, offset, at)
                    .err()
                    .map(|s| frequency::skip_record(s, policy, ask.channel));
                sql.exec(
                    "INSERT INTO admitted (key, skip, at) VALUES (?, ?, ?)",
                    vec![ask.key.as_str().into(), skip.clone().into(), at.into()],
                )?;
                skip
            }
        };
        verdicts.push(Verdict {
            key: ask.key.clone(),
            skip,
        });
    }
    if tally != before {
        let text = serde_json::to_string(&tally).map_err(|e| ApiError::Internal(e.to_string()))?;
        set_meta(sql, FREQUENCY_TALLY, &text)?;
    }
    Ok(verdicts)
}
