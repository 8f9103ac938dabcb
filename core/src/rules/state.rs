//! Per-user, per-rule state and its pure transitions: windows, absence deadlines, sequences, caps.
//!
//! Invariant: [`on_event`] and [`on_time`] are pure functions of (rule, state, event, now) — the
//! Durable Object, dry-run and explain all run these same functions, so what explain says is what
//! the live system does. State stays small: a window keeps at most `count − 1` hits, a sequence at
//! most its step count, a cap at most `max` firing times, an absence one pending trigger.

use crate::rules::condition::Engine;
use serde::{Deserialize, Serialize};

use super::compile::{CompiledRule, Kind};
use super::condition::Subject;
use crate::Event;

/// One event that counted toward a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// When (ms since 1970, event time).
    pub at: i64,
    /// Its `messageId`.
    pub id: String,
}

/// What one user's progress on one rule is. Empty (the default) means nothing to remember.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Window hits, sequence progress (trigger first) or the absence trigger.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hits: Vec<Hit>,
    /// Absence: when the rule fires unless cancelled (ms since 1970).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<i64>,
    /// Absence: the trigger event, sent with the firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Box<Event>>,
    /// Cap: times of recent firings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fired: Vec<i64>,
}

impl RuleState {
    /// Whether there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty() && self.deadline.is_none() && self.fired.is_empty()
    }
}

/// A rule firing (or a firing the cap suppressed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Firing {
    /// The rule's id.
    pub rule: String,
    /// When it fired: the completing event's time, or the absence deadline.
    pub at: i64,
    /// The `messageId`s that made it fire, oldest first.
    pub events: Vec<String>,
    /// The completing event (absence: the trigger), when known.
    #[serde(skip)]
    pub event: Option<Event>,
    /// The frequency cap suppressed it: no actions run.
    pub capped: bool,
}

/// The result of a transition.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// The new state.
    pub state: RuleState,
    /// Firings, in time order (capped ones included, flagged).
    pub firings: Vec<Firing>,
    /// When [`on_time`] must next run for this state (an absence deadline), if ever.
    pub deadline: Option<i64>,
}

/// The event's time for rules: its (skew-corrected) timestamp, never after `now`.
pub fn event_time(event: &Event, now: i64) -> i64 {
    let ts = i64::try_from(event.timestamp.unix_timestamp_nanos() / 1_000_000).unwrap_or(now);
    ts.min(now)
}

/// Advances the state to `now`: an absence deadline at or before `now` fires.
pub fn on_time(rule: &CompiledRule, mut state: RuleState, now: i64) -> Step {
    let mut firings = Vec::new();
    if let (Kind::Absence { .. }, Some(deadline)) = (&rule.kind, state.deadline) {
        if deadline <= now {
            let events = std::mem::take(&mut state.hits)
                .into_iter()
                .map(|h| h.id)
                .collect();
            let event = state.pending.take().map(|b| *b);
            state.deadline = None;
            firings.push(fire(rule, &mut state, deadline, events, event));
        }
    }
    let deadline = state.deadline;
    Step {
        state,
        firings,
        deadline,
    }
}

/// Applies one event (named `key`, prepared as `subject`) at `now`.
pub fn on_event(
    engine: &Engine,
    rule: &CompiledRule,
    state: RuleState,
    key: &str,
    event: &Event,
    subject: &Subject,
    now: i64,
) -> Step {
    let at = event_time(event, now);
    // A deadline that passed before this event fires first (the alarm may be late).
    let Step {
        mut state,
        mut firings,
        ..
    } = on_time(rule, state, at);
    let hit = || Hit {
        at,
        id: event.message_id.clone(),
    };
    let triggered = |s: &Subject| rule.trigger.matches(engine, key, s);
    match &rule.kind {
        Kind::Instant => {
            if triggered(subject) {
                firings.push(fire(
                    rule,
                    &mut state,
                    at,
                    vec![hit().id],
                    Some(event.clone()),
                ));
            }
        }
        Kind::Window { count, within } => {
            if triggered(subject) {
                state.hits.retain(|h| at - h.at < within.as_ms_i64());
                state.hits.push(hit());
                let need = usize::try_from(*count).unwrap_or(usize::MAX);
                if state.hits.len() >= need {
                    let ids = std::mem::take(&mut state.hits)
                        .into_iter()
                        .map(|h| h.id)
                        .collect();
                    firings.push(fire(rule, &mut state, at, ids, Some(event.clone())));
                }
            }
        }
        Kind::Absence { cancel, within } => {
            if state.deadline.is_some() && cancel.matches(engine, key, subject) {
                state.hits.clear();
                state.deadline = None;
                state.pending = None;
            }
            if triggered(subject) {
                // The latest trigger restarts the wait ("30 minutes after the last add to cart").
                state.hits = vec![hit()];
                state.deadline = Some(at.saturating_add(within.as_ms_i64()));
                state.pending = Some(Box::new(event.clone()));
            }
        }
        Kind::Sequence { steps, within } => {
            if state
                .hits
                .first()
                .is_some_and(|first| at - first.at > within.as_ms_i64())
            {
                state.hits.clear();
            }
            let next = state.hits.len().checked_sub(1).and_then(|i| steps.get(i));
            if next.is_some_and(|s| s.matches(engine, key, subject)) {
                state.hits.push(hit());
                if state.hits.len() > steps.len() {
                    let ids = std::mem::take(&mut state.hits)
                        .into_iter()
                        .map(|h| h.id)
                        .collect();
                    firings.push(fire(rule, &mut state, at, ids, Some(event.clone())));
                }
            } else if state.hits.len() <= 1 && triggered(subject) {
                // Not past the first step: the latest trigger starts the sequence over.
                state.hits = vec![hit()];
            }
        }
    }
    let deadline = state.deadline;
    Step {
        state,
        firings,
        deadline,
    }
}

/// A firing, counted against the cap (or suppressed by it).
pub(crate) fn fire(
    rule: &CompiledRule,
    state: &mut RuleState,
    at: i64,
    events: Vec<String>,
    event: Option<Event>,
) -> Firing {
    let capped = match &rule.rule.cap {
        Some(cap) => {
            state.fired.retain(|t| at - *t < cap.per.as_ms_i64());
            let full = state.fired.len() >= usize::try_from(cap.max).unwrap_or(usize::MAX);
            if !full {
                state.fired.push(at);
            }
            full
        }
        None => false,
    };
    Firing {
        rule: rule.rule.id.clone(),
        at,
        events,
        event,
        capped,
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
