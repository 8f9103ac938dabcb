//! The pure transitions: (person state, input = event | time | API entry, now) → new state,
//! effects with idempotency keys, ticks for stats; the next wake-up is
//! [`PersonJourneys::next_wake`].
//!
//! Invariant: every function here is a pure function of its arguments (no clock, no
//! randomness: splits and holdouts hash the person, journey and node), so the Durable Object,
//! tests with a simulated clock and explain all agree. Time inside a run is logical: a node
//! woken by a timer runs at its due time, not at the (possibly late) moment the alarm rang, so
//! a late alarm never shifts later steps.

use serde_json::{json, Map, Value};

use super::compile::{CompiledJourney, CompiledNode};
use super::hash::percentile;
use super::index::JourneyIndex;
use super::model::{EntryPolicy, JourneyAction};
use super::reads::reads;
use super::state::{Effect, Ended, Output, PersonJourneys, Run, Tick};
use super::window::{next_open, plausible_zone};
use crate::limits::JOURNEY_CLOCK_SKEW_MS;
use crate::rules::condition::{Subject, SEGMENTS_ROOT};
use crate::rules::event_key;
use crate::rules::facts::{Facts, Membership};
use crate::rules::state::event_time;
use crate::Event;

/// Why an entry was refused (stable codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No published journey has that id.
    UnknownJourney,
    /// The journey is disabled.
    Disabled,
    /// The person has as many active runs of it as `entry.maxActive` allows (default 1).
    AlreadyActive,
    /// Policy `once` and the person entered before.
    AlreadyEntered,
    /// Policy `interval` and the interval since the last entry has not passed.
    TooSoon,
}

impl Refusal {
    /// The stable code.
    pub const fn code(self) -> &'static str {
        match self {
            Refusal::UnknownJourney => "unknown_journey",
            Refusal::Disabled => "journey_disabled",
            Refusal::AlreadyActive => "already_active",
            Refusal::AlreadyEntered => "already_entered",
            Refusal::TooSoon => "entry_too_soon",
        }
    }
}

/// Enters `user` into journey `id` (an API call or a matching trigger event); branch
/// conditions read the person's membership (`facts.segments`) at the time each branch is taken.
#[allow(clippy::too_many_arguments)]
pub fn enter(
    index: &JourneyIndex,
    person: &mut PersonJourneys,
    user: &str,
    id: &str,
    trigger: Value,
    vars: Value,
    facts: Facts<'_>,
    now: i64,
) -> Result<Output, Refusal> {
    let j = index.get(id).ok_or(Refusal::UnknownJourney)?;
    if !j.journey.enabled {
        return Err(Refusal::Disabled);
    }
    if person.active(id).len() >= j.journey.entry.max_active() {
        return Err(Refusal::AlreadyActive);
    }
    let history = person.history.entry(id.to_owned()).or_default();
    match (j.journey.entry.policy, history.last_entered) {
        (EntryPolicy::Once, Some(_)) => return Err(Refusal::AlreadyEntered),
        (EntryPolicy::Interval, Some(last)) => {
            let gap = j.journey.entry.interval.map_or(0, |d| d.as_ms_i64());
            if now < last.saturating_add(gap) {
                return Err(Refusal::TooSoon);
            }
        }
        _ => {}
    }
    let seq = history.entries;
    history.entries = seq.saturating_add(1);
    history.last_entered = Some(now);
    let holdout = percentile(user, id, "$holdout") < j.journey.holdout;
    let mut run = Run {
        seq,
        revision: j.revision,
        node: j.node_id(j.start).to_owned(),
        entered_at: now,
        wake_at: None,
        holdout,
        trigger,
        event: None,
        vars,
        converted_at: None,
        done: Vec::new(),
        path: Vec::new(),
        ended: None,
    };
    let mut out = Output::default();
    out.ticks.push(tick(id, "", "entered", holdout));
    let mut cx = Cx {
        index,
        user,
        segments: facts.segments,
        out: &mut out,
    };
    advance(j, &mut cx, person, &mut run, j.start, now);
    person.settle(id, run);
    Ok(out)
}

/// Applies one event: due timers up to its time, traits, goals, waits, then triggers. Event
/// matchers (trigger, waits, goal) see the person's stored profile (`facts.profile`) beneath
/// the event's own traits (the event's keys win) and their membership at the event's time;
/// branches see membership at the time they are taken.
pub fn on_event(
    index: &JourneyIndex,
    person: &mut PersonJourneys,
    user: &str,
    event: &Event,
    facts: Facts<'_>,
    now: i64,
) -> Output {
    let segments = facts.segments;
    let t = event_time(event, now);
    let mut out = on_time(index, person, user, facts, t);
    let key = event_key(event);
    if key == "$identify" {
        merge(&mut person.traits, &event.traits);
    }
    let candidates = index.candidates(&key);
    if candidates.is_empty() {
        return out;
    }
    let Some(mut subject) = Subject::new(event) else {
        return out;
    };
    if let Some(p) = facts.profile {
        subject = subject.with_profile(p);
    }
    // Membership at the event's time, worked out only when a journey it meets reads some.
    if let Some(m) = segments.filter(|_| candidates.iter().any(|j| j.reads_segments())) {
        subject = subject.with_segments(m(t));
    }
    let value = serde_json::to_value(event).unwrap_or(Value::Null);
    let engine = index.engine();
    for j in &candidates {
        let id = j.id();
        // Each active run of the journey sees the event on its own (one per order, say).
        for run in person.runs.remove(id).unwrap_or_default() {
            let mut cx = Cx {
                index,
                user,
                segments,
                out: &mut out,
            };
            on_run_event(j, &mut cx, person, run, &key, &subject, &value, t);
        }
    }
    for j in candidates {
        let hit = j
            .trigger
            .as_ref()
            .is_some_and(|m| m.matches(engine, &key, &subject));
        if hit {
            let trigger = value.clone();
            if let Ok(o) = enter(index, person, user, j.id(), trigger, Value::Null, facts, t) {
                out.effects.extend(o.effects);
                out.ticks.extend(o.ticks);
            }
        }
    }
    out
}

/// What the transitions of one input share: the journeys, the person's id and membership, and
/// the output they add to.
struct Cx<'a, 'o> {
    index: &'a JourneyIndex,
    user: &'a str,
    segments: Option<Membership<'a>>,
    out: &'o mut Output,
}

/// One active run of `j` meets an event at time `t`: revision, goal, then a waiting node.
#[allow(clippy::too_many_arguments)]
fn on_run_event(
    j: &CompiledJourney,
    cx: &mut Cx<'_, '_>,
    person: &mut PersonJourneys,
    mut run: Run,
    key: &str,
    subject: &Subject,
    value: &Value,
    t: i64,
) {
    let id = j.id();
    let engine = cx.index.engine();
    let out = &mut *cx.out;
    if !follow_revision(j, &mut run, t) {
        out.ticks.push(tick(id, &run.node, "exited", run.holdout));
        person.settle(id, run);
        return;
    }
    if let (Some(goal), Some(g)) = (&j.goal, &j.journey.goal) {
        let in_window = t >= run.entered_at - JOURNEY_CLOCK_SKEW_MS
            && t <= run.entered_at + g.within.as_ms_i64();
        if run.converted_at.is_none() && in_window && goal.matches(engine, key, subject) {
            run.converted_at = Some(t);
            out.ticks.push(tick(id, "", "converted", run.holdout));
            if g.exit_on_goal {
                let node = run.node.clone();
                run.step(&node, t, "goal", None);
                end(&mut run, t, "goal", out, id);
                person.settle(id, run);
                return;
            }
        }
    }
    let woken = match j.ids.get(&run.node).and_then(|i| j.nodes.get(*i)) {
        Some(CompiledNode::WaitUntil {
            matcher,
            matches,
            next,
            ..
        }) => {
            let since = run.path.last().map_or(run.entered_at, |s| s.at);
            let same = matches
                .as_ref()
                .is_none_or(|p| same_value(&run.trigger, value, p));
            let recent = t >= since - JOURNEY_CLOCK_SKEW_MS;
            (recent && same && matcher.matches(engine, key, subject))
                .then_some((*next, t.max(since)))
        }
        _ => None,
    };
    // The path stays in time order even when the event's corrected time is a little
    // before the wait began.
    if let Some((next, t)) = woken {
        run.wake_at = None;
        run.event = Some(value.clone());
        let node = run.node.clone();
        run.step(&node, t, "event", None);
        advance(j, cx, person, &mut run, next, t);
    }
    person.settle(id, run);
}

/// Wakes every run whose time has come (each at its own due time), and ends runs whose
/// journey is no longer published; branches read the person's membership (`facts.segments`)
/// at the time they are taken (a woken run's due time).
pub fn on_time(
    index: &JourneyIndex,
    person: &mut PersonJourneys,
    user: &str,
    facts: Facts<'_>,
    now: i64,
) -> Output {
    let segments = facts.segments;
    let mut out = Output::default();
    // Repeat until no run is due: one wake-up may lead to a later wait that is also due.
    loop {
        let removed: Option<String> = person
            .runs
            .keys()
            .find(|id| index.get(id).is_none())
            .cloned();
        if let Some(id) = removed {
            for mut run in person.runs.remove(&id).unwrap_or_default() {
                end(&mut run, now, "journey_removed", &mut out, &id);
                person.settle(&id, run);
            }
            continue;
        }
        // A run whose node a new revision removed (or turned into a non-waiting node) exits
        // now, not only when its own timer or event comes.
        let lost: Option<(String, usize)> = person.runs.iter().find_map(|(id, runs)| {
            let j = index.get(id)?;
            let k = runs.iter().position(|r| stranded(j, r).is_some())?;
            Some((id.clone(), k))
        });
        if let Some((id, k)) = lost {
            if let (Some(j), Some(mut run)) = (index.get(&id), person.take(&id, k)) {
                follow_revision(j, &mut run, now);
                out.ticks.push(tick(&id, &run.node, "exited", run.holdout));
                person.settle(&id, run);
            }
            continue;
        }
        // The earliest due run first (ties: journey id, then entry order).
        let due: Option<(String, usize, i64)> = person
            .runs
            .iter()
            .flat_map(|(id, runs)| {
                runs.iter()
                    .enumerate()
                    .filter_map(move |(k, r)| Some((id, k, r.wake_at?)))
            })
            .filter(|(_, _, w)| *w <= now)
            .min_by_key(|(_, _, w)| *w)
            .map(|(id, k, w)| (id.clone(), k, w));
        let Some((id, k, at)) = due else {
            break;
        };
        let (Some(j), Some(mut run)) = (index.get(&id), person.take(&id, k)) else {
            break;
        };
        run.wake_at = None;
        if !follow_revision(j, &mut run, at) {
            out.ticks.push(tick(&id, &run.node, "exited", run.holdout));
            person.settle(&id, run);
            continue;
        }
        let next = match j.ids.get(&run.node).and_then(|i| j.nodes.get(*i)) {
            Some(CompiledNode::Delay { next, .. }) => Some((*next, "waited")),
            Some(CompiledNode::TimeWindow { next, .. }) => Some((*next, "window_open")),
            Some(CompiledNode::WaitUntil { on_timeout, .. }) => Some((*on_timeout, "timeout")),
            _ => None,
        };
        match next {
            Some((next, outcome)) => {
                let node = run.node.clone();
                run.step(&node, at, outcome, None);
                let mut cx = Cx {
                    index,
                    user,
                    segments,
                    out: &mut out,
                };
                advance(j, &mut cx, person, &mut run, next, at);
            }
            None => end(&mut run, at, "node_changed", &mut out, &id),
        }
        person.settle(&id, run);
    }
    out
}

/// Why a run cannot follow its node id into the live revision (`None`: it can).
fn stranded(j: &CompiledJourney, run: &Run) -> Option<&'static str> {
    if run.revision == j.revision {
        return None;
    }
    match j.ids.get(&run.node).and_then(|i| j.nodes.get(*i)) {
        None => Some("node_removed"),
        Some(
            CompiledNode::Delay { .. }
            | CompiledNode::WaitUntil { .. }
            | CompiledNode::TimeWindow { .. },
        ) => None,
        Some(_) => Some("node_changed"),
    }
}

/// Moves a run to the live revision, following its node id. False when it had to end.
fn follow_revision(j: &CompiledJourney, run: &mut Run, at: i64) -> bool {
    if let Some(reason) = stranded(j, run) {
        run.wake_at = None;
        run.ended = Some(Ended {
            at,
            reason: reason.into(),
        });
        return false;
    }
    run.revision = j.revision;
    true
}

fn tick(journey: &str, node: &str, what: &'static str, holdout: bool) -> Tick {
    Tick {
        journey: journey.to_owned(),
        node: node.to_owned(),
        what,
        holdout,
    }
}

fn end(run: &mut Run, at: i64, reason: &str, out: &mut Output, journey: &str) {
    run.wake_at = None;
    run.ended = Some(Ended {
        at,
        reason: reason.to_owned(),
    });
    out.ticks
        .push(tick(journey, &run.node, "exited", run.holdout));
}

/// Whether both documents hold the same (present, non-null) value at `path`.
fn same_value(a: &Value, b: &Value, path: &[String]) -> bool {
    fn get<'v>(mut v: &'v Value, path: &[String]) -> Option<&'v Value> {
        for seg in path {
            v = v.get(seg)?;
        }
        Some(v)
    }
    match (get(a, path), get(b, path)) {
        (Some(x), Some(y)) => !x.is_null() && x == y,
        _ => false,
    }
}

/// Runs nodes from `from` until the run waits or ends.
fn advance(
    j: &CompiledJourney,
    cx: &mut Cx<'_, '_>,
    person: &mut PersonJourneys,
    run: &mut Run,
    from: usize,
    at: i64,
) {
    let (index, user) = (cx.index, cx.user);
    let out = &mut *cx.out;
    let id = j.id();
    let mut i = from;
    // The graph is acyclic, so at most one pass over the nodes; the bound is belt and braces.
    for _ in 0..=j.nodes.len() {
        let node_id = j.node_id(i).to_owned();
        run.node.clone_from(&node_id);
        if run.done.contains(&node_id) {
            end(run, at, "revisited", out, id);
            return;
        }
        run.done.push(node_id.clone());
        out.ticks.push(tick(id, &node_id, "visited", run.holdout));
        let Some(node) = j.nodes.get(i) else {
            end(run, at, "node_removed", out, id);
            return;
        };
        i = match node {
            CompiledNode::Delay { wait, .. } => {
                run.wake_at = Some(at.saturating_add(wait.as_ms_i64()));
                run.step(&node_id, at, "waiting", None);
                return;
            }
            CompiledNode::WaitUntil { timeout, .. } => {
                run.wake_at = Some(at.saturating_add(timeout.as_ms_i64()));
                run.step(&node_id, at, "waiting", None);
                return;
            }
            CompiledNode::TimeWindow { window, zone, next } => {
                let zone = zone.clone().unwrap_or_else(|| person_zone(run));
                let zones = index.zones();
                let known = zones.offset_ms(&zone, at).is_some();
                let read = Some(json!({ "timezone": zone, "known": known }));
                let open = next_open(window, zones, &zone, at);
                if open <= at {
                    run.step(&node_id, at, "in_window", read);
                    *next
                } else {
                    run.wake_at = Some(open);
                    run.step(&node_id, at, "waiting", read);
                    return;
                }
            }
            CompiledNode::Branch { arms, otherwise } => {
                let mut context = json!({
                    "trigger": run.trigger,
                    "event": run.event.as_ref().unwrap_or(&run.trigger),
                    "traits": Value::Object(person.traits.clone()),
                    "vars": run.vars,
                });
                // Membership when the branch is taken, only for a journey that reads it.
                if let (Some(m), Value::Object(c)) =
                    (cx.segments.filter(|_| j.reads_segments()), &mut context)
                {
                    c.insert(SEGMENTS_ROOT.to_owned(), Value::Object(m(at)));
                }
                let subject = Subject::from_value(&context);
                let hit = arms
                    .iter()
                    .position(|(c, _)| subject.as_ref().is_some_and(|s| c.eval(index.engine(), s)));
                let read = reads(&context, arms.iter().map(|(c, _)| c.source()));
                match hit.and_then(|k| arms.get(k).map(|a| (k, a.1))) {
                    Some((k, next)) => {
                        run.step(&node_id, at, format!("branch:{k}"), Some(read));
                        next
                    }
                    None => {
                        run.step(&node_id, at, "else", Some(read));
                        *otherwise
                    }
                }
            }
            CompiledNode::Split { paths } => {
                let p = percentile(user, id, &node_id);
                let k = paths.iter().position(|(upto, _)| p < *upto).unwrap_or(0);
                run.step(&node_id, at, format!("split:{k}"), None);
                paths.get(k).map_or(0, |(_, n)| *n)
            }
            CompiledNode::Action { action, next } => {
                if run.holdout {
                    run.step(&node_id, at, "held_out", None);
                } else {
                    run.step(&node_id, at, "sent", None);
                    if let JourneyAction::SetTraits { traits } = action {
                        merge(&mut person.traits, traits);
                    } else {
                        let context = matches!(action, JourneyAction::Email(_)).then(|| {
                            crate::email::journey_context(
                                run.event.as_ref().unwrap_or(&run.trigger),
                                &run.trigger,
                                &person.traits,
                                &run.vars,
                                user,
                                (id, &node_id, run.seq),
                            )
                        });
                        out.effects.push(Effect {
                            key: format!("{id}:{}:{node_id}:{user}", run.seq),
                            journey: id.to_owned(),
                            run: run.seq,
                            node: node_id.clone(),
                            at,
                            action: action.clone(),
                            trigger: run.trigger.clone(),
                            context,
                        });
                    }
                }
                *next
            }
            CompiledNode::Exit => {
                run.step(&node_id, at, "exit", None);
                end(run, at, "exit", out, id);
                return;
            }
        };
    }
    end(run, at, "revisited", out, id);
}

/// The person's zone: `context.timezone` of the latest waking event, else of the trigger, else
/// UTC.
fn person_zone(run: &Run) -> String {
    let tz = |e: Option<&Value>| {
        e.and_then(|e| e.pointer("/context/timezone"))
            .and_then(Value::as_str)
            .filter(|z| plausible_zone(z))
            .map(str::to_owned)
    };
    tz(run.event.as_ref())
        .or_else(|| tz(Some(&run.trigger)))
        .unwrap_or_else(|| "UTC".into())
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}
