//! The compiled rule set, indexed by event name.
//!
//! Invariant: an event only meets the rules that name it (or `*`); each enabled, valid rule is
//! compiled exactly once when the index is built, and a stored rule that no longer compiles is
//! skipped and reported, never evaluated.

use std::collections::{BTreeMap, HashMap};

use datalogic_rs::Engine;

use super::compile::{compile, event_key, CompiledRule, Kind};
use super::condition::Subject;
use super::error::RuleError;
use super::model::Rule;
use super::state::{on_event, on_time, Firing, RuleState};
use crate::Event;

/// Enabled rules, compiled, with an index from event name to the rules that react to it.
pub struct RuleIndex {
    engine: Engine,
    rules: Vec<CompiledRule>,
    by_event: HashMap<String, Vec<usize>>,
    any: Vec<usize>,
    version: u64,
    skipped: Vec<(String, RuleError)>,
}

impl std::fmt::Debug for RuleIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleIndex")
            .field("rules", &self.rules.len())
            .field("version", &self.version)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

impl RuleIndex {
    /// Compiles the enabled rules. `version` identifies the rule set (it changes on every save).
    pub fn build(rules: impl IntoIterator<Item = Rule>, version: u64) -> Self {
        let engine = Engine::new();
        let mut index = RuleIndex {
            engine,
            rules: Vec::new(),
            by_event: HashMap::new(),
            any: Vec::new(),
            version,
            skipped: Vec::new(),
        };
        for rule in rules.into_iter().filter(|r| r.enabled) {
            let id = rule.id.clone();
            match compile(&index.engine, rule) {
                Ok(c) => index.push(c),
                Err(e) => index.skipped.push((id, e)),
            }
        }
        index
    }

    fn push(&mut self, rule: CompiledRule) {
        let i = self.rules.len();
        let mut names: Vec<&str> = rule.event_names().collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            if name == "*" {
                self.any.push(i);
            } else {
                self.by_event.entry(name.to_owned()).or_default().push(i);
            }
        }
        self.rules.push(rule);
    }

    /// The expression engine the rules were compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The rule set's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Stored rules that did not compile (id, why).
    pub fn skipped(&self) -> &[(String, RuleError)] {
        &self.skipped
    }

    /// How many rules are live.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is live.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// A live rule by id.
    pub fn get(&self, id: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| r.id() == id)
    }

    /// The rules an event named `key` can concern, each once, in rule order.
    pub fn candidates(&self, key: &str) -> impl Iterator<Item = &CompiledRule> {
        let named = self
            .by_event
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut ids: Vec<usize> = named.iter().chain(&self.any).copied().collect();
        if !self.any.is_empty() {
            ids.sort_unstable();
            ids.dedup();
        }
        ids.into_iter().filter_map(|i| self.rules.get(i))
    }

    /// Whether any per-user (stateful) rule reacts to this event.
    pub fn needs_state(&self, event: &Event) -> bool {
        self.candidates(&event_key(event))
            .any(CompiledRule::is_stateful)
    }

    /// Whether some rule can fire later, with no request in flight (an absence rule), and show
    /// an in-app message — such messages wait in the user's state for the tracker's next request.
    pub fn has_deferred_messages(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.kind, Kind::Absence { .. }) && r.has_message())
    }

    /// Stateless rules (instant, uncapped) the event fires, evaluated here and now.
    pub fn stateless_firings(&self, event: &Event, now: i64) -> Vec<Firing> {
        let key = event_key(event);
        let mut subject = None;
        let mut out = Vec::new();
        for rule in self.candidates(&key).filter(|r| !r.is_stateful()) {
            let Some(s) = prepared(&mut subject, event) else {
                break;
            };
            let step = on_event(
                &self.engine,
                rule,
                RuleState::default(),
                &key,
                event,
                s,
                now,
            );
            out.extend(step.firings);
        }
        out
    }

    /// Applies one event to the stateful rules it concerns, updating `states` (keyed by rule id;
    /// entries that become empty are removed).
    pub fn apply_event(
        &self,
        states: &mut BTreeMap<String, RuleState>,
        event: &Event,
        now: i64,
    ) -> Vec<Firing> {
        let key = event_key(event);
        let mut subject = None;
        let mut out = Vec::new();
        for rule in self.candidates(&key).filter(|r| r.is_stateful()) {
            let Some(s) = prepared(&mut subject, event) else {
                break;
            };
            let state = states.remove(rule.id()).unwrap_or_default();
            let step = on_event(&self.engine, rule, state, &key, event, s, now);
            if !step.state.is_empty() {
                states.insert(rule.id().to_owned(), step.state);
            }
            out.extend(step.firings);
        }
        out
    }

    /// Advances every state to `now` (absence deadlines fire). States of rules that are no longer
    /// live are dropped: a deleted or disabled rule never fires.
    pub fn apply_time(&self, states: &mut BTreeMap<String, RuleState>, now: i64) -> Vec<Firing> {
        let mut out = Vec::new();
        for (id, state) in std::mem::take(states) {
            let Some(rule) = self.get(&id) else {
                continue;
            };
            let step = on_time(rule, state, now);
            if !step.state.is_empty() {
                states.insert(id, step.state);
            }
            out.extend(step.firings);
        }
        out
    }
}

/// The earliest deadline among the states: when the user's alarm must ring.
pub fn next_deadline(states: &BTreeMap<String, RuleState>) -> Option<i64> {
    states.values().filter_map(|s| s.deadline).min()
}

fn prepared<'a>(slot: &'a mut Option<Subject>, event: &Event) -> Option<&'a Subject> {
    if slot.is_none() {
        *slot = Subject::new(event);
    }
    slot.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: serde_json::Value) -> Rule {
        serde_json::from_value(v).unwrap()
    }

    fn event(name: &str) -> Event {
        serde_json::from_value(json!({"messageId": "m1", "type": "track", "event": name, "userId": "u",
            "properties": {"price": 60}, "timestamp": "2024-05-01T12:00:00Z", "receivedAt": "2024-05-01T12:00:00Z"}))
        .unwrap()
    }

    #[test]
    fn events_meet_only_the_rules_that_name_them() {
        let msg = json!([{"type": "message", "title": "t", "body": "b"}]);
        let rules = vec![
            rule(json!({"id": "a", "trigger": {"events": ["A"]}, "actions": msg})),
            rule(
                json!({"id": "b", "trigger": {"events": ["B"], "condition": {">": [{"var": "properties.price"}, 50]}}, "actions": msg}),
            ),
            rule(json!({"id": "any", "trigger": {"events": ["*"]}, "actions": msg})),
            rule(
                json!({"id": "off", "enabled": false, "trigger": {"events": ["B"]}, "actions": msg}),
            ),
            rule(
                json!({"id": "abs", "trigger": {"events": ["A"]}, "absence": {"events": ["B"], "within": "1m"}, "actions": msg}),
            ),
            rule(
                json!({"id": "broken", "trigger": {"events": ["B"], "condition": {"zzz": 1}}, "actions": msg}),
            ),
        ];
        let index = RuleIndex::build(rules, 7);
        assert_eq!(index.len(), 4);
        assert_eq!(index.skipped().len(), 1);
        assert_eq!(index.skipped()[0].1.code(), "invalid_condition");
        let ids = |k: &str| {
            index
                .candidates(k)
                .map(|r| r.id().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("A"), ["a", "any", "abs"]);
        assert_eq!(ids("B"), ["b", "any", "abs"]);
        assert_eq!(ids("C"), ["any"]);
        let fired: Vec<String> = index
            .stateless_firings(&event("B"), i64::MAX)
            .into_iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(fired, ["b", "any"]);
        assert!(index.needs_state(&event("B")), "B cancels the absence rule");
        assert!(!index.needs_state(&event("C")));
        assert!(index.has_deferred_messages());
    }

    #[test]
    fn stateful_rules_keep_state_and_set_deadlines() {
        let rules = vec![rule(json!({"id": "abs", "trigger": {"events": ["A"]},
            "absence": {"events": ["B"], "within": "1m"}, "actions": [{"type": "webhook", "url": "http://x.test/"}]}))];
        let index = RuleIndex::build(rules, 1);
        let mut states = BTreeMap::new();
        let now = 1_714_564_800_000;
        assert!(index.apply_event(&mut states, &event("A"), now).is_empty());
        assert_eq!(next_deadline(&states), Some(now + 60_000));
        assert!(index.apply_time(&mut states, now + 59_999).is_empty());
        let fired = index.apply_time(&mut states, now + 60_000);
        assert_eq!(fired.len(), 1);
        assert!(states.is_empty());
        assert_eq!(next_deadline(&states), None);
        // A state whose rule disappeared is dropped, never fired.
        index.apply_event(&mut states, &event("A"), now);
        let empty = RuleIndex::build(Vec::new(), 2);
        assert!(empty.apply_time(&mut states, now + 120_000).is_empty());
        assert!(states.is_empty());
    }
}
