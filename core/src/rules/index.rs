//! The compiled rule set, indexed by event name and by the predicates of its conditions.
//!
//! Invariant: an event only meets the rules that name it (or `*`); each enabled, valid rule is
//! compiled exactly once when the index is built, and a stored rule that no longer compiles is
//! skipped and reported, never evaluated.
//!
//! Within one event name, rules are indexed by their conditions as in Boolean-expression
//! indexing for publish/subscribe matching (BE-Tree and kin): each instant or window rule whose
//! condition has an indexable conjunct (`==`/`===` a literal, `in` a literal list, `<`..`>=` a
//! number, on one `var` path; see [`indexable_parts`](super::predicate::indexable_parts)) is
//! filed under exactly one of them — the rarest — in a per-path table (hash tables for
//! equality, sorted thresholds for ranges). An
//! event probes each path once and meets only the rules whose filed conjunct its value
//! satisfies, plus the residual rules (no indexable conjunct, or absence and sequence rules,
//! whose state moves on events that fail the trigger). A filed conjunct is necessary for the
//! condition, and the full condition is still evaluated for every candidate, so answers are
//! exactly those of evaluating every rule (`index_tests.rs` checks this on random rule sets).
//! The buckets and their tables, filing and probing, are in `index/table.rs`; here, what an
//! event does with the rules they let through.
//!
//! Why only instant and window rules are filed: for them an event that fails the trigger
//! changes nothing (no state, no firing), so not meeting it is invisible. Absence rules fire
//! overdue deadlines on any named event, and sequences reset on expiry: they stay by name.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::rules::condition::Engine;

use super::compile::{compile, event_key, CompiledRule, Kind};
use super::condition::Subject;
use super::error::RuleError;
use super::facts::Facts;
use super::model::Rule;
use super::state::{event_time, on_event, on_time, Firing, RuleState};
use crate::Event;
use table::{file_all, Bucket};

mod table;

/// Enabled rules, compiled, with an index from event name (and condition predicates) to the
/// rules that react to it.
pub struct RuleIndex {
    engine: Engine,
    rules: Vec<CompiledRule>,
    by_event: HashMap<String, Bucket>,
    any: Bucket,
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

/// What one event does on the ingest path: the stateless firings, and whether it must reach
/// the user's state (a stateful rule may react to it).
#[derive(Debug, Default)]
pub struct Routed {
    /// Firings of stateless rules, evaluated here and now.
    pub firings: Vec<Firing>,
    /// Whether some per-user rule may react to the event.
    pub needs_state: bool,
}

impl RuleIndex {
    /// Compiles the enabled rules. `version` identifies the rule set (it changes on every save).
    pub fn build(rules: impl IntoIterator<Item = Rule>, version: u64) -> Self {
        let engine = Engine::new();
        let mut compiled = Vec::new();
        let mut skipped = Vec::new();
        for rule in rules.into_iter().filter(|r| r.enabled) {
            let id = rule.id.clone();
            match compile(&engine, rule) {
                Ok(c) => compiled.push(c),
                Err(e) => skipped.push((id, e)),
            }
        }
        let (by_event, any) = file_all(&compiled);
        RuleIndex {
            engine,
            rules: compiled,
            by_event,
            any,
            version,
            skipped,
        }
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

    /// The rules an event named `key` can concern by name alone, each once, in rule order (a
    /// superset of what [`RuleIndex::stateless_firings`] and [`RuleIndex::apply_event`] meet).
    pub fn candidates(&self, key: &str) -> impl Iterator<Item = &CompiledRule> {
        let named = self
            .by_event
            .get(key)
            .map(|b| b.all.as_slice())
            .unwrap_or_default();
        let mut ids: Vec<usize> = named.iter().chain(&self.any.all).copied().collect();
        if !self.any.is_empty() {
            ids.sort_unstable();
            ids.dedup();
        }
        ids.into_iter().filter_map(|i| self.rules.get(i))
    }

    /// The buckets an event named `key` meets (its name's, then `*`'s), if any has a rule.
    fn buckets(&self, key: &str) -> Option<[Option<&Bucket>; 2]> {
        let named = self.by_event.get(key).filter(|b| !b.is_empty());
        let any = Some(&self.any).filter(|b| !b.is_empty());
        (named.is_some() || any.is_some()).then_some([named, any])
    }

    /// The rules the event meets after the condition index, each once, in rule order.
    fn matched(&self, buckets: [Option<&Bucket>; 2], subject: &Subject) -> Vec<usize> {
        let mut ids = Vec::new();
        for b in buckets.into_iter().flatten() {
            b.collect(subject, &mut ids);
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether some rule this event can meet reads profile traits (`traits.*`): only then does
    /// the edge load the person's stored profile. One name lookup; events of names without
    /// such rules pay nothing more.
    pub fn needs_profile(&self, event: &Event) -> bool {
        self.buckets(&event_key(event))
            .is_some_and(|bs| bs.iter().flatten().any(|b| b.profile))
    }

    /// Whether some rule this event can meet reads live segment membership (`segments.<id>`):
    /// only then does the person's object work out the membership for it.
    pub fn needs_segments(&self, event: &Event) -> bool {
        self.buckets(&event_key(event))
            .is_some_and(|bs| bs.iter().flatten().any(|b| b.segments))
    }

    /// Whether any per-user (stateful) rule may react to this event.
    pub fn needs_state(&self, event: &Event) -> bool {
        let key = event_key(event);
        let Some(buckets) = self.buckets(&key) else {
            return false;
        };
        if !buckets.iter().flatten().any(|b| b.stateful) {
            return false;
        }
        let Some(subject) = Subject::new(event) else {
            return false;
        };
        self.matched(buckets, &subject)
            .into_iter()
            .filter_map(|i| self.rules.get(i))
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
        self.route(event, now).firings
    }

    /// The stateless firings and whether the event must reach the user's state, from one
    /// preparation of the event ([`RuleIndex::stateless_firings`] and
    /// [`RuleIndex::needs_state`] together, for the cost of one).
    pub fn route(&self, event: &Event, now: i64) -> Routed {
        self.route_encoded(event, None, now)
    }

    /// [`RuleIndex::route`] for an event whose JSON encoding is at hand (the ingest request
    /// encoded it for the queue): the conditions read that text, so the event is not encoded
    /// a second time. `json` must be `serde_json::to_string(event)`.
    pub fn route_encoded(&self, event: &Event, json: Option<&str>, now: i64) -> Routed {
        self.route_profiled(event, json, None, now)
    }

    /// [`RuleIndex::route_encoded`] with the person's stored profile traits, which conditions
    /// see beneath the event's own ([`Subject::with_profile`]: the event's keys win).
    pub fn route_profiled(
        &self,
        event: &Event,
        json: Option<&str>,
        profile: Option<&Map<String, Value>>,
        now: i64,
    ) -> Routed {
        let key = event_key(event);
        let Some(buckets) = self.buckets(&key) else {
            return Routed::default();
        };
        let subject = match json {
            Some(text) => Subject::from_json(text),
            None => Subject::new(event),
        };
        let Some(mut subject) = subject else {
            return Routed::default();
        };
        if let Some(p) = profile {
            subject = subject.with_profile(p);
        }
        let mut out = Routed::default();
        for rule in self
            .matched(buckets, &subject)
            .into_iter()
            .filter_map(|i| self.rules.get(i))
        {
            if rule.is_stateful() {
                out.needs_state = true;
                continue;
            }
            let step = on_event(
                &self.engine,
                rule,
                RuleState::default(),
                &key,
                event,
                &subject,
                now,
            );
            out.firings.extend(step.firings);
        }
        out
    }

    /// Applies one event to the stateful rules it concerns, updating `states` (keyed by rule id;
    /// entries that become empty are removed). Conditions see the person's `facts`: the profile
    /// beneath the event's traits ([`Subject::with_profile`]), and membership at the event's
    /// time ([`Subject::with_segments`]), asked for only when a rule this event can meet reads
    /// `segments.<id>` ([`RuleIndex::needs_segments`]).
    pub fn apply_event(
        &self,
        states: &mut BTreeMap<String, RuleState>,
        event: &Event,
        facts: Facts<'_>,
        now: i64,
    ) -> Vec<Firing> {
        let key = event_key(event);
        let mut out = Vec::new();
        let Some(buckets) = self.buckets(&key) else {
            return out;
        };
        let Some(mut subject) = Subject::new(event) else {
            return out;
        };
        if let Some(p) = facts.profile {
            subject = subject.with_profile(p);
        }
        let reads_segments = buckets.iter().flatten().any(|b| b.segments);
        if let Some(m) = facts.segments.filter(|_| reads_segments) {
            subject = subject.with_segments(m(event_time(event, now)));
        }
        let s = &subject;
        for rule in self
            .matched(buckets, s)
            .into_iter()
            .filter_map(|i| self.rules.get(i))
            .filter(|r| r.is_stateful())
        {
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
    fn profile_traits_reach_stateless_and_stateful_rules_only_when_read() {
        let msg = json!([{"type": "message", "title": "t", "body": "b"}]);
        let pro = json!({"==": [{"var": "traits.plan"}, "pro"]});
        let rules = vec![
            rule(
                json!({"id": "pro", "trigger": {"events": ["A"], "condition": pro}, "actions": msg}),
            ),
            rule(
                json!({"id": "pro2", "trigger": {"events": ["A"], "condition": pro}, "window": {"count": 2, "within": "1h"}, "actions": msg}),
            ),
            rule(
                json!({"id": "price", "trigger": {"events": ["B"], "condition": {">": [{"var": "properties.price"}, 50]}}, "actions": msg}),
            ),
        ];
        let index = RuleIndex::build(rules, 1);
        assert!(index.needs_profile(&event("A")));
        assert!(
            !index.needs_profile(&event("B")),
            "B's rules read no traits"
        );
        assert!(!index.needs_profile(&event("C")), "no rule names C");
        let mut profile = serde_json::Map::new();
        profile.insert("plan".into(), json!("pro"));
        let now = 1_714_564_800_000;
        let a = event("A");
        // Without the profile the event alone (no traits) does not match; with it, it does,
        // though the rule is filed in the index under traits.plan.
        assert!(index.route(&a, now).firings.is_empty());
        let routed = index.route_profiled(&a, None, Some(&profile), now);
        assert_eq!(routed.firings.len(), 1);
        assert!(routed.needs_state);
        let mut states = BTreeMap::new();
        assert!(index
            .apply_event(&mut states, &a, Facts::profile(Some(&profile)), now)
            .is_empty());
        let mut second = event("A");
        second.message_id = "m2".into();
        let fired = index.apply_event(
            &mut states,
            &second,
            Facts::profile(Some(&profile)),
            now + 1,
        );
        assert_eq!(
            fired.len(),
            1,
            "the window rule counts both profiled events"
        );
        // The event's own traits win over the stored profile's.
        let mut free = event("A");
        free.traits.insert("plan".into(), json!("free"));
        assert!(index
            .route_profiled(&free, None, Some(&profile), now)
            .firings
            .is_empty());
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
        assert!(index
            .apply_event(&mut states, &event("A"), Facts::default(), now)
            .is_empty());
        assert_eq!(next_deadline(&states), Some(now + 60_000));
        assert!(index.apply_time(&mut states, now + 59_999).is_empty());
        let fired = index.apply_time(&mut states, now + 60_000);
        assert_eq!(fired.len(), 1);
        assert!(states.is_empty());
        assert_eq!(next_deadline(&states), None);
        // A state whose rule disappeared is dropped, never fired.
        index.apply_event(&mut states, &event("A"), Facts::default(), now);
        let empty = RuleIndex::build(Vec::new(), 2);
        assert!(empty.apply_time(&mut states, now + 120_000).is_empty());
        assert!(states.is_empty());
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod index_tests;

#[cfg(test)]
#[path = "segment_tests.rs"]
mod segment_tests;
