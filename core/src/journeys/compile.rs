//! Checking a journey document and compiling it for evaluation.
//!
//! Invariant: [`compile`] returns either a [`CompiledJourney`] whose graph is closed (every edge
//! names a node), acyclic (so no run executes a node twice and every run ends), fully reachable
//! from `start`, with every condition compiled, duration positive and action usable — or the
//! first problem as a [`JourneyError`] pointing at the field. It never half-accepts a journey.

use std::collections::{BTreeMap, HashMap};

use crate::rules::condition::Engine;
use serde_json::Value;

use super::error::{JourneyError, JourneyErrorKind as K};
use super::model::{Duration, EntryPolicy, Journey, JourneyAction, NodeKind, Trigger};
use super::window::{parse_clock, plausible_zone, Window, MAX_WINDOW_WAIT_MS, WEEKDAYS};
use crate::limits::{
    MAX_ACTIVE_RUNS, MAX_BRANCH_CONDITIONS, MAX_JOURNEY_BYTES, MAX_JOURNEY_ID_CHARS,
    MAX_JOURNEY_NODES, MAX_SPLIT_PATHS,
};
use crate::rules::compile::{check_actions, matcher, CompiledMatcher};
use crate::rules::condition::{Condition, EVENT_FIELDS};
use crate::rules::model::Matcher;

pub use super::compiled::{CompiledJourney, CompiledNode};

/// What a branch condition may read: the trigger event, the waking event, profile traits and
/// journey variables (the API entry's `context`) — and, like every journey condition, live
/// segment membership (`segments.<id>`).
pub const BRANCH_ROOTS: [&str; 5] = ["trigger", "event", "traits", "vars", ""];

/// Parses a journey document (bounded), mapping serde's complaint to `invalid_journey`.
pub fn parse(text: &str) -> Result<Journey, JourneyError> {
    if text.len() > MAX_JOURNEY_BYTES {
        return Err(JourneyError::new(
            K::Malformed,
            "",
            format!(
                "journey is {} bytes; the limit is {MAX_JOURNEY_BYTES}",
                text.len()
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| JourneyError::new(K::Malformed, "", e.to_string()))
}

/// Whether `id` is a usable journey or node id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_JOURNEY_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn positive(d: Duration, at: String) -> Result<(), JourneyError> {
    if d.as_ms() == 0 {
        return Err(JourneyError::new(
            K::Rule(crate::rules::RuleErrorKind::InvalidDuration),
            at,
            "must be longer than 0",
        ));
    }
    Ok(())
}

fn compile_matcher(
    engine: &Engine,
    events: &[String],
    condition: Option<&Value>,
    at: &str,
) -> Result<CompiledMatcher, JourneyError> {
    let m = Matcher {
        events: events.to_vec(),
        condition: condition.cloned(),
    };
    matcher(engine, &m, at).map_err(|e| JourneyError::from_rule(e, ""))
}

/// Checks and compiles a journey at `revision`.
pub fn compile(
    engine: &Engine,
    journey: Journey,
    revision: u64,
) -> Result<CompiledJourney, JourneyError> {
    if !valid_id(&journey.id) {
        return Err(JourneyError::new(
            K::InvalidId,
            "/id",
            format!(
                "{:?}: use 1..={MAX_JOURNEY_ID_CHARS} characters from a-z, 0-9, _ and -",
                journey.id
            ),
        ));
    }
    if journey.holdout > 100 {
        return Err(JourneyError::new(
            K::InvalidHoldout,
            "/holdout",
            "holdout is a percentage, 0..=100",
        ));
    }
    match (journey.entry.policy, journey.entry.interval) {
        (EntryPolicy::Interval, Some(d)) => positive(d, "/entry/interval".into())?,
        (EntryPolicy::Interval, None) | (_, Some(_)) => {
            return Err(JourneyError::new(
                K::InvalidEntry,
                "/entry",
                "policy \"interval\" needs an interval, and only it takes one",
            ))
        }
        _ => {}
    }
    match journey.entry.max_active {
        Some(n) if n == 0 || n > MAX_ACTIVE_RUNS => {
            return Err(JourneyError::new(
                K::InvalidEntry,
                "/entry/maxActive",
                format!("maxActive is 1..={MAX_ACTIVE_RUNS}"),
            ))
        }
        Some(n) if n > 1 && journey.entry.policy == EntryPolicy::Once => {
            return Err(JourneyError::new(
                K::InvalidEntry,
                "/entry/maxActive",
                "policy \"once\" allows one run ever, so maxActive cannot exceed 1",
            ))
        }
        _ => {}
    }
    let trigger = match &journey.trigger {
        Trigger::Event { events, condition } => Some(compile_matcher(
            engine,
            events,
            condition.as_ref(),
            "/trigger",
        )?),
        Trigger::Api => None,
    };
    let goal = match &journey.goal {
        Some(g) => {
            positive(g.within, "/goal/within".into())?;
            Some(compile_matcher(
                engine,
                &g.events,
                g.condition.as_ref(),
                "/goal",
            )?)
        }
        None => None,
    };
    if journey.nodes.is_empty() || journey.nodes.len() > MAX_JOURNEY_NODES {
        return Err(JourneyError::new(
            K::InvalidNodes,
            "/nodes",
            format!("a journey has 1..={MAX_JOURNEY_NODES} nodes"),
        ));
    }
    let mut ids = HashMap::new();
    for (i, n) in journey.nodes.iter().enumerate() {
        if !valid_id(&n.id) || ids.insert(n.id.clone(), i).is_some() {
            return Err(JourneyError::new(
                K::InvalidNodeId,
                format!("/nodes/{i}/id"),
                format!(
                    "{:?}: node ids are unique, 1..={MAX_JOURNEY_ID_CHARS} characters from a-z, 0-9, _ and -",
                    n.id
                ),
            ));
        }
    }
    let find = |target: &str, at: String| {
        ids.get(target).copied().ok_or_else(|| {
            JourneyError::new(K::UnknownNode, at, format!("no node has id {target:?}"))
        })
    };
    let start = find(&journey.start, "/start".into())?;
    let mut nodes = Vec::new();
    for (i, n) in journey.nodes.iter().enumerate() {
        let at = |f: &str| format!("/nodes/{i}/{f}");
        for (edge, target) in n.kind.edges() {
            find(target, at(&edge))?;
        }
        let node = match &n.kind {
            NodeKind::Delay { wait, next } => {
                positive(*wait, at("for"))?;
                CompiledNode::Delay {
                    wait: *wait,
                    next: find(next, at("next"))?,
                }
            }
            NodeKind::TimeWindow {
                days,
                from,
                to,
                timezone,
                next,
            } => CompiledNode::TimeWindow {
                window: window(days.as_deref(), from, to, &at)?,
                zone: match timezone.as_str() {
                    "person" => None,
                    z if plausible_zone(z) => Some(z.to_owned()),
                    z => {
                        return Err(JourneyError::new(
                            K::InvalidWindow,
                            at("timezone"),
                            format!("{z:?} is not \"person\", an IANA zone such as Europe/Berlin, or ±HH:MM"),
                        ))
                    }
                },
                next: find(next, at("next"))?,
            },
            NodeKind::WaitUntil {
                events,
                condition,
                matches,
                timeout,
                next,
                on_timeout,
            } => {
                positive(*timeout, at("timeout"))?;
                let matches = match matches {
                    Some(path) => {
                        let segs: Vec<String> = path.split('.').map(str::to_owned).collect();
                        let ok = segs.iter().all(|s| !s.is_empty())
                            && segs
                                .first()
                                .is_some_and(|s| EVENT_FIELDS.contains(&s.as_str()));
                        if !ok {
                            return Err(JourneyError::new(
                                K::InvalidMatch,
                                at("match"),
                                format!(
                                    "{path:?} is not an event path such as properties.order_id"
                                ),
                            ));
                        }
                        Some(segs)
                    }
                    None => None,
                };
                CompiledNode::WaitUntil {
                    matcher: compile_matcher(
                        engine,
                        events,
                        condition.as_ref(),
                        &format!("/nodes/{i}"),
                    )?,
                    matches,
                    timeout: *timeout,
                    next: find(next, at("next"))?,
                    on_timeout: find(on_timeout, at("onTimeout"))?,
                }
            }
            NodeKind::Branch {
                branches,
                otherwise,
            } => {
                if branches.is_empty() || branches.len() > MAX_BRANCH_CONDITIONS {
                    return Err(JourneyError::new(
                        K::InvalidBranch,
                        at("branches"),
                        format!("a branch has 1..={MAX_BRANCH_CONDITIONS} conditions"),
                    ));
                }
                let mut arms = Vec::new();
                for (j, b) in branches.iter().enumerate() {
                    let place = format!("/nodes/{i}/branches/{j}/condition");
                    let c = Condition::compile_scoped(engine, &b.condition, &place, &BRANCH_ROOTS)
                        .map_err(|e| JourneyError::from_rule(e, ""))?;
                    arms.push((c, find(&b.next, at(&format!("branches/{j}/next")))?));
                }
                CompiledNode::Branch {
                    arms,
                    otherwise: find(otherwise, at("else"))?,
                }
            }
            NodeKind::Split { paths } => {
                let total: u32 = paths.iter().map(|p| u32::from(p.percent)).sum();
                if paths.is_empty() || paths.len() > MAX_SPLIT_PATHS || total != 100 {
                    return Err(JourneyError::new(
                        K::InvalidSplit,
                        at("paths"),
                        format!("a split has 1..={MAX_SPLIT_PATHS} paths whose percentages sum to 100 (these sum to {total})"),
                    ));
                }
                let mut acc = 0u8;
                let mut out = Vec::new();
                for (j, p) in paths.iter().enumerate() {
                    acc = acc.saturating_add(p.percent);
                    out.push((acc, find(&p.next, at(&format!("paths/{j}/next")))?));
                }
                CompiledNode::Split { paths: out }
            }
            NodeKind::Action { action, next } => {
                if let JourneyAction::Emit { event, .. } = action {
                    let name = event.trim();
                    if name.is_empty()
                        || name.chars().count() > crate::limits::MAX_EVENT_NAME_CHARS
                        || name.starts_with('$')
                    {
                        return Err(JourneyError::new(
                            K::Rule(crate::rules::RuleErrorKind::InvalidAction),
                            at("action/event"),
                            format!(
                                "an emitted event needs a name of 1 to {} characters, not starting with `$` (reserved)",
                                crate::limits::MAX_EVENT_NAME_CHARS
                            ),
                        ));
                    }
                }
                if let Some(a) = action.as_rule_action() {
                    check_actions(std::slice::from_ref(&a)).map_err(|mut e| {
                        e.at = e.at.replacen("/actions/0", "", 1);
                        JourneyError::from_rule(e, &format!("/nodes/{i}/action"))
                    })?;
                }
                CompiledNode::Action {
                    action: action.clone(),
                    next: find(next, at("next"))?,
                }
            }
            NodeKind::Exit => CompiledNode::Exit,
        };
        nodes.push(node);
    }
    let max_span_ms = check_graph(&journey, &nodes, start)?;
    let mut compiled = CompiledJourney {
        journey,
        revision,
        trigger,
        goal,
        nodes,
        ids,
        start,
        max_span_ms,
        reads_segments: false,
    };
    compiled.reads_segments = !compiled.segments().is_empty();
    Ok(compiled)
}

/// Compiles a window's days and clock times; errors point at `at(field)`.
fn window(
    days: Option<&[String]>,
    from: &str,
    to: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<Window, JourneyError> {
    let bad = |field: &str, detail: String| JourneyError::new(K::InvalidWindow, at(field), detail);
    let mut mask = 0u8;
    for (i, d) in days.unwrap_or(&[]).iter().enumerate() {
        let k = WEEKDAYS.iter().position(|w| w == d).ok_or_else(|| {
            bad(
                &format!("days/{i}"),
                format!("{d:?} is not one of {WEEKDAYS:?}"),
            )
        })?;
        mask |= 1 << k;
    }
    if days.is_none() {
        mask = 0x7f;
    } else if mask == 0 {
        return Err(bad("days", "a window needs at least one day".into()));
    }
    let clock = |field: &str, v: &str| {
        parse_clock(v).ok_or_else(|| bad(field, format!("{v:?} is not a time such as 09:00")))
    };
    let (from, to) = (clock("from", from)?, clock("to", to)?);
    if from == to || from >= 24 * 60 {
        return Err(bad(
            "to",
            "a window must not be empty: `from` and `to` differ, `from` before 24:00".into(),
        ));
    }
    Ok(Window {
        days: mask,
        from,
        to: to % (24 * 60),
    })
}

/// Successors of a compiled node with the time the run may spend in the node before taking each.
pub fn successors(node: &CompiledNode) -> Vec<(usize, i64)> {
    match node {
        CompiledNode::Delay { wait, next } => vec![(*next, wait.as_ms_i64())],
        CompiledNode::WaitUntil {
            timeout,
            next,
            on_timeout,
            ..
        } => vec![
            (*next, timeout.as_ms_i64()),
            (*on_timeout, timeout.as_ms_i64()),
        ],
        CompiledNode::Branch { arms, otherwise } => arms
            .iter()
            .map(|(_, n)| (*n, 0))
            .chain([(*otherwise, 0)])
            .collect(),
        CompiledNode::TimeWindow { next, .. } => vec![(*next, MAX_WINDOW_WAIT_MS)],
        CompiledNode::Split { paths } => paths.iter().map(|(_, n)| (*n, 0)).collect(),
        CompiledNode::Action { next, .. } => vec![(*next, 0)],
        CompiledNode::Exit => Vec::new(),
    }
}

/// Refuses cycles and unreachable nodes; returns the longest entry-to-end span (ms).
fn check_graph(
    journey: &Journey,
    nodes: &[CompiledNode],
    start: usize,
) -> Result<i64, JourneyError> {
    // Iterative DFS with colours: 1 = on the stack, 2 = done (longest span known).
    let mut colour = vec![0u8; nodes.len()];
    let mut span: BTreeMap<usize, i64> = BTreeMap::new();
    let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
    if let Some(c) = colour.get_mut(start) {
        *c = 1;
    }
    while let Some(&mut (at, ref mut next_child)) = stack.last_mut() {
        let succ = nodes.get(at).map(successors).unwrap_or_default();
        if let Some(&(child, _)) = succ.get(*next_child) {
            *next_child += 1;
            match colour.get(child).copied().unwrap_or(2) {
                0 => {
                    if let Some(c) = colour.get_mut(child) {
                        *c = 1;
                    }
                    stack.push((child, 0));
                }
                1 => {
                    let id = journey.nodes.get(child).map_or("", |n| n.id.as_str());
                    return Err(JourneyError::new(
                        K::Cycle,
                        format!("/nodes/{child}"),
                        format!("node {id:?} can be reached again from itself; a journey is a graph without cycles, so no run executes a node twice"),
                    ));
                }
                _ => {}
            }
        } else {
            let best = succ
                .iter()
                .map(|(c, w)| w.saturating_add(span.get(c).copied().unwrap_or(0)))
                .max()
                .unwrap_or(0);
            span.insert(at, best);
            if let Some(c) = colour.get_mut(at) {
                *c = 2;
            }
            stack.pop();
        }
    }
    if let Some(i) = colour.iter().position(|c| *c == 0) {
        let id = journey.nodes.get(i).map_or("", |n| n.id.as_str());
        return Err(JourneyError::new(
            K::UnreachableNode,
            format!("/nodes/{i}"),
            format!("no path from start reaches node {id:?}"),
        ));
    }
    Ok(span.get(&start).copied().unwrap_or(0))
}
