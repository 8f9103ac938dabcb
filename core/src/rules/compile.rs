//! Checking a rule document and compiling it for evaluation.
//!
//! Invariant: [`compile`] either returns a [`CompiledRule`] every part of which is in range
//! (events named, conditions compiled, durations bounded, actions usable) or the first problem
//! as a [`RuleError`] pointing at the field; it never half-accepts a rule.

use std::borrow::Cow;

use crate::rules::condition::Engine;
use serde_json::Value;

use super::condition::{Condition, Subject};
use super::error::{RuleError, RuleErrorKind};
use super::model::{Action, Duration, Matcher, Rule};
use super::{
    MAX_ACTIONS, MAX_BODY_CHARS, MAX_CAP, MAX_EVENTS_PER_MATCHER, MAX_RULE_BYTES,
    MAX_RULE_ID_CHARS, MAX_SEQUENCE_STEPS, MAX_TITLE_CHARS, MAX_URL_CHARS, MAX_WINDOW_COUNT,
};
use crate::event::{Event, MessageType};

/// The name rules use for an event: the `track` event name, else `$` + the message type.
pub fn event_key(event: &Event) -> Cow<'_, str> {
    match (event.kind, event.event.as_deref()) {
        (MessageType::Track, Some(name)) => Cow::Borrowed(name),
        (kind, _) => Cow::Owned(format!("${}", kind.as_str())),
    }
}

/// Event names and a compiled condition.
#[derive(Debug)]
pub struct CompiledMatcher {
    /// Names (or `*`).
    pub events: Vec<String>,
    /// The condition, when there is one.
    pub condition: Option<Condition>,
}

impl CompiledMatcher {
    /// Whether the name is one of ours (ignoring the condition).
    pub fn names(&self, key: &str) -> bool {
        self.events.iter().any(|e| e == key || e == "*")
    }

    /// Whether the event (named `key`) matches: name and condition.
    pub fn matches(&self, engine: &Engine, key: &str, subject: &Subject) -> bool {
        self.names(key)
            && self
                .condition
                .as_ref()
                .is_none_or(|c| c.eval(engine, subject))
    }
}

/// What kind of state the rule keeps.
#[derive(Debug)]
pub enum Kind {
    /// Fires on each matching event.
    Instant,
    /// Fires when `count` matches fall within `within`.
    Window {
        /// Matches needed.
        count: u32,
        /// Span.
        within: Duration,
    },
    /// Fires `within` after a trigger unless `cancel` matched in between.
    Absence {
        /// The cancelling events.
        cancel: CompiledMatcher,
        /// Wait.
        within: Duration,
    },
    /// Fires when `steps` follow the trigger in order within `within`.
    Sequence {
        /// Steps after the trigger.
        steps: Vec<CompiledMatcher>,
        /// Span from trigger to last step.
        within: Duration,
    },
}

/// A rule ready to evaluate.
#[derive(Debug)]
pub struct CompiledRule {
    /// The document it came from.
    pub rule: Rule,
    /// The trigger.
    pub trigger: CompiledMatcher,
    /// Its kind.
    pub kind: Kind,
    /// The live segment ids its conditions read (`segments.<id>`), sorted, each once.
    segments: Vec<String>,
}

impl CompiledRule {
    /// The id.
    pub fn id(&self) -> &str {
        &self.rule.id
    }

    /// Whether it needs per-user state (anything but an uncapped instant rule that reads no
    /// segment membership: membership lives in the person's object, so a rule reading it is
    /// evaluated there).
    pub fn is_stateful(&self) -> bool {
        !matches!(self.kind, Kind::Instant) || self.rule.cap.is_some() || self.reads_segments()
    }

    /// Whether some condition of the rule reads live segment membership (`segments.<id>`).
    pub fn reads_segments(&self) -> bool {
        !self.segments.is_empty()
    }

    /// The live segment ids the rule's conditions read, sorted, each once.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Every event name the rule reacts to (trigger, cancelling events, steps).
    pub fn event_names(&self) -> impl Iterator<Item = &str> {
        let extra: Vec<&str> = match &self.kind {
            Kind::Absence { cancel, .. } => cancel.events.iter().map(String::as_str).collect(),
            Kind::Sequence { steps, .. } => steps
                .iter()
                .flat_map(|s| s.events.iter().map(String::as_str))
                .collect(),
            _ => Vec::new(),
        };
        self.trigger.events.iter().map(String::as_str).chain(extra)
    }

    /// Whether some condition of the rule (trigger, cancel, steps) reads profile traits.
    pub fn reads_profile(&self) -> bool {
        let reads =
            |m: &CompiledMatcher| m.condition.as_ref().is_some_and(Condition::reads_profile);
        reads(&self.trigger)
            || match &self.kind {
                Kind::Absence { cancel, .. } => reads(cancel),
                Kind::Sequence { steps, .. } => steps.iter().any(reads),
                _ => false,
            }
    }

    /// Whether the rule has an in-app message action.
    pub fn has_message(&self) -> bool {
        self.rule
            .actions
            .iter()
            .any(|a| matches!(a, Action::Message { .. }))
    }
}

/// Parses a rule document, mapping serde's complaint to [`RuleErrorKind::Malformed`].
pub fn parse(text: &str) -> Result<Rule, RuleError> {
    if text.len() > MAX_RULE_BYTES {
        return Err(RuleError::new(
            RuleErrorKind::Malformed,
            "",
            format!(
                "rule is {} bytes; the limit is {MAX_RULE_BYTES}",
                text.len()
            ),
        ));
    }
    serde_json::from_str(text)
        .map_err(|e| RuleError::new(RuleErrorKind::Malformed, "", e.to_string()))
}

/// Checks every field and compiles the conditions.
pub fn compile(engine: &Engine, rule: Rule) -> Result<CompiledRule, RuleError> {
    check_id(&rule.id)?;
    let trigger = matcher(engine, &rule.trigger, "/trigger")?;
    let kinds = [
        rule.window.is_some(),
        rule.absence.is_some(),
        rule.sequence.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return Err(RuleError::new(
            RuleErrorKind::ConflictingKinds,
            "",
            "a rule has at most one of window, absence and sequence",
        ));
    }
    let kind = if let Some(w) = &rule.window {
        if !(2..=MAX_WINDOW_COUNT).contains(&w.count) {
            return Err(RuleError::new(
                RuleErrorKind::InvalidWindow,
                "/window/count",
                format!("count must be 2..={MAX_WINDOW_COUNT} (for 1, leave out the window)"),
            ));
        }
        positive(w.within, "/window/within")?;
        Kind::Window {
            count: w.count,
            within: w.within,
        }
    } else if let Some(a) = &rule.absence {
        positive(a.within, "/absence/within")?;
        let m = Matcher {
            events: a.events.clone(),
            condition: a.condition.clone(),
        };
        Kind::Absence {
            cancel: matcher(engine, &m, "/absence")?,
            within: a.within,
        }
    } else if let Some(s) = &rule.sequence {
        if s.then.is_empty() || s.then.len() > MAX_SEQUENCE_STEPS {
            return Err(RuleError::new(
                RuleErrorKind::InvalidSequence,
                "/sequence/then",
                format!("a sequence has 1..={MAX_SEQUENCE_STEPS} steps after the trigger"),
            ));
        }
        positive(s.within, "/sequence/within")?;
        let steps = s
            .then
            .iter()
            .enumerate()
            .map(|(i, m)| matcher(engine, m, &format!("/sequence/then/{i}")))
            .collect::<Result<_, _>>()?;
        Kind::Sequence {
            steps,
            within: s.within,
        }
    } else {
        Kind::Instant
    };
    if let Some(cap) = &rule.cap {
        if !(1..=MAX_CAP).contains(&cap.max) {
            return Err(RuleError::new(
                RuleErrorKind::InvalidCap,
                "/cap/max",
                format!("max must be 1..={MAX_CAP}"),
            ));
        }
        positive(cap.per, "/cap/per")?;
    }
    check_actions(&rule.actions)?;
    let rest: Vec<&CompiledMatcher> = match &kind {
        Kind::Absence { cancel, .. } => vec![cancel],
        Kind::Sequence { steps, .. } => steps.iter().collect(),
        _ => Vec::new(),
    };
    let mut segments: Vec<String> = std::iter::once(&trigger)
        .chain(rest)
        .filter_map(|m| m.condition.as_ref())
        .flat_map(Condition::segments)
        .collect();
    segments.sort_unstable();
    segments.dedup();
    Ok(CompiledRule {
        rule,
        trigger,
        kind,
        segments,
    })
}

fn check_id(id: &str) -> Result<(), RuleError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_RULE_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RuleError::new(
            RuleErrorKind::InvalidId,
            "/id",
            format!("{id:?}: use 1..={MAX_RULE_ID_CHARS} characters from a-z, 0-9, _ and -"),
        ))
    }
}

fn positive(d: Duration, at: &str) -> Result<(), RuleError> {
    if d.as_ms() == 0 {
        return Err(RuleError::new(
            RuleErrorKind::InvalidDuration,
            at,
            "must be longer than 0",
        ));
    }
    Ok(())
}

/// The live segment transition events (track events a person's object emits).
const LIVE_EVENTS: [&str; 2] = [crate::query::live::ENTERED, crate::query::live::EXITED];
const MESSAGE_TYPES: [&str; 5] = ["$page", "$screen", "$identify", "$group", "$alias"];

pub(crate) fn matcher(
    engine: &Engine,
    m: &Matcher,
    at: &str,
) -> Result<CompiledMatcher, RuleError> {
    if m.events.is_empty() || m.events.len() > MAX_EVENTS_PER_MATCHER {
        return Err(RuleError::new(
            RuleErrorKind::InvalidEvents,
            format!("{at}/events"),
            format!("list 1..={MAX_EVENTS_PER_MATCHER} event names (\"*\" for any event)"),
        ));
    }
    for (i, name) in m.events.iter().enumerate() {
        let bad = name.trim().is_empty()
            || name.chars().count() > crate::limits::MAX_EVENT_NAME_CHARS
            || (name.starts_with('$')
                && !MESSAGE_TYPES.contains(&name.as_str())
                && !LIVE_EVENTS.contains(&name.as_str()));
        if bad {
            return Err(RuleError::new(
                RuleErrorKind::InvalidEvents,
                format!("{at}/events/{i}"),
                format!(
                    "{name:?} is not an event name: use a track event's name, \"*\", or one of {}",
                    MESSAGE_TYPES.join(", ")
                ),
            ));
        }
    }
    let condition = m
        .condition
        .as_ref()
        .map(|c| Condition::compile(engine, c, &format!("{at}/condition")))
        .transpose()?;
    Ok(CompiledMatcher {
        events: m.events.clone(),
        condition,
    })
}

pub(crate) fn check_actions(actions: &[Action]) -> Result<(), RuleError> {
    if actions.is_empty() || actions.len() > MAX_ACTIONS {
        return Err(RuleError::new(
            RuleErrorKind::InvalidActions,
            "/actions",
            format!("a rule has 1..={MAX_ACTIONS} actions"),
        ));
    }
    for (i, action) in actions.iter().enumerate() {
        let at = |f: &str| format!("/actions/{i}/{f}");
        match action {
            Action::Webhook { url } => {
                if !is_http_url(url) {
                    return Err(RuleError::new(
                        RuleErrorKind::InvalidAction,
                        at("url"),
                        format!("{url:?} is not an http(s) URL"),
                    ));
                }
            }
            Action::Message { title, body, url } => check_text(title, body, url.as_deref(), &at)?,
            Action::Push {
                title,
                body,
                url,
                ttl,
                urgency: _,
                topic,
            } => {
                check_text(title, body, url.as_deref(), &at)?;
                if ttl.is_some_and(|t| !crate::push::ttl_ok(ttl_secs(Some(t)))) {
                    return Err(RuleError::new(
                        RuleErrorKind::InvalidAction,
                        at("ttl"),
                        "a push ttl is at most 28d",
                    ));
                }
                if topic.as_deref().is_some_and(|t| !crate::push::topic_ok(t)) {
                    return Err(RuleError::new(
                        RuleErrorKind::InvalidAction,
                        at("topic"),
                        "a topic is 1..=32 characters of A-Z a-z 0-9 - _",
                    ));
                }
            }
            Action::Email(email) => {
                email.templates().check().map_err(|e| {
                    let field = match &e {
                        crate::email::EmailError::InvalidTemplate { field, .. } => field,
                        _ => "from",
                    };
                    RuleError::new(RuleErrorKind::InvalidTemplate, at(field), e.to_string())
                })?;
            }
            Action::Forward { queue } => {
                let ok = queue.len() <= 64
                    && queue.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
                    && queue
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    return Err(RuleError::new(
                        RuleErrorKind::InvalidAction,
                        at("queue"),
                        format!("{queue:?} is not a queue binding name (e.g. FORWARD_QUEUE)"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A message's or push's title, body and optional link.
fn check_text(
    title: &str,
    body: &str,
    url: Option<&str>,
    at: &dyn Fn(&str) -> String,
) -> Result<(), RuleError> {
    for (field, text, max) in [
        ("title", title, MAX_TITLE_CHARS),
        ("body", body, MAX_BODY_CHARS),
    ] {
        let n = text.chars().count();
        if text.trim().is_empty() || n > max {
            return Err(RuleError::new(
                RuleErrorKind::InvalidAction,
                at(field),
                format!("{field} must be 1..={max} characters"),
            ));
        }
    }
    if let Some(u) = url {
        if !(is_http_url(u) || (u.starts_with('/') && u.len() <= MAX_URL_CHARS)) {
            return Err(RuleError::new(
                RuleErrorKind::InvalidAction,
                at("url"),
                format!("{u:?} is neither an http(s) URL nor a path starting with /"),
            ));
        }
    }
    Ok(())
}

/// A push action's TTL in seconds (default one day), saturating.
pub fn ttl_secs(ttl: Option<Duration>) -> u32 {
    ttl.map_or(crate::limits::DEFAULT_PUSH_TTL_SECS, |t| {
        u32::try_from(t.as_ms() / 1_000).unwrap_or(u32::MAX)
    })
}

fn is_http_url(u: &str) -> bool {
    u.len() <= MAX_URL_CHARS
        && url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.has_host())
}

/// Compiles a rule from JSON text in one step (parse + check).
pub fn compile_json(engine: &Engine, text: &str) -> Result<CompiledRule, RuleError> {
    compile(engine, parse(text)?)
}

/// Compiles a rule from a JSON value.
pub fn compile_value(engine: &Engine, value: Value) -> Result<CompiledRule, RuleError> {
    let rule = serde_json::from_value(value)
        .map_err(|e| RuleError::new(RuleErrorKind::Malformed, "", e.to_string()))?;
    compile(engine, rule)
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
