//! The two ways the person's rules and journeys move: a delivery of events (`POST /events`,
//! with an optional API entry into a journey) and the alarm (`ring`).
//!
//! Invariant: everything that needs an await — the rule and journey sets, the live segment
//! set and the stored profile — is fetched first; then the rule and journey states are read,
//! run through spur-core's transitions and written back in one synchronous stretch, so no
//! other request interleaves a half-update. The person's stored live states (DO SQL, which is
//! synchronous) are read inside that stretch and only when a condition actually asks for
//! membership — at most once per stretch ([`StoredLive`]) — so a delivery whose conditions
//! read no `segments.<id>` never reads them (issue 12). The profile is fetched before the
//! stretch whenever a condition the delivery can meet, or a published journey, reads a live
//! set that reads traits: membership asked for later then sees the same traits it always did.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use serde_json::{Map, Value};
use spur_core::journeys::{Facts, Membership};
use spur_core::limits::MAX_MERGE_HOPS;
use spur_core::query::live::LiveState;
use spur_core::query::live_set::LiveSet;
use spur_core::rules::next_deadline;
use worker::{console_error, console_warn, SqlStorage};

use super::live::{self, TraitMap};
use super::outbox::take_outbox;
use super::{
    deliver, earliest, get_meta, load, save, seen, set_meta, Answer, Delivery, UserState,
    ALARM_DUE, LAST_ALARM, MERGED_INTO,
};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::objects::journeys as person_journeys;
use crate::storage::journeys as journey_set;
use crate::storage::live_segments;
use crate::storage::profiles;
use crate::storage::rules as rule_set;

/// The person's stored live states, read from DO SQL on the first ask and kept for the rest of
/// the synchronous stretch (never across an await: another request may change them there).
struct StoredLive<'s> {
    sql: &'s SqlStorage,
    states: OnceCell<BTreeMap<String, LiveState>>,
}

impl<'s> StoredLive<'s> {
    fn new(sql: &'s SqlStorage) -> Self {
        StoredLive {
            sql,
            states: OnceCell::new(),
        }
    }

    /// The states. A failed read is logged and reads as no state (every segment `false`), as
    /// the stretch cannot stop half-way: what it already applied must be written.
    fn get(&self) -> &BTreeMap<String, LiveState> {
        self.states.get_or_init(|| {
            live::load_live(self.sql).unwrap_or_else(|e| {
                console_error!("live states unreadable, membership reads false: {e:?}");
                BTreeMap::new()
            })
        })
    }

    /// The person's membership at `t` (empty without a live set: `segments.<id>` reads
    /// `null`), reading the stored states only now.
    fn membership(
        &self,
        set: Option<&LiveSet>,
        traits: Option<&TraitMap>,
        t: i64,
    ) -> Map<String, Value> {
        set.map(|s| s.membership(self.get(), traits, t))
            .unwrap_or_default()
    }
}

impl UserState {
    /// Applies a delivery: the fresh events to the stateful rules and journeys, the API entry,
    /// due timers; returns the in-app messages to show (and what the entry came to).
    pub(super) async fn events(&self, mut d: Delivery) -> Result<Answer, ApiError> {
        let index = rule_set::at_version(&self.env, d.version).await?;
        let journeys = if d.journeys == 0 {
            journey_set::current(&self.env).await?
        } else {
            journey_set::at_version(&self.env, d.journeys).await?
        };
        let at = now_ms();
        // The live segments, only when some rule the events meet, or some journey, reads
        // `segments.<id>` (an unavailable set is logged, and membership reads `null`). This is
        // an isolate-cached read; the person's stored states are read later, only if asked.
        let live_set =
            if journeys.reads_segments() || d.events.iter().any(|e| index.needs_segments(e)) {
                live_segments::current(&self.env)
                    .await
                    .map_err(|e| console_error!("live segments unavailable for conditions: {e:?}"))
                    .ok()
            } else {
                None
            };
        let segment_traits = live_set.as_ref().is_some_and(|s| s.reads_traits());
        // Loaded before the synchronous stretch (an await), and only when some condition the
        // events meet reads `traits.*` (or a live segment they read does).
        let profile = match d.profile.take() {
            Some(p) => Some(p),
            None => {
                let wanted = d.events.iter().find(|e| {
                    e.user_id.is_some()
                        && (index.needs_profile(e)
                            || journeys.needs_profile(e)
                            || (segment_traits
                                && (index.needs_segments(e) || journeys.reads_segments())))
                });
                match wanted.and_then(|e| e.user_id.as_deref()) {
                    Some(id) => profiles::one(&self.env, id).await.unwrap_or_else(|e| {
                        console_error!("profile unavailable for conditions: {e:?}");
                        None
                    }),
                    None => None,
                }
            }
        };
        // Checked after the awaits above, so a hand-over that ran meanwhile is seen. A person
        // merged into another: what still arrives here (in-flight events, other
        // tabs) goes on to the identified person's object, minus what was applied here before.
        if let Some(into) = get_meta(&self.sql(), MERGED_INTO)? {
            if d.hops < MAX_MERGE_HOPS {
                let sql = self.sql();
                let mut fresh = Vec::with_capacity(d.events.len());
                for e in std::mem::take(&mut d.events) {
                    if !seen::APPLIED.contains(&sql, &e.message_id)? {
                        fresh.push(e);
                    }
                }
                d.events = fresh;
                d.user = into;
                d.hops += 1;
                d.profile = profile;
                return deliver(&self.env, &d).await;
            }
            console_warn!(
                "merge chain longer than {MAX_MERGE_HOPS}: events kept at {}",
                d.user
            );
        }
        // Read, transition, write: synchronous, so no other request interleaves.
        let sql = self.sql();
        set_meta(&sql, "user", &d.user)?;
        let before = load(&sql)?;
        let mut states = before.clone();
        let mut firings = Vec::new();
        let mut fresh = Vec::new();
        // Membership as the upkeep last observed it: rules ask at the event's time, journeys
        // at each step's time, both from the same stored states, read on the first ask.
        let stored = StoredLive::new(&sql);
        let membership = |t: i64| stored.membership(live_set.as_deref(), profile.as_ref(), t);
        let rule_facts = Facts {
            profile: profile.as_ref(),
            segments: live_set.is_some().then_some(&membership as Membership<'_>),
        };
        seen::APPLIED.sweep(&sql, at)?;
        for e in &d.events {
            if seen::APPLIED.record(&sql, &e.message_id, at)? {
                firings.extend(index.apply_event(&mut states, e, rule_facts, at));
                fresh.push(e);
            }
        }
        // Deadlines that passed without an alarm yet (each event already advanced to its time).
        firings.extend(index.apply_time(&mut states, at));
        save(&sql, &before, &states)?;
        let people_before = person_journeys::load(&sql)?;
        let mut person = people_before.clone();
        let journey_facts = Facts {
            profile: profile.as_ref(),
            segments: journeys
                .reads_segments()
                .then_some(&membership as Membership<'_>),
        };
        let (jout, entered) = person_journeys::step(
            &journeys,
            &mut person,
            &d.user,
            &fresh,
            d.enter.as_ref(),
            journey_facts,
            at,
        );
        person_journeys::save(&sql, &people_before, &person)?;
        let picked = if d.respond {
            take_outbox(&sql, at)?
        } else {
            Vec::new()
        };
        let alarm = earliest(next_deadline(&states), person.next_wake());
        let mut answer = self
            .dispatch(&index, firings, &d.user, "state", d.respond)
            .await?;
        let shown = self
            .dispatch_journeys(jout, &d.user, "state", d.respond)
            .await?;
        self.schedule(alarm, at).await?;
        answer.messages.splice(0..0, picked);
        answer.messages.extend(shown);
        answer.entered = entered;
        Ok(answer)
    }

    /// The alarm: due rule deadlines and journey wake-ups, then the live segments' tick.
    pub(super) async fn ring(&self) -> Result<(), ApiError> {
        let index = rule_set::current(&self.env).await?;
        let journeys = journey_set::current(&self.env).await?;
        // Membership for journeys that read it: the live set and the profile its segments
        // read, loaded before the synchronous stretch (an unavailable set reads `null`).
        let user = get_meta(&self.sql(), "user")?.unwrap_or_default();
        let (live_set, live_traits) = if journeys.reads_segments() {
            match live_segments::current(&self.env).await {
                Ok(set) => {
                    let traits = self.live_traits(&set, &user).await;
                    (Some(set), traits)
                }
                Err(e) => {
                    console_error!("live segments unavailable for journeys: {e:?}");
                    (None, None)
                }
            }
        } else {
            (None, None)
        };
        let at = now_ms();
        let sql = self.sql();
        // What the alarm was due for and when it ran: how late alarms fire, apart from what
        // the actions queue and delivery add (explain shows it; the journeys bench reads it).
        if let Some(due) = get_meta(&sql, ALARM_DUE)? {
            set_meta(&sql, LAST_ALARM, &format!("{due} {at}"))?;
        }
        let before = load(&sql)?;
        let mut states = before.clone();
        let firings = index.apply_time(&mut states, at);
        save(&sql, &before, &states)?;
        let people_before = person_journeys::load(&sql)?;
        let mut person = people_before.clone();
        // The stored live states are read only if a branch taken now reads membership.
        let stored = StoredLive::new(&sql);
        let membership = |t: i64| stored.membership(live_set.as_deref(), live_traits.as_ref(), t);
        let facts = Facts {
            profile: None,
            segments: live_set.is_some().then_some(&membership as Membership<'_>),
        };
        let (jout, _) = person_journeys::step(&journeys, &mut person, &user, &[], None, facts, at);
        person_journeys::save(&sql, &people_before, &person)?;
        let alarm = earliest(next_deadline(&states), person.next_wake());
        self.dispatch(&index, firings, &user, "alarm", false)
            .await?;
        self.dispatch_journeys(jout, &user, "alarm", false).await?;
        let (changes, traits) = self.live_tick(&user, at).await?;
        self.schedule(alarm, at).await?;
        self.emit(&user, changes, traits).await
    }
}
