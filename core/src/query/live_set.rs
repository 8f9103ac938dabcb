//! The live segments in force (a versioned set) and one person's upkeep over them: observe
//! fresh events, tick at the alarm, and turn membership changes into transition events.
//!
//! Invariant: a person's states are keyed by segment id and only segments of the set keep
//! one — a segment deleted or no longer live loses its state at the next upkeep or tick; each
//! [`Change`] is numbered by its segment state's `seq`, so its transition event's `messageId`
//! (see [`transition_event`]) is the same however often the change is re-sent. Events are
//! observed in timestamp order; the caller passes each `messageId` at most once.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::live::{transition_event, LiveSegment, LiveState, Transition};
use super::segment::SavedSegment;
use crate::limits::MAX_LIVE_SEGMENTS;
use crate::Event;

/// The live segments of one version of the saved segments.
#[derive(Debug, Clone, Default)]
pub struct LiveSet {
    version: u64,
    segments: Vec<LiveSegment>,
}

/// One membership change of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The segment id.
    pub segment: String,
    /// Entered or exited.
    pub transition: Transition,
    /// The segment state's transition number.
    pub seq: u64,
    /// When it happened (ms).
    pub at: i64,
}

impl LiveSet {
    /// Compiles the saved segments marked live (the others, and any that no longer compile,
    /// are left out; the second value lists those refused, with the reason). At most
    /// [`MAX_LIVE_SEGMENTS`] are kept, the first by id: the store refuses a live save past
    /// the cap, and should more be stored anyway (an older race, a hand edit), per-person
    /// upkeep stays bounded and every isolate keeps the same ones.
    pub fn build(
        version: u64,
        saved: impl IntoIterator<Item = (String, SavedSegment)>,
    ) -> (LiveSet, Vec<(String, String)>) {
        let mut live: Vec<(String, SavedSegment)> =
            saved.into_iter().filter(|(_, s)| s.live).collect();
        live.sort_by(|a, b| a.0.cmp(&b.0));
        let mut segments = Vec::new();
        let mut skipped = Vec::new();
        for (id, s) in live {
            if segments.len() >= MAX_LIVE_SEGMENTS {
                let detail = format!("past MAX_LIVE_SEGMENTS ({MAX_LIVE_SEGMENTS}) by id");
                skipped.push((id, detail));
                continue;
            }
            match LiveSegment::compile(&id, &s) {
                Ok(seg) => segments.push(seg),
                Err(e) => skipped.push((id, e.to_string())),
            }
        }
        (LiveSet { version, segments }, skipped)
    }

    /// The saved segments' version this set was built from.
    pub const fn version(&self) -> u64 {
        self.version
    }

    /// Whether no segment is live.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The compiled segments.
    pub fn segments(&self) -> &[LiveSegment] {
        &self.segments
    }

    /// Whether some live segment can change on this event (the consumer's cheap filter).
    pub fn wants(&self, e: &Event) -> bool {
        self.segments.iter().any(|s| s.wants(e))
    }

    /// Whether some live segment reads profile traits.
    pub fn reads_traits(&self) -> bool {
        self.segments.iter().any(LiveSegment::reads_traits)
    }

    /// Whether `id` is a live segment of the set.
    pub fn contains(&self, id: &str) -> bool {
        self.segments.iter().any(|s| s.id == id)
    }

    /// The person's membership of every live segment at `now` (segment id → `true`/`false`;
    /// a segment without a state is `false`), as rule conditions read it (`segments.<id>`).
    pub fn membership(
        &self,
        states: &BTreeMap<String, LiveState>,
        traits: Option<&Map<String, Value>>,
        now: i64,
    ) -> Map<String, Value> {
        self.segments
            .iter()
            .map(|seg| {
                let member = states
                    .get(&seg.id)
                    .is_some_and(|s| seg.member(s, traits, now));
                (seg.id.clone(), Value::Bool(member))
            })
            .collect()
    }

    /// Drops the states of segments not in the set.
    fn prune(&self, states: &mut BTreeMap<String, LiveState>) {
        states.retain(|id, _| self.segments.iter().any(|s| &s.id == id));
    }

    /// Observes fresh events (any order; taken in timestamp order) at `now`; returns the
    /// changes, in order.
    pub fn observe(
        &self,
        states: &mut BTreeMap<String, LiveState>,
        events: &[&Event],
        traits: Option<&Map<String, Value>>,
        now: i64,
    ) -> Vec<Change> {
        self.prune(states);
        let mut sorted = events.to_vec();
        sorted.sort_by_key(|e| crate::instant::to_ms(e.timestamp));
        let mut changes = Vec::new();
        for e in sorted {
            for seg in self.segments.iter().filter(|s| s.wants(e)) {
                let s = states.entry(seg.id.clone()).or_default();
                if let Some(t) = seg.observe(s, e, traits, now) {
                    changes.push(change(seg, s, t, now));
                }
            }
        }
        changes
    }

    /// Re-evaluates every segment at `now` (the alarm); returns the changes.
    pub fn tick(
        &self,
        states: &mut BTreeMap<String, LiveState>,
        traits: Option<&Map<String, Value>>,
        now: i64,
    ) -> Vec<Change> {
        self.prune(states);
        let mut changes = Vec::new();
        for seg in &self.segments {
            let Some(s) = states.get_mut(&seg.id) else {
                continue;
            };
            if let Some(t) = seg.tick(s, traits, now) {
                changes.push(change(seg, s, t, now));
            }
        }
        changes
    }

    /// Unites another person's states into ours (an identity merge), segment by segment.
    pub fn merge(
        &self,
        ours: &mut BTreeMap<String, LiveState>,
        theirs: &BTreeMap<String, LiveState>,
    ) {
        for seg in &self.segments {
            if let Some(t) = theirs.get(&seg.id) {
                seg.merge(ours.entry(seg.id.clone()).or_default(), t);
            }
        }
        self.prune(ours);
    }

    /// Takes in another person's states (an identity merge, performed once per source) and
    /// re-evaluates at `now`: the union's membership changes, numbered after both sides'
    /// transitions so no transition event id is reused. A state of a segment no longer in
    /// the set is dropped.
    pub fn absorb(
        &self,
        ours: &mut BTreeMap<String, LiveState>,
        theirs: &BTreeMap<String, LiveState>,
        traits: Option<&Map<String, Value>>,
        now: i64,
    ) -> Vec<Change> {
        self.merge(ours, theirs);
        self.tick(ours, traits, now)
    }

    /// When the person's membership of some segment can next change without an event.
    pub fn next_change(&self, states: &BTreeMap<String, LiveState>, now: i64) -> Option<i64> {
        self.segments
            .iter()
            .filter_map(|seg| seg.next_change(states.get(&seg.id)?, now))
            .min()
    }
}

fn change(seg: &LiveSegment, s: &LiveState, t: Transition, now: i64) -> Change {
    Change {
        segment: seg.id.clone(),
        transition: t,
        seq: s.seq,
        at: now,
    }
}

/// The segments the person is a member of (as of the last observe/tick).
pub fn members(states: &BTreeMap<String, LiveState>) -> Vec<&str> {
    states
        .iter()
        .filter(|(_, s)| s.member)
        .map(|(id, _)| id.as_str())
        .collect()
}

/// The transition events of `person`'s changes, in order (`anonymous`: `person` is an
/// `anonymousId`, see [`transition_event`]).
pub fn events_of(person: &str, anonymous: bool, changes: &[Change]) -> Vec<Event> {
    changes
        .iter()
        .map(|c| transition_event(&c.segment, person, anonymous, c.transition, c.seq, c.at))
        .collect()
}

#[cfg(test)]
#[path = "live_set_tests.rs"]
mod tests;
