//! The journey document, as admins write it (JSON, camelCase) and as D1 stores it.
//!
//! Invariant: this is only the shape; a [`Journey`] that deserialized is not yet known to be
//! valid. [`super::compile()`] checks everything else (ids, edges, acyclicity, durations,
//! conditions, actions), so nothing downstream sees an unchecked journey.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::rules::Duration;

/// One journey.
///
/// ```json
/// { "id": "cart-abandonment",
///   "trigger": { "type": "event", "events": ["Product Added"] },
///   "start": "wait",
///   "nodes": [
///     { "id": "wait", "type": "wait_until", "events": ["Order Completed"], "match": "properties.cart_id",
///       "timeout": "30m", "next": "done", "onTimeout": "remind" },
///     { "id": "remind", "type": "action", "action": { "type": "webhook", "url": "https://example.com/h" }, "next": "done" },
///     { "id": "done", "type": "exit" } ],
///   "goal": { "events": ["Order Completed"], "within": "3d" },
///   "holdout": 10 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Journey {
    /// Stable id (`a-z 0-9 _ -`); the admin API's path segment.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Disabled journeys admit no new runs (waiting runs carry on).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What starts a run.
    pub trigger: Trigger,
    /// Who may enter, and how often.
    #[serde(default)]
    pub entry: Entry,
    /// The first node's id.
    pub start: String,
    /// The nodes, each with a stable id.
    pub nodes: Vec<Node>,
    /// The conversion the journey aims at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// Percentage (0–100) of entrants who go through without any action sent, to measure lift.
    #[serde(default)]
    pub holdout: u8,
}

fn yes() -> bool {
    true
}

/// What starts a run. Segment entry (audiences) slots in as another variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// An event (by name) meeting an optional JSONLogic condition, as rules' triggers.
    Event {
        /// Event names; any of them matches.
        events: Vec<String>,
        /// JSONLogic over the event; absent means always true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        condition: Option<Value>,
    },
    /// Only `POST /v1/journeys/{id}/enter`.
    Api,
}

/// How often a person may enter, and how many of their runs may be active at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    /// The policy.
    #[serde(default)]
    pub policy: EntryPolicy,
    /// For [`EntryPolicy::Interval`]: the least time between two entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Most runs of this journey a person may have active at once (absent: 1), e.g. one per
    /// order when each waits for its own `order_id`. An entry beyond it is refused
    /// (`already_active`); with `after_exit` a person enters again while fewer are active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active: Option<u32>,
}

impl Entry {
    /// The bound on active runs (1 unless configured).
    pub fn max_active(&self) -> usize {
        self.max_active.map_or(1, |n| n as usize)
    }
}

/// Entry policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryPolicy {
    /// Once per person, ever.
    Once,
    /// Again once the previous run ended (or, with `maxActive` > 1, while fewer than that
    /// many are active).
    #[default]
    AfterExit,
    /// Again once the previous run ended and `interval` passed since the previous entry.
    Interval,
}

/// A conversion: one of `events` (meeting `condition`) within `within` of entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Goal {
    /// Event names.
    pub events: Vec<String>,
    /// JSONLogic over the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
    /// How long after entry a conversion counts.
    pub within: Duration,
    /// Whether converting ends the run (default) or the run carries on to its end.
    #[serde(default = "yes")]
    pub exit_on_goal: bool,
}

/// One node: a stable id and what it does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Stable id (`a-z 0-9 _ -`); waiting runs follow it into new revisions.
    pub id: String,
    /// What the node does.
    #[serde(flatten)]
    pub kind: NodeKind,
}

/// Node types.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    /// Wait `for`, then go to `next`.
    Delay {
        /// How long.
        #[serde(rename = "for")]
        wait: Duration,
        /// The next node.
        next: String,
    },
    /// Wait for one of `events`; on one go to `next`, after `timeout` go to `onTimeout`.
    WaitUntil {
        /// Event names.
        events: Vec<String>,
        /// JSONLogic over the waking event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        condition: Option<Value>,
        /// A path (`properties.order_id`) whose value must equal the trigger event's.
        #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
        matches: Option<String>,
        /// How long to wait.
        timeout: Duration,
        /// Where an arriving event leads.
        next: String,
        /// Where the timeout leads.
        #[serde(rename = "onTimeout")]
        on_timeout: String,
    },
    /// Go on to `next` only inside a window of local time (quiet hours): at once when inside,
    /// else at the next opening.
    TimeWindow {
        /// Weekdays it opens on (`"mon"` … `"sun"`); all when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        days: Option<Vec<String>>,
        /// Opens at `HH:MM` local time.
        from: String,
        /// Closes at `HH:MM` (exclusive; at or before `from`: the next day).
        to: String,
        /// `"person"` (the event's `context.timezone`, else UTC), an IANA name or `±HH:MM`.
        timezone: String,
        /// The next node.
        next: String,
    },
    /// The first condition that holds picks its `next`; none: `else`.
    Branch {
        /// Ordered conditions over `trigger.*`, `event.*`, `traits.*`, `vars.*`.
        branches: Vec<BranchArm>,
        /// Where the run goes when no condition holds.
        #[serde(rename = "else")]
        otherwise: String,
    },
    /// Sticky random split: a person always takes the same path (hash of person, journey, node).
    Split {
        /// Paths with integer percentages summing to 100.
        paths: Vec<SplitPath>,
    },
    /// Perform an action (none for holdout runs), then go to `next`.
    Action {
        /// What to do.
        action: JourneyAction,
        /// The next node.
        next: String,
    },
    /// The run ends.
    Exit,
}

/// One ordered branch condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BranchArm {
    /// JSONLogic.
    pub condition: Value,
    /// Where the run goes when it holds.
    pub next: String,
}

/// One split path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SplitPath {
    /// Share of people, in percent.
    pub percent: u8,
    /// Where they go.
    pub next: String,
}

/// What an action node does: the rule actions, plus setting profile traits.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum JourneyAction {
    /// POST a signed JSON payload, as a rule's webhook.
    Webhook {
        /// `http(s)` URL.
        url: String,
    },
    /// An in-app message, as a rule's.
    Message {
        /// Title.
        title: String,
        /// Body.
        body: String,
        /// Optional link.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Send the trigger event to a queue binding, as a rule's forward.
    Forward {
        /// The binding.
        queue: String,
    },
    /// Record a `track` event for the person (for funnels and insight on journey steps). It is
    /// stored like any event but never triggers rules or journeys, so journeys cannot loop.
    Emit {
        /// The event name.
        event: String,
        /// Its properties (the journey, node and run are added).
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        properties: Map<String, Value>,
    },
    /// A Web Push notification, as a rule's `push` action.
    Push {
        /// Title.
        title: String,
        /// Body.
        body: String,
        /// Optional link.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// How long the push service keeps it (default `1d`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<crate::rules::Duration>,
        /// RFC 8030 urgency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        urgency: Option<crate::push::Urgency>,
        /// RFC 8030 topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// An email, as a rule's `email` action; its templates also see the run's `vars` and the
    /// person's profile `traits` (see `crate::email::journey_context`).
    Email(crate::rules::EmailAction),
    /// Merge these traits into the person's profile traits (later branches read them).
    SetTraits {
        /// Traits to merge.
        traits: Map<String, Value>,
    },
}

impl JourneyAction {
    /// The rule action it maps to, for the shared actions pipeline (`None`: set traits and
    /// emit, which the journey runtime and the events queue carry out).
    pub fn as_rule_action(&self) -> Option<crate::rules::Action> {
        use crate::rules::Action;
        match self {
            JourneyAction::Webhook { url } => Some(Action::Webhook { url: url.clone() }),
            JourneyAction::Message { title, body, url } => Some(Action::Message {
                title: title.clone(),
                body: body.clone(),
                url: url.clone(),
            }),
            JourneyAction::Forward { queue } => Some(Action::Forward {
                queue: queue.clone(),
            }),
            JourneyAction::Push {
                title,
                body,
                url,
                ttl,
                urgency,
                topic,
            } => Some(Action::Push {
                title: title.clone(),
                body: body.clone(),
                url: url.clone(),
                ttl: *ttl,
                urgency: *urgency,
                topic: topic.clone(),
            }),
            JourneyAction::Email(email) => Some(Action::Email(email.clone())),
            JourneyAction::SetTraits { .. } | JourneyAction::Emit { .. } => None,
        }
    }
}

impl NodeKind {
    /// The type as written.
    pub const fn kind(&self) -> &'static str {
        match self {
            NodeKind::Delay { .. } => "delay",
            NodeKind::WaitUntil { .. } => "wait_until",
            NodeKind::TimeWindow { .. } => "time_window",
            NodeKind::Branch { .. } => "branch",
            NodeKind::Split { .. } => "split",
            NodeKind::Action { .. } => "action",
            NodeKind::Exit => "exit",
        }
    }

    /// Every outgoing edge, as (edge name, target).
    pub fn edges(&self) -> Vec<(String, &str)> {
        match self {
            NodeKind::Delay { next, .. }
            | NodeKind::Action { next, .. }
            | NodeKind::TimeWindow { next, .. } => {
                vec![("next".into(), next.as_str())]
            }
            NodeKind::WaitUntil {
                next, on_timeout, ..
            } => vec![
                ("next".into(), next.as_str()),
                ("onTimeout".into(), on_timeout.as_str()),
            ],
            NodeKind::Branch {
                branches,
                otherwise,
            } => branches
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("branches/{i}/next"), b.next.as_str()))
                .chain([("else".to_owned(), otherwise.as_str())])
                .collect(),
            NodeKind::Split { paths } => paths
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("paths/{i}/next"), p.next.as_str()))
                .collect(),
            NodeKind::Exit => Vec::new(),
        }
    }
}
