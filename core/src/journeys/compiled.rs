//! What a checked journey compiles to: its nodes as indices into one vector, its matchers
//! compiled, and what it reads (profile traits, live segments, event names) worked out once.
//!
//! Invariant: a [`CompiledJourney`] only comes from [`super::compile()`], so its graph is
//! closed, acyclic and reachable from `start` (see there); the readers here never check again.

use std::collections::{BTreeMap, HashMap};

use super::model::{Duration, Journey, JourneyAction};
use super::window::Window;
use crate::rules::compile::CompiledMatcher;
use crate::rules::condition::Condition;

/// A compiled node.
#[derive(Debug)]
pub enum CompiledNode {
    /// Wait, then `next`.
    Delay {
        /// How long.
        wait: Duration,
        /// Next node index.
        next: usize,
    },
    /// Wait for an event or the timeout.
    WaitUntil {
        /// The waking events.
        matcher: CompiledMatcher,
        /// Path segments whose value must equal the trigger event's.
        matches: Option<Vec<String>>,
        /// Timeout.
        timeout: Duration,
        /// On an event.
        next: usize,
        /// On the timeout.
        on_timeout: usize,
    },
    /// Go on only inside a window of local time.
    TimeWindow {
        /// Days and minutes.
        window: Window,
        /// `None`: the person's zone (the event's `context.timezone`).
        zone: Option<String>,
        /// Next node index.
        next: usize,
    },
    /// Ordered conditions.
    Branch {
        /// (condition, next).
        arms: Vec<(Condition, usize)>,
        /// When none holds.
        otherwise: usize,
    },
    /// Sticky split: (cumulative percent upper bound, next).
    Split {
        /// Paths by cumulative percentage.
        paths: Vec<(u8, usize)>,
    },
    /// An action.
    Action {
        /// What.
        action: JourneyAction,
        /// Next node index.
        next: usize,
    },
    /// The end.
    Exit,
}

/// A journey ready to run.
#[derive(Debug)]
pub struct CompiledJourney {
    /// The document it came from.
    pub journey: Journey,
    /// The published revision number.
    pub revision: u64,
    /// The trigger matcher (`None`: API only).
    pub trigger: Option<CompiledMatcher>,
    /// The goal matcher.
    pub goal: Option<CompiledMatcher>,
    /// Nodes, in document order.
    pub nodes: Vec<CompiledNode>,
    /// Node id → index.
    pub ids: HashMap<String, usize>,
    /// Index of `start`.
    pub start: usize,
    /// Longest time a run can take from entry to its end (sum of waits on the longest path).
    pub max_span_ms: i64,
    /// Whether a condition reads `segments.<id>` (worked out once, at compile).
    pub(super) reads_segments: bool,
}

impl CompiledJourney {
    /// The id.
    pub fn id(&self) -> &str {
        &self.journey.id
    }

    /// Node id at an index.
    pub fn node_id(&self, i: usize) -> &str {
        self.journey.nodes.get(i).map_or("", |n| n.id.as_str())
    }

    /// Whether an event matcher of the journey (trigger, waits, goal) reads profile traits
    /// (branch conditions read the journey's own `traits`, kept in the person's object).
    pub fn reads_profile(&self) -> bool {
        let reads =
            |m: &CompiledMatcher| m.condition.as_ref().is_some_and(Condition::reads_profile);
        self.trigger.iter().chain(self.goal.iter()).any(reads)
            || self.nodes.iter().any(|n| match n {
                CompiledNode::WaitUntil { matcher, .. } => reads(matcher),
                _ => false,
            })
    }

    /// The live segments its conditions read (`segments.<id>` in the trigger, waits, goal or
    /// branches), each with the JSON pointer of the first condition that reads it; sorted by
    /// id. The admin API checks each is a live segment; the person's object works out
    /// membership only for journeys that read some.
    pub fn segments(&self) -> Vec<(String, String)> {
        let matcher = |m: &CompiledMatcher| m.condition.as_ref().map(Condition::segments);
        let mut found: BTreeMap<String, String> = BTreeMap::new();
        let mut note = |ids: Vec<String>, at: String| {
            for id in ids {
                found.entry(id).or_insert_with(|| at.clone());
            }
        };
        if let Some(ids) = self.trigger.as_ref().and_then(matcher) {
            note(ids, "/trigger/condition".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            match n {
                CompiledNode::WaitUntil { matcher: m, .. } => {
                    if let Some(ids) = matcher(m) {
                        note(ids, format!("/nodes/{i}/condition"));
                    }
                }
                CompiledNode::Branch { arms, .. } => {
                    for (j, (c, _)) in arms.iter().enumerate() {
                        note(c.segments(), format!("/nodes/{i}/branches/{j}/condition"));
                    }
                }
                _ => {}
            }
        }
        if let Some(ids) = self.goal.as_ref().and_then(matcher) {
            note(ids, "/goal/condition".into());
        }
        found.into_iter().collect()
    }

    /// Whether some condition of the journey reads live segment membership.
    pub fn reads_segments(&self) -> bool {
        self.reads_segments
    }

    /// Every event name the journey reacts to (trigger, waits, goal).
    pub fn event_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for m in self.trigger.iter().chain(self.goal.iter()) {
            names.extend(m.events.iter().map(String::as_str));
        }
        for n in &self.nodes {
            if let CompiledNode::WaitUntil { matcher, .. } = n {
                names.extend(matcher.events.iter().map(String::as_str));
            }
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}
