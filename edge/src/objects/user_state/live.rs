//! Live segment membership in the person's object: the events consumer hands over each
//! stored event some live segment wants (`POST /live`), the alarm ticks every segment, and
//! each membership change becomes a `$segment_entered`/`$segment_exited` event.
//!
//! Invariant: an event is observed at most once per object (its `messageId` in `live_seen`,
//! apart from the rules' `seen`, since the rules apply the same ids); states are read,
//! advanced and written in one synchronous stretch, with the next time-based change kept in
//! meta [`LIVE_DUE`] so every `schedule()` keeps the alarm at the earliest of it and the rule
//! and journey deadlines. A change's event has a deterministic `messageId`, so it is stored
//! once however often it is queued, and it is run through the person's rules and journeys as
//! a trigger here only — events the consumer hands back (transitions included) are observed,
//! never triggered again. An identity merge hands the states over with the observed ids
//! (see `merge.rs`); what reaches a merged person's object afterwards is forwarded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spur_core::limits::MAX_MERGE_HOPS;
use spur_core::query::live::LiveState;
use spur_core::query::live_set::{self, Change, LiveSet};
use spur_core::Event;
use worker::{console_error, console_warn, SqlStorage};

use super::seen;
use super::{get_meta, set_meta, stored_due, Delivery, UserState, MERGED_INTO};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::queues::events as events_queue;
use crate::storage::live_segments;
use crate::storage::profiles;
use crate::storage::rules as rule_set;

/// Meta key: when live membership can next change without an event (ms since 1970).
pub(super) const LIVE_DUE: &str = "live_due";
/// Meta key: "1" when the object's person is known by an anonymousId only.
const ANONYMOUS: &str = "anonymous";

/// What the events consumer sends: a person's stored events some live segment wants.
#[derive(Debug, Serialize, Deserialize)]
pub struct LiveDelivery {
    /// userId, else anonymousId.
    pub user: String,
    /// The live set version the sender used.
    pub version: u64,
    /// The events (already stored).
    pub events: Vec<Event>,
    /// `user` is an anonymousId (the events carry no userId): the transition events then
    /// carry it as their `anonymousId`.
    #[serde(default)]
    pub anonymous: bool,
    /// How often it was forwarded from a merged person's object (see [`MAX_MERGE_HOPS`]).
    #[serde(default)]
    pub hops: u32,
}

/// What the upkeep came to.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LiveAnswer {
    /// Events observed for the first time.
    pub observed: usize,
    /// Membership changes.
    pub changes: usize,
}

#[derive(Deserialize)]
struct LiveRow {
    segment_id: String,
    state: String,
}

impl UserState {
    /// Observes the fresh events, then emits the changes.
    pub(super) async fn live(&self, mut d: LiveDelivery) -> Result<LiveAnswer, ApiError> {
        let set = live_segments::at_version(&self.env, d.version).await?;
        let traits = self.live_traits(&set, &d.user).await;
        let at = now_ms();
        let sql = self.sql();
        // Checked after the awaits above, so a hand-over that ran meanwhile is seen: a person
        // merged into another sends what still arrives on to the identified person's object
        // (minus what was observed here, which the hand-over carried).
        if let Some(into) = get_meta(&sql, MERGED_INTO)? {
            if d.hops < MAX_MERGE_HOPS {
                let mut rest = Vec::with_capacity(d.events.len());
                for e in std::mem::take(&mut d.events) {
                    if !seen::LIVE.contains(&sql, &e.message_id)? {
                        rest.push(e);
                    }
                }
                let forwarded = LiveDelivery {
                    user: into,
                    version: d.version,
                    events: rest,
                    anonymous: false,
                    hops: d.hops + 1,
                };
                return super::upkeep(&self.env, &forwarded).await;
            }
            console_warn!(
                "merge chain longer than {MAX_MERGE_HOPS}: live events kept at {}",
                d.user
            );
        }
        set_meta(&sql, "user", &d.user)?;
        set_meta(&sql, ANONYMOUS, if d.anonymous { "1" } else { "0" })?;
        let mut fresh = Vec::with_capacity(d.events.len());
        seen::LIVE.sweep(&sql, at)?;
        for e in &d.events {
            if seen::LIVE.record(&sql, &e.message_id, at)? {
                fresh.push(e);
            }
        }
        let before = load_live(&sql)?;
        let mut states = before.clone();
        let changes = set.observe(&mut states, &fresh, traits.as_ref(), at);
        save_live(&sql, &set, &before, &states, at)?;
        self.schedule(stored_due(&sql)?, at).await?;
        let answer = LiveAnswer {
            observed: fresh.len(),
            changes: changes.len(),
        };
        self.emit(&d.user, changes, traits).await?;
        Ok(answer)
    }

    /// Ticks every live segment at `at` (the alarm) and saves; returns the changes to emit.
    pub(super) async fn live_tick(
        &self,
        user: &str,
        at: i64,
    ) -> Result<(Vec<Change>, Option<TraitMap>), ApiError> {
        let sql = self.sql();
        if get_meta(&sql, LIVE_DUE)?.is_none() && load_live(&sql)?.is_empty() {
            return Ok((Vec::new(), None));
        }
        let set = live_segments::current(&self.env).await?;
        let traits = self.live_traits(&set, user).await;
        let sql = self.sql();
        let before = load_live(&sql)?;
        let mut states = before.clone();
        let changes = set.tick(&mut states, traits.as_ref(), at);
        save_live(&sql, &set, &before, &states, at)?;
        Ok((changes, traits))
    }

    /// The person's profile traits, when a live segment reads them (a failed read is logged
    /// and the segments see the identify events' traits only).
    pub(super) async fn live_traits(&self, set: &LiveSet, user: &str) -> Option<TraitMap> {
        if !set.reads_traits() || user.is_empty() {
            return None;
        }
        profiles::one(&self.env, user).await.unwrap_or_else(|e| {
            console_error!("profile unavailable for live segments: {e:?}");
            None
        })
    }

    /// Queues the changes' events for storage, fires the stateless rules they trigger, and
    /// hands them to the stateful rules and journeys (as the ingest request would).
    pub(super) async fn emit(
        &self,
        user: &str,
        changes: Vec<Change>,
        traits: Option<TraitMap>,
    ) -> Result<(), ApiError> {
        if changes.is_empty() {
            return Ok(());
        }
        let anonymous = get_meta(&self.sql(), ANONYMOUS)?.as_deref() == Some("1");
        let events = live_set::events_of(user, anonymous, &changes);
        let encoded = spur_core::work::encode_events(&events);
        events_queue::enqueue(
            &self.env,
            spur_core::work::split(None, &encoded, Vec::new()),
        )
        .await?;
        let index = rule_set::current(&self.env).await?;
        let at = now_ms();
        for (e, json) in events.iter().zip(&encoded) {
            let routed = index.route_profiled(e, Some(json), traits.as_ref(), at);
            self.dispatch(&index, routed.firings, user, "live", false)
                .await?;
        }
        let delivery = Delivery {
            user: user.to_owned(),
            version: index.version(),
            events,
            respond: false,
            journeys: 0,
            enter: None,
            profile: traits,
            hops: 0,
        };
        // As the person's own `/events` takes them: de-duplicated by `messageId`, applied to
        // the stateful rules and journeys, the alarm kept.
        self.events(delivery).await?;
        Ok(())
    }
}

/// Profile traits.
pub(super) type TraitMap = serde_json::Map<String, serde_json::Value>;

/// The person's live states, by segment id.
pub(super) fn load_live(sql: &SqlStorage) -> Result<BTreeMap<String, LiveState>, ApiError> {
    let rows: Vec<LiveRow> = sql
        .exec("SELECT segment_id, state FROM live_state", None)?
        .to_array()?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.segment_id, serde_json::from_str(&r.state).ok()?)))
        .collect())
}

/// Writes the changed states, deletes the dropped ones and keeps [`LIVE_DUE`].
pub(super) fn save_live(
    sql: &SqlStorage,
    set: &LiveSet,
    before: &BTreeMap<String, LiveState>,
    after: &BTreeMap<String, LiveState>,
    at: i64,
) -> Result<(), ApiError> {
    for id in before.keys().filter(|k| !after.contains_key(*k)) {
        sql.exec(
            "DELETE FROM live_state WHERE segment_id = ?",
            vec![id.as_str().into()],
        )?;
    }
    for (id, state) in after.iter().filter(|(k, v)| before.get(*k) != Some(v)) {
        let text = serde_json::to_string(state).map_err(|e| ApiError::Internal(e.to_string()))?;
        sql.exec(
            "INSERT INTO live_state (segment_id, state) VALUES (?, ?) \
             ON CONFLICT(segment_id) DO UPDATE SET state = excluded.state",
            vec![id.as_str().into(), text.into()],
        )?;
    }
    match set.next_change(after, at) {
        Some(due) => set_meta(sql, LIVE_DUE, &due.to_string())?,
        None => {
            sql.exec("DELETE FROM meta WHERE key = ?", vec![LIVE_DUE.into()])?;
        }
    }
    Ok(())
}

/// When live membership can next change without an event.
pub(super) fn live_due(sql: &SqlStorage) -> Result<Option<i64>, ApiError> {
    Ok(get_meta(sql, LIVE_DUE)?.and_then(|v| v.parse().ok()))
}

/// Deletes the person's live states and due time (a hand-over).
pub(super) fn clear_live(sql: &SqlStorage) -> Result<(), ApiError> {
    sql.exec("DELETE FROM live_state", None)?;
    sql.exec("DELETE FROM meta WHERE key = ?", vec![LIVE_DUE.into()])?;
    Ok(())
}
