//! The tracking plan: which events exist and what their `properties` / `traits` look like.
//!
//! Invariant: a plan is compiled once ([`CompiledPlan::compile`]) and every schema in it is
//! checked against its JSON Schema metaschema then; judging an event ([`CompiledPlan::check`])
//! cannot fail, reads no files or URLs (remote `$ref`s are refused at compile time), and gives
//! the same verdict, with violations in the same order, for the same event.
//!
//! ```json
//! {
//!   "mode": "flag",
//!   "unknownEvents": "allow",
//!   "events": {
//!     "Order Completed": {
//!       "mode": "block",
//!       "properties": { "type": "object", "required": ["total"],
//!                       "properties": { "total": { "type": "number" } } }
//!     }
//!   },
//!   "identify": { "traits": { "type": "object", "properties": { "email": { "type": "string", "format": "email" } } } }
//! }
//! ```
//! Schemas are checked by Spur's own validator (`plan/schema.rs`): a documented subset of JSON
//! Schema draft 2020-12 in which `format` is asserted, since a plan that says
//! `"format": "email"` means it. A schema using a keyword outside the subset is refused when the
//! plan is loaded or saved (`invalid_schema`, naming the keyword), never silently ignored.
//!
//! Outcomes: `allow` skips validation; `flag` keeps a failing event and records its violations
//! in `context.spur.violations` (at most [`limits::MAX_VIOLATIONS`], each
//! `{pointer, keyword, message}`, plus `context.spur.violationCount`); `block` rejects it with
//! `plan_violation` and a detail naming the first failing JSON pointer. A `track` event the
//! plan does not name is rejected with `unknown_event` when `unknownEvents` is `block`.
//! `page`, `screen` and `alias` calls are not checked.
//!
//! Why not a general validator: boon (the leaner maintained one) cost ≈ 160 KB gzip of the
//! Worker, mostly the `regex` crate it shares with nothing else; the subset here uses
//! `regex-lite` for `pattern` and is checked against boon in `core/tests/schema_diff.rs`.

mod schema;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ConfigError, Reason};
use crate::event::{Event, MessageType, Object};
use crate::limits;

/// What happens to an event that breaks its schema.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Do not validate.
    Allow,
    /// Store the event and record its violations.
    #[default]
    Flag,
    /// Reject the event to bad rows.
    Block,
}

/// What happens to a `track` event whose name the plan does not list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownEvents {
    /// Store it unchecked.
    #[default]
    Allow,
    /// Reject it with `unknown_event`.
    Block,
}

/// A tracking plan as written (in `tracking-plan.json` or through the admin API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrackingPlan {
    /// The mode for every entry that does not set its own.
    #[serde(default)]
    pub mode: Mode,
    /// What to do with `track` events not listed in `events`.
    #[serde(default)]
    pub unknown_events: UnknownEvents,
    /// `track` events by exact name.
    #[serde(default)]
    pub events: BTreeMap<String, EventSpec>,
    /// The schema for `identify` traits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identify: Option<TraitsSpec>,
    /// The schema for `group` traits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<TraitsSpec>,
}

/// One `track` event in the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventSpec {
    /// What the event is for; documentation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Overrides the plan's mode for this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// JSON Schema for `properties`; absent means any properties (the name alone is planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
}

/// The `identify` or `group` entry of the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TraitsSpec {
    /// Overrides the plan's mode for these calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// JSON Schema for `traits`.
    pub traits: Value,
}

impl TrackingPlan {
    /// Parses a plan, with serde's line and column on error.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(json).map_err(|e| ConfigError::Invalid {
            what: "tracking plan",
            detail: e.to_string(),
        })
    }
}

/// One way an event breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Violation {
    /// JSON pointer into the event, e.g. `/properties/items/0/price`.
    pub pointer: String,
    /// The schema keyword that failed (`type`, `required`, `format`, …).
    pub keyword: String,
    /// What was wrong, in the validator's words.
    pub message: String,
}

/// What the plan says about one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Store it as it is.
    Pass,
    /// Store it and record these violations (the list is cut at [`limits::MAX_VIOLATIONS`];
    /// `total` counts them all).
    Flag {
        /// The first violations, sorted by pointer.
        violations: Vec<Violation>,
        /// How many there were in all.
        total: usize,
    },
    /// Reject it.
    Reject(Reason, String),
}

struct Rule {
    mode: Mode,
    schema: Option<schema::Schema>,
}

/// A plan with every schema compiled, ready to judge events.
pub struct CompiledPlan {
    unknown_events: UnknownEvents,
    events: BTreeMap<String, Rule>,
    identify: Option<Rule>,
    group: Option<Rule>,
}

impl std::fmt::Debug for CompiledPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPlan")
            .field(
                "subschemas",
                &self
                    .rules()
                    .filter_map(|r| r.schema.as_ref())
                    .map(schema::Schema::size)
                    .sum::<usize>(),
            )
            .field("unknown_events", &self.unknown_events)
            .field("events", &self.events.keys().collect::<Vec<_>>())
            .field("identify", &self.identify.is_some())
            .field("group", &self.group.is_some())
            .finish()
    }
}

impl CompiledPlan {
    /// Compiles every schema in a plan; an invalid schema is an error naming where it is.
    pub fn compile(plan: &TrackingPlan) -> Result<Self, ConfigError> {
        let add =
            |location: String, schema: Option<&Value>, mode: Mode| -> Result<Rule, ConfigError> {
                let schema = schema
                    .map(schema::Schema::compile)
                    .transpose()
                    .map_err(|detail| ConfigError::InvalidSchema { location, detail })?;
                Ok(Rule { mode, schema })
            };
        let mut events = BTreeMap::new();
        for (name, spec) in &plan.events {
            let rule = add(
                format!("events/{name}/properties"),
                spec.properties.as_ref(),
                spec.mode.unwrap_or(plan.mode),
            )?;
            events.insert(name.clone(), rule);
        }
        let identify = plan
            .identify
            .as_ref()
            .map(|s| {
                add(
                    "identify/traits".into(),
                    Some(&s.traits),
                    s.mode.unwrap_or(plan.mode),
                )
            })
            .transpose()?;
        let group = plan
            .group
            .as_ref()
            .map(|s| {
                add(
                    "group/traits".into(),
                    Some(&s.traits),
                    s.mode.unwrap_or(plan.mode),
                )
            })
            .transpose()?;
        Ok(CompiledPlan {
            unknown_events: plan.unknown_events,
            events,
            identify,
            group,
        })
    }

    fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.events
            .values()
            .chain(self.identify.as_ref())
            .chain(self.group.as_ref())
    }

    /// Parses and compiles a plan in one step.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        Self::compile(&TrackingPlan::from_json(json)?)
    }

    /// Judges one event. Takes `&mut` only to validate `properties` / `traits` in place
    /// (the validator wants a `Value`, and moving the map in and out avoids copying it); the
    /// event is left exactly as it was.
    pub fn check(&self, event: &mut Event) -> Verdict {
        let (rule, field, map) = match event.kind {
            MessageType::Track => {
                let name = event.event.as_deref().unwrap_or_default();
                match self.events.get(name) {
                    Some(rule) => (rule, "properties", &mut event.properties),
                    None if self.unknown_events == UnknownEvents::Block => {
                        return Verdict::Reject(
                            Reason::UnknownEvent,
                            format!("event {name:?} is not in the tracking plan"),
                        )
                    }
                    None => return Verdict::Pass,
                }
            }
            MessageType::Identify => match &self.identify {
                Some(rule) => (rule, "traits", &mut event.traits),
                None => return Verdict::Pass,
            },
            MessageType::Group => match &self.group {
                Some(rule) => (rule, "traits", &mut event.traits),
                None => return Verdict::Pass,
            },
            MessageType::Page | MessageType::Screen | MessageType::Alias => return Verdict::Pass,
        };
        let (Some(schema), Mode::Flag | Mode::Block) = (&rule.schema, rule.mode) else {
            return Verdict::Pass;
        };
        let mut violations = validate_in_place(schema, map, field);
        if violations.is_empty() {
            return Verdict::Pass;
        }
        violations.sort();
        let total = violations.len();
        if rule.mode == Mode::Block {
            let mut detail = violations
                .first()
                .map(|v| format!("`{}` breaks `{}`: {}", v.pointer, v.keyword, v.message))
                .unwrap_or_default();
            if total > 1 {
                detail.push_str(&format!(" (and {} more)", total - 1));
            }
            return Verdict::Reject(Reason::PlanViolation, detail);
        }
        violations.truncate(limits::MAX_VIOLATIONS);
        Verdict::Flag { violations, total }
    }
}

/// Records flagged violations under `context.spur`, replacing any a client sent.
pub fn record_violations(event: &mut Event, violations: &[Violation], total: usize) {
    let spur = event
        .context
        .entry("spur")
        .or_insert_with(|| Value::Object(Object::new()));
    if !spur.is_object() {
        *spur = Value::Object(Object::new());
    }
    if let Value::Object(spur) = spur {
        spur.insert(
            "violations".into(),
            serde_json::to_value(violations).unwrap_or_default(),
        );
        spur.insert("violationCount".into(), Value::from(total));
    }
}

fn validate_in_place(schema: &schema::Schema, map: &mut Object, field: &str) -> Vec<Violation> {
    let value = Value::Object(std::mem::take(map));
    let violations = schema.validate(&value, &format!("/{field}"));
    if let Value::Object(m) = value {
        *map = m;
    }
    violations
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
