//! Dry-run and explain: stored events replayed through the live transitions.
//!
//! Invariant: both use [`super::state::on_event`] / [`super::state::on_time`] — the functions the
//! Durable Object runs — so "would have fired" and "why not" describe the real behaviour. Replay
//! starts each user from empty state at the first event given.

use std::collections::{BTreeMap, HashMap};

use crate::rules::condition::Engine;
use serde::Serialize;
use time::OffsetDateTime;

use super::compile::{event_key, CompiledRule, Kind};
use super::condition::{explain as explain_condition, ConditionReport, Subject};
use super::state::{on_event, on_time, Firing, RuleState};
use crate::Event;

use crate::instant::from_ms as instant;

/// Most stored events one dry run or explain reads.
pub const MAX_REPLAY_EVENTS: u32 = 20_000;
/// Default dry-run and explain look-back.
pub const DEFAULT_LOOKBACK_MS: i64 = 7 * 86_400_000;

/// How far back explain looks: twice the rule's window (so a window that just closed shows
/// whole), at least its cap period and at least [`DEFAULT_LOOKBACK_MS`].
pub fn lookback(rule: &CompiledRule) -> i64 {
    let span = match &rule.kind {
        Kind::Window { within, .. }
        | Kind::Absence { within, .. }
        | Kind::Sequence { within, .. } => within.as_ms_i64(),
        Kind::Instant => 0,
    };
    let cap = rule.rule.cap.as_ref().map_or(0, |c| c.per.as_ms_i64());
    DEFAULT_LOOKBACK_MS.max(span.saturating_mul(2)).max(cap)
}

/// One (would-be) firing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayFiring {
    /// Whom.
    pub user: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The events that made it fire.
    pub message_ids: Vec<String>,
    /// Suppressed by the frequency cap.
    pub capped: bool,
}

impl ReplayFiring {
    fn new(user: &str, f: Firing) -> Self {
        ReplayFiring {
            user: user.to_owned(),
            at: instant(f.at),
            message_ids: f.events,
            capped: f.capped,
        }
    }
}

/// An absence deadline still open at the end of the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pending {
    /// Whom.
    pub user: String,
    /// When it would fire unless cancelled.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The result of a dry run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRun {
    /// Events read that the rule names.
    pub events: usize,
    /// Distinct users among them.
    pub users: usize,
    /// Who would have fired and when (time order).
    pub firings: Vec<ReplayFiring>,
    /// Deadlines still open at `until`.
    pub pending: Vec<Pending>,
}

/// Replays `events` (time order, any users) against `rule`, then advances every user to `until`.
pub fn dry_run<'a>(
    engine: &Engine,
    rule: &CompiledRule,
    events: impl IntoIterator<Item = &'a Event>,
    until: i64,
) -> DryRun {
    let mut states: HashMap<String, RuleState> = HashMap::new();
    let mut firings = Vec::new();
    let mut seen = 0;
    for e in events {
        let key = event_key(e);
        if !rule.event_names().any(|n| n == key || n == "*") {
            continue;
        }
        let Some(subject) = Subject::new(e) else {
            continue;
        };
        seen += 1;
        let user = e.identity().to_owned();
        let state = states.remove(&user).unwrap_or_default();
        let step = on_event(engine, rule, state, &key, e, &subject, until);
        firings.extend(
            step.firings
                .into_iter()
                .map(|f| ReplayFiring::new(&user, f)),
        );
        states.insert(user, step.state);
    }
    let users = states.len();
    let mut pending = Vec::new();
    for (user, state) in states {
        let step = on_time(rule, state, until);
        firings.extend(
            step.firings
                .into_iter()
                .map(|f| ReplayFiring::new(&user, f)),
        );
        if let Some(at) = step.deadline {
            pending.push(Pending {
                user,
                at: instant(at),
            });
        }
    }
    firings.sort_by(|a, b| (a.at, &a.user).cmp(&(b.at, &b.user)));
    pending.sort_by(|a, b| (a.at, &a.user).cmp(&(b.at, &b.user)));
    DryRun {
        events: seen,
        users,
        firings,
        pending,
    }
}

/// What one event did to the rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// Its `messageId`.
    pub message_id: String,
    /// Its name as rules see it.
    pub event: String,
    /// Its time.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Which parts of the rule name it: `trigger`, `cancel`, `step 1`, …
    pub roles: Vec<String>,
    /// How each named part's condition went (keyed like `roles`), where it has one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, ConditionReport>,
    /// What it did, in words.
    pub effect: String,
}

/// Why a rule did or did not fire for one user.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// `fired`, `capped`, `pending` or `not_fired`.
    pub verdict: &'static str,
    /// One sentence.
    pub summary: String,
    /// The rule's kind: `instant`, `window`, `absence`, `sequence`.
    pub kind: &'static str,
    /// The user's events the rule names, with what each did.
    pub events: Vec<Trace>,
    /// Firings in the replay.
    pub firings: Vec<ReplayFiring>,
    /// An open absence deadline.
    #[serde(with = "time::serde::rfc3339::option")]
    pub pending_until: Option<OffsetDateTime>,
    /// Events of this user the rule does not name, by name (spot a misspelt trigger).
    pub other_events: BTreeMap<String, usize>,
}

/// The kind's name.
pub fn kind_name(rule: &CompiledRule) -> &'static str {
    match rule.kind {
        Kind::Instant => "instant",
        Kind::Window { .. } => "window",
        Kind::Absence { .. } => "absence",
        Kind::Sequence { .. } => "sequence",
    }
}

/// Replays one user's `events` (time order) and narrates each step, advancing to `now` at the end.
pub fn explain(engine: &Engine, rule: &CompiledRule, events: &[Event], now: i64) -> Explanation {
    let mut state = RuleState::default();
    let mut traces = Vec::new();
    let mut firings = Vec::new();
    let mut others: BTreeMap<String, usize> = BTreeMap::new();
    let mut user = String::new();
    for e in events {
        let key = event_key(e).into_owned();
        let roles = roles(rule, &key);
        if roles.is_empty() {
            *others.entry(key).or_default() += 1;
            continue;
        }
        user = e.identity().to_owned();
        let Some(subject) = Subject::new(e) else {
            continue;
        };
        let value = serde_json::to_value(e).unwrap_or_default();
        let conditions = roles
            .iter()
            .filter_map(|(name, m)| {
                let c = m.condition.as_ref()?;
                Some((name.clone(), explain_condition(engine, c.source(), &value)))
            })
            .collect::<BTreeMap<_, _>>();
        let before = state.clone();
        let step = on_event(engine, rule, state, &key, e, &subject, now);
        let effect = narrate(rule, &before, &step.state, &step.firings, &conditions);
        state = step.state;
        firings.extend(
            step.firings
                .into_iter()
                .map(|f| ReplayFiring::new(&user, f)),
        );
        traces.push(Trace {
            message_id: e.message_id.clone(),
            event: key,
            timestamp: e.timestamp,
            roles: roles.into_iter().map(|(n, _)| n).collect(),
            conditions,
            effect,
        });
    }
    let end = on_time(rule, state.clone(), now);
    firings.extend(end.firings.into_iter().map(|f| ReplayFiring::new(&user, f)));
    let pending_until = end.deadline.map(instant);
    let (verdict, summary) = verdict(rule, &traces, &firings, &state, pending_until);
    Explanation {
        verdict,
        summary,
        kind: kind_name(rule),
        events: traces,
        firings,
        pending_until,
        other_events: others,
    }
}

fn roles<'r>(
    rule: &'r CompiledRule,
    key: &str,
) -> Vec<(String, &'r super::compile::CompiledMatcher)> {
    let mut out = Vec::new();
    if rule.trigger.names(key) {
        out.push(("trigger".to_owned(), &rule.trigger));
    }
    match &rule.kind {
        Kind::Absence { cancel, .. } if cancel.names(key) => {
            out.push(("cancel".to_owned(), cancel))
        }
        Kind::Sequence { steps, .. } => {
            for (i, s) in steps.iter().enumerate() {
                if s.names(key) {
                    out.push((format!("step {}", i + 1), s));
                }
            }
        }
        _ => {}
    }
    out
}

fn narrate(
    rule: &CompiledRule,
    before: &RuleState,
    after: &RuleState,
    fired: &[Firing],
    conditions: &BTreeMap<String, ConditionReport>,
) -> String {
    let mut parts: Vec<String> = fired
        .iter()
        .map(|f| match (&rule.rule.cap, f.capped) {
            (Some(cap), true) => format!(
                "would fire, but the cap ({} per {}) was reached",
                cap.max, cap.per
            ),
            _ => "fired".to_owned(),
        })
        .collect();
    let failed: Vec<&str> = conditions
        .iter()
        .filter(|(_, r)| !r.passed)
        .map(|(n, _)| n.as_str())
        .collect();
    match &rule.kind {
        Kind::Window { count, within }
            if fired.is_empty() && after.hits.len() > before.hits.len() =>
        {
            parts.push(format!(
                "counted: {} of {count} within {within}",
                after.hits.len()
            ));
        }
        Kind::Absence { within, .. } => match (before.deadline, after.deadline) {
            (None, Some(d)) => parts.push(format!(
                "started: fires at {} unless a cancelling event arrives (within {within})",
                rfc(d)
            )),
            (Some(a), Some(b)) if a != b => {
                parts.push(format!("restarted the wait: now fires at {}", rfc(b)))
            }
            (Some(_), None) if fired.is_empty() => {
                parts.push("cancelled the pending firing".to_owned())
            }
            _ => {}
        },
        Kind::Sequence { steps, .. } if fired.is_empty() => {
            let (b, a) = (before.hits.len(), after.hits.len());
            if a > b && a > 1 {
                parts.push(format!("step {} of {} done", a - 1, steps.len()));
            } else if a == 1 && (b != 1 || before.hits != after.hits) {
                parts.push(format!("sequence started ({} steps to go)", steps.len()));
            } else if a < b {
                parts.push("sequence expired and started over".to_owned());
            }
        }
        _ => {}
    }
    if parts.is_empty() {
        if failed.is_empty() {
            parts.push("no effect (not the step the rule was waiting for)".to_owned());
        } else {
            parts.push(format!(
                "no effect: the {} condition failed",
                failed.join(" and ")
            ));
        }
    }
    parts.join("; ")
}

fn rfc(ms: i64) -> String {
    instant(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn verdict(
    rule: &CompiledRule,
    traces: &[Trace],
    firings: &[ReplayFiring],
    state: &RuleState,
    pending: Option<OffsetDateTime>,
) -> (&'static str, String) {
    let live = firings.iter().filter(|f| !f.capped).count();
    if let Some(last) = firings.iter().rev().find(|f| !f.capped) {
        return (
            "fired",
            format!("fired {live} time(s); last at {}", last.at),
        );
    }
    if !firings.is_empty() {
        return (
            "capped",
            format!(
                "would have fired {} time(s) but the frequency cap suppressed every one",
                firings.len()
            ),
        );
    }
    if let Some(at) = pending {
        return (
            "pending",
            format!("waiting: fires at {at} unless a cancelling event arrives"),
        );
    }
    let names = rule.trigger.events.join(", ");
    let triggers: Vec<&Trace> = traces
        .iter()
        .filter(|t| t.roles.iter().any(|r| r == "trigger"))
        .collect();
    if triggers.is_empty() {
        return (
            "not_fired",
            format!("no trigger event ({names}) from this user in the events read"),
        );
    }
    let passed = triggers
        .iter()
        .filter(|t| t.conditions.get("trigger").is_none_or(|c| c.passed))
        .count();
    if passed == 0 {
        return ("not_fired", format!("{} trigger event(s), but the trigger condition failed on each (see events[].conditions)", triggers.len()));
    }
    let why = match &rule.kind {
        Kind::Window { count, within } => format!("{passed} matching trigger(s), but never {count} within {within} (now {} in the window)", state.hits.len()),
        Kind::Absence { .. } => format!("{passed} matching trigger(s), each cancelled in time"),
        Kind::Sequence { steps, .. } => format!("{passed} matching trigger(s), but the sequence never completed its {} step(s) in time", steps.len()),
        Kind::Instant => "the trigger matched, yet nothing fired".to_owned(),
    };
    ("not_fired", why)
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
