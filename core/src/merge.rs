//! Identity merge: what an anonymous person's state becomes inside the identified person's
//! Durable Object once `identify` (anonymousId + userId) or `alias` (previousId → userId)
//! says they are one person.
//!
//! Invariant: every merge is a pure function of (into, from, now) that is idempotent —
//! merging the same `from` again changes nothing (window hits and pending messages are united
//! by id, caps by firing time, sequences and absences take one side whole), so a redelivered
//! merge can never double count; and nothing is lost silently: what a merge drops (a run in a
//! journey the person is already in, messages past the bound) is counted in [`Dropped`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::frequency::Tally;
use crate::journeys::PersonJourneys;
use crate::limits::{MAX_ID_CHARS, MAX_PENDING_MESSAGES};
use crate::query::live::LiveState;
use crate::rules::compile::{CompiledRule, Kind};
use crate::rules::state::{fire, Hit};
use crate::rules::{Firing, InAppMessage, RuleIndex, RuleState};
use crate::{Event, MessageType};

/// One merge to perform: `from`'s state goes to `into`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The anonymous (or previous) id whose object hands over.
    pub from: String,
    /// The identified person's id.
    pub into: String,
}

/// The merge an event asks for, if any: `identify` carrying both ids, or `alias` with a
/// `previousId`. Ids that are equal, empty or longer than [`MAX_ID_CHARS`] ask for none.
pub fn link_of(event: &Event) -> Option<Link> {
    let into = event.user_id.as_deref()?;
    let from = match event.kind {
        MessageType::Identify => event.anonymous_id.as_deref()?,
        MessageType::Alias => event.previous_id.as_deref()?,
        _ => return None,
    };
    let ok = |s: &str| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS;
    (ok(from) && ok(into) && from != into).then(|| Link {
        from: from.to_owned(),
        into: into.to_owned(),
    })
}

/// The distinct merges a request's events ask for, in order of first appearance.
pub fn links(events: &[Event]) -> Vec<Link> {
    let mut seen = BTreeSet::new();
    events
        .iter()
        .filter_map(link_of)
        .filter(|l| seen.insert((l.from.clone(), l.into.clone())))
        .collect()
}

/// An in-app message waiting in a person's object for pickup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The message.
    pub message: InAppMessage,
    /// When it was parked (ms since 1970).
    pub at: i64,
}

/// Everything an anonymous person's object hands over, once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    /// The id that handed over (the import's idempotency key).
    pub from: String,
    /// Rule states by rule id.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleState>,
    /// Journey runs, history and traits.
    #[serde(default)]
    pub journeys: PersonJourneys,
    /// In-app messages waiting for pickup.
    #[serde(default)]
    pub outbox: Vec<Pending>,
    /// Messages sent today under the frequency cap ([`Tally::absorb`] merges it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<Tally>,
    /// Live segment states by segment id ([`crate::query::live_set::LiveSet::absorb`] merges
    /// them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub live: BTreeMap<String, LiveState>,
    /// The `messageId`s the live upkeep observed (the newest
    /// [`crate::limits::MAX_HANDOVER_SEEN`]): the
    /// identified person's live de-duplication takes them in, so an event counted in `live`
    /// and delivered again (forwarded from the anonymous object) is not counted twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub live_seen: Vec<String>,
}

/// What a merge had to leave behind (logged and counted by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// Runs of journeys the identified person already had an active run in.
    pub runs: usize,
    /// Pending messages past [`MAX_PENDING_MESSAGES`].
    pub messages: usize,
    /// Rule states of rules no longer live.
    pub rules: usize,
}

/// Merges `from`'s rule states into `into` at `now`; returns the firings the union completes
/// (a window whose hits now reach its count). Per kind: window hits are united by `messageId`
/// and kept within the window of the latest hit; a sequence keeps the further progress (ties:
/// `into`'s); an absence keeps the later trigger (with its deadline); cap firing times are
/// united and the latest `max` kept. States of rules not in `index` are dropped.
pub fn merge_rules(
    index: &RuleIndex,
    into: &mut BTreeMap<String, RuleState>,
    from: BTreeMap<String, RuleState>,
    now: i64,
    dropped: &mut Dropped,
) -> Vec<Firing> {
    let mut firings = Vec::new();
    for (id, theirs) in from {
        let Some(rule) = index.get(&id) else {
            dropped.rules += 1;
            continue;
        };
        let ours = into.remove(&id).unwrap_or_default();
        let (state, fired) = merge_rule(rule, ours, theirs, now);
        firings.extend(fired);
        if !state.is_empty() {
            into.insert(id, state);
        }
    }
    firings
}

/// Merges one rule's two states (see [`merge_rules`]).
pub fn merge_rule(
    rule: &CompiledRule,
    ours: RuleState,
    theirs: RuleState,
    now: i64,
) -> (RuleState, Vec<Firing>) {
    let mut state = RuleState {
        fired: merge_fired(rule, &ours.fired, &theirs.fired),
        ..RuleState::default()
    };
    let mut firings = Vec::new();
    match &rule.kind {
        Kind::Instant => {}
        Kind::Window { count, within } => {
            let mut hits = unite(ours.hits, theirs.hits);
            if let Some(latest) = hits.last().map(|h| h.at) {
                hits.retain(|h| latest - h.at < within.as_ms_i64());
            }
            let need = usize::try_from(*count).unwrap_or(usize::MAX);
            if hits.len() >= need {
                let at = hits.last().map_or(now, |h| h.at);
                let ids = hits.into_iter().map(|h| h.id).collect();
                firings.push(fire(rule, &mut state, at, ids, None));
            } else {
                state.hits = hits;
            }
        }
        Kind::Sequence { .. } => {
            let pick = if theirs.hits.len() > ours.hits.len() {
                theirs
            } else {
                ours
            };
            state.hits = pick.hits;
        }
        Kind::Absence { .. } => {
            let started = |s: &RuleState| s.deadline.and(s.hits.first().map(|h| h.at));
            let pick = if started(&theirs) > started(&ours) {
                theirs
            } else {
                ours
            };
            state.hits = pick.hits;
            state.deadline = pick.deadline;
            state.pending = pick.pending;
        }
    }
    (state, firings)
}

/// Hits of both sides, each `messageId` once, oldest first.
fn unite(ours: Vec<Hit>, theirs: Vec<Hit>) -> Vec<Hit> {
    let mut seen = BTreeSet::new();
    let mut all: Vec<Hit> = ours
        .into_iter()
        .chain(theirs)
        .filter(|h| seen.insert(h.id.clone()))
        .collect();
    all.sort_by_key(|h| h.at);
    all
}

/// Firing times of both sides (each time once), the latest `cap.max` kept.
fn merge_fired(rule: &CompiledRule, ours: &[i64], theirs: &[i64]) -> Vec<i64> {
    let all: BTreeSet<i64> = ours.iter().chain(theirs).copied().collect();
    let keep = rule
        .rule
        .cap
        .as_ref()
        .map_or(0, |c| usize::try_from(c.max).unwrap_or(usize::MAX));
    let skip = all.len().saturating_sub(keep);
    all.into_iter().skip(skip).collect()
}

/// Unites two outboxes by message id (`into`'s copy kept), oldest first, keeping the newest
/// [`MAX_PENDING_MESSAGES`]; messages are re-addressed to `user`.
pub fn merge_outbox(
    into: Vec<Pending>,
    from: Vec<Pending>,
    user: &str,
    dropped: &mut Dropped,
) -> Vec<Pending> {
    let mut seen = BTreeSet::new();
    let mut all: Vec<Pending> = into
        .into_iter()
        .chain(from)
        .filter(|p| seen.insert(p.message.id.clone()))
        .map(|mut p| {
            user.clone_into(&mut p.message.user);
            p
        })
        .collect();
    all.sort_by_key(|p| p.at);
    let extra = all.len().saturating_sub(MAX_PENDING_MESSAGES);
    dropped.messages += extra;
    all.drain(..extra);
    all
}

/// Merges `from`'s journeys into `into`: a journey `into` has an active run in keeps `into`'s
/// runs (`from`'s are dropped — the person is already in it); otherwise `from`'s active runs
/// move, renumbered after `into`'s entries so idempotency keys stay unique, waits and wake-ups
/// unchanged. A journey only `from` knows moves whole, history included. Traits: `into`'s win,
/// `from`'s fill gaps.
pub fn merge_journeys(into: &mut PersonJourneys, from: PersonJourneys, dropped: &mut Dropped) {
    for (k, v) in from.traits {
        into.traits.entry(k).or_insert(v);
    }
    let mut from_history = from.history;
    for (id, runs) in from.runs {
        if !into.active(&id).is_empty() {
            dropped.runs += runs.len();
            continue;
        }
        let theirs = from_history.remove(&id);
        match into.history.get_mut(&id) {
            None => {
                let h = theirs.unwrap_or_default();
                let entries = runs.iter().map(|r| r.seq + 1).max().unwrap_or(0);
                let h = crate::journeys::History {
                    entries: h.entries.max(entries),
                    ..h
                };
                into.history.insert(id.clone(), h);
                into.runs.insert(id, runs);
            }
            Some(h) => {
                let mut moved = Vec::with_capacity(runs.len());
                for mut run in runs {
                    run.seq = h.entries;
                    h.entries += 1;
                    h.last_entered = h.last_entered.max(Some(run.entered_at));
                    moved.push(run);
                }
                if !moved.is_empty() {
                    into.runs.insert(id, moved);
                }
            }
        }
    }
    for (id, h) in from_history {
        into.history.entry(id).or_insert(h);
    }
}

/// Merges a whole handover into a person's state at `now` (see the functions above); returns
/// the rule firings the union completes and what was dropped.
pub fn merge(
    index: &RuleIndex,
    user: &str,
    rules: &mut BTreeMap<String, RuleState>,
    journeys: &mut PersonJourneys,
    outbox: Vec<Pending>,
    from: Handover,
    now: i64,
) -> (Vec<Pending>, Vec<Firing>, Dropped) {
    let mut dropped = Dropped::default();
    let firings = merge_rules(index, rules, from.rules, now, &mut dropped);
    merge_journeys(journeys, from.journeys, &mut dropped);
    let outbox = merge_outbox(outbox, from.outbox, user, &mut dropped);
    (outbox, firings, dropped)
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
