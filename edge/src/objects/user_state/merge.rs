//! Identity merge in the person's object: the anonymous person's hand-over and the identified
//! person's import.
//!
//! Invariant: a hand-over happens once per person (a retry returns the same snapshot) and an
//! import once per source id; both run read-merge-write in one synchronous stretch. Live
//! segment states travel with the observed `messageId`s, which the importer records as seen,
//! so an event counted on either side is never counted again.

use spur_core::frequency::Tally;
use spur_core::limits::{MAX_HANDOVER_SEEN, MAX_MERGE_HOPS, MAX_MERGE_SOURCES};
use spur_core::merge::{self, Handover, Link};
use spur_core::rules::next_deadline;
use worker::console_warn;

use super::{
    earliest, get_meta, live, load, load_outbox, post, save, seen, set_meta, write_outbox, Import,
    Imported, UserState, FREQUENCY_TALLY, HANDOVER, MERGED_INTO, MERGE_REPEATS,
};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::objects::journeys as person_journeys;
use crate::storage::live_segments;
use crate::storage::rules as rule_set;

impl UserState {
    /// Exports this person's state for `link.into`, once: the first call snapshots and clears
    /// the state and records `merged_into` (one synchronous stretch); a retry returns the same
    /// snapshot. A person already merged into someone else hands over nothing (first wins).
    pub(super) async fn handover(&self, link: &Link) -> std::result::Result<Handover, ApiError> {
        let sql = self.sql();
        let empty = Handover {
            from: link.from.clone(),
            ..Handover::default()
        };
        if let Some(into) = get_meta(&sql, MERGED_INTO)? {
            if into != link.into {
                console_warn!(
                    "merge of {} into {} refused: already merged into {into}",
                    link.from,
                    link.into
                );
                return Ok(empty);
            }
            return Ok(get_meta(&sql, HANDOVER)?
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(empty));
        }
        let at = now_ms();
        let handover = Handover {
            from: link.from.clone(),
            rules: load(&sql)?,
            journeys: person_journeys::load(&sql)?,
            outbox: load_outbox(&sql, at)?,
            tally: get_meta(&sql, FREQUENCY_TALLY)?.and_then(|t| serde_json::from_str(&t).ok()),
            live: live::load_live(&sql)?,
            live_seen: seen::LIVE.newest(&sql, MAX_HANDOVER_SEEN)?,
        };
        let text =
            serde_json::to_string(&handover).map_err(|e| ApiError::Internal(e.to_string()))?;
        set_meta(&sql, HANDOVER, &text)?;
        set_meta(&sql, MERGED_INTO, &link.into)?;
        sql.exec("DELETE FROM rule_state", None)?;
        sql.exec("DELETE FROM outbox", None)?;
        live::clear_live(&sql)?;
        sql.exec(
            "DELETE FROM meta WHERE key = ?",
            vec![FREQUENCY_TALLY.into()],
        )?;
        person_journeys::save(
            &sql,
            &handover.journeys,
            &spur_core::journeys::PersonJourneys::default(),
        )?;
        self.state.storage().delete_alarm().await?;
        Ok(handover)
    }

    /// Takes in another person's hand-over, once per source id: the merge, its firings and
    /// the alarm for moved deadlines and wake-ups.
    pub(super) async fn import(&self, mut imp: Import) -> std::result::Result<Imported, ApiError> {
        let index = rule_set::current(&self.env).await?;
        let live_set = live_segments::current(&self.env).await?;
        let traits = self.live_traits(&live_set, &imp.into).await;
        // After the awaits: a hand-over of this object that ran meanwhile is seen.
        if let Some(next) = get_meta(&self.sql(), MERGED_INTO)? {
            if imp.hops < MAX_MERGE_HOPS {
                imp.hops += 1;
                imp.into = next.clone();
                return post(&self.env, &next, "/import", &imp).await;
            }
            console_warn!(
                "merge chain longer than {MAX_MERGE_HOPS}: import kept at {}",
                imp.into
            );
        }
        let at = now_ms();
        // Read, merge, write: synchronous, so no event interleaves with the merge.
        let sql = self.sql();
        let known: Vec<serde_json::Value> = sql
            .exec(
                "SELECT 1 AS hit FROM merged_from WHERE id = ?",
                vec![imp.handover.from.as_str().into()],
            )?
            .to_array()?;
        if !known.is_empty() {
            // A retried merge: counted (explain shows it), nothing else changes.
            let n = get_meta(&sql, MERGE_REPEATS)?
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            set_meta(&sql, MERGE_REPEATS, &(n + 1).to_string())?;
            return Ok(Imported::default());
        }
        sql.exec(
            "INSERT INTO merged_from (id, at) VALUES (?, ?)",
            vec![imp.handover.from.as_str().into(), at.into()],
        )?;
        sql.exec(
            "DELETE FROM merged_from WHERE id NOT IN (SELECT id FROM merged_from ORDER BY at DESC LIMIT ?)",
            vec![i64::try_from(MAX_MERGE_SOURCES).unwrap_or(1_000).into()],
        )?;
        let user = get_meta(&sql, "user")?.unwrap_or_else(|| imp.into.clone());
        set_meta(&sql, "user", &user)?;
        let before = load(&sql)?;
        let mut states = before.clone();
        let people_before = person_journeys::load(&sql)?;
        let mut person = people_before.clone();
        let outbox = load_outbox(&sql, at)?;
        if let Some(theirs) = imp.handover.tally.take() {
            // The messages sent to the anonymous id today count toward the person's cap.
            let mut tally: Tally = get_meta(&sql, FREQUENCY_TALLY)?
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            tally.absorb(theirs);
            let text =
                serde_json::to_string(&tally).map_err(|e| ApiError::Internal(e.to_string()))?;
            set_meta(&sql, FREQUENCY_TALLY, &text)?;
        }
        // Live states: the anonymous ids' observations count as seen here, the states are
        // united and re-evaluated now; the changes are emitted below.
        seen::LIVE.absorb(&sql, &std::mem::take(&mut imp.handover.live_seen), at)?;
        let theirs = std::mem::take(&mut imp.handover.live);
        let live_before = live::load_live(&sql)?;
        let mut live_states = live_before.clone();
        let changes = live_set.absorb(&mut live_states, &theirs, traits.as_ref(), at);
        live::save_live(&sql, &live_set, &live_before, &live_states, at)?;
        let (outbox, mut firings, dropped) = merge::merge(
            &index,
            &user,
            &mut states,
            &mut person,
            outbox,
            imp.handover,
            at,
        );
        firings.extend(index.apply_time(&mut states, at));
        save(&sql, &before, &states)?;
        person_journeys::save(&sql, &people_before, &person)?;
        write_outbox(&sql, &outbox)?;
        if dropped.runs + dropped.messages + dropped.rules > 0 {
            console_warn!("merge into {user} left behind {dropped:?}");
        }
        let alarm = earliest(next_deadline(&states), person.next_wake());
        let fired = firings.len();
        self.dispatch(&index, firings, &user, "merge", false)
            .await?;
        self.schedule(alarm, at).await?;
        // As live upkeep emits them: stored once, run through the rules and journeys.
        self.emit(&user, changes, traits).await?;
        Ok(Imported {
            merged: true,
            fired,
            dropped_runs: dropped.runs,
            dropped_messages: dropped.messages,
        })
    }
}
