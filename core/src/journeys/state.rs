//! A person's journey state, as their Durable Object stores it, and what a transition outputs.
//!
//! Invariant: a person has at most `entry.maxActive` (default 1) active [`Run`]s per journey,
//! kept in entry order; a run's `done` lists every
//! node it executed (so, the graph being acyclic, none executes twice); an ended run leaves
//! `runs` for the bounded `history` in the same transition, so no run is ever lost or duplicated.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::model::JourneyAction;
use crate::limits::{MAX_ENDED_RUNS, MAX_RUN_PATH};

/// One person's journeys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonJourneys {
    /// Profile traits as journeys see them (from `identify` events and set-traits actions).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub traits: Map<String, Value>,
    /// Active runs by journey id, oldest first (never an empty list).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "runs_or_legacy"
    )]
    pub runs: BTreeMap<String, Vec<Run>>,
    /// Entries and recently ended runs, by journey id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub history: BTreeMap<String, History>,
}

impl PersonJourneys {
    /// The earliest time a run must be woken (the Durable Object's alarm), if any.
    pub fn next_wake(&self) -> Option<i64> {
        self.runs.values().flatten().filter_map(|r| r.wake_at).min()
    }

    /// The person's active runs of journey `id`, oldest first.
    pub fn active(&self, id: &str) -> &[Run] {
        self.runs.get(id).map_or(&[], Vec::as_slice)
    }

    /// Removes run `k` of journey `id` from the active ones.
    pub(crate) fn take(&mut self, id: &str, k: usize) -> Option<Run> {
        let runs = self.runs.get_mut(id)?;
        let run = (k < runs.len()).then(|| runs.remove(k));
        if runs.is_empty() {
            self.runs.remove(id);
        }
        run
    }

    /// Puts a run back among the active ones (in entry order), or into history once it ended.
    pub(crate) fn settle(&mut self, id: &str, run: Run) {
        if run.ended.is_some() {
            self.history.entry(id.to_owned()).or_default().keep(run);
        } else {
            let runs = self.runs.entry(id.to_owned()).or_default();
            let at = runs.partition_point(|r| r.seq < run.seq);
            runs.insert(at, run);
        }
    }
}

/// Reads `runs` as stored now (a list per journey) or before `maxActive` (one run per journey).
/// Each value is read as what it is (a list or an object), without buffering it first.
fn runs_or_legacy<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<Run>>, D::Error> {
    struct Stored(Vec<Run>);
    impl<'de> Deserialize<'de> for Stored {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(StoredVisitor)
        }
    }
    struct StoredVisitor;
    impl<'de> Visitor<'de> for StoredVisitor {
        type Value = Stored;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of runs or one run")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Stored, A::Error> {
            Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Stored)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Stored, A::Error> {
            Run::deserialize(MapAccessDeserializer::new(map)).map(|run| Stored(vec![run]))
        }
    }
    let stored = BTreeMap::<String, Stored>::deserialize(d)?;
    Ok(stored
        .into_iter()
        .map(|(id, Stored(runs))| (id, runs))
        .filter(|(_, runs)| !runs.is_empty())
        .collect())
}

/// A person's past with one journey.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// How many runs were started (the next run's sequence number).
    pub entries: u64,
    /// When the latest run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_entered: Option<i64>,
    /// The latest ended runs, oldest first (at most `MAX_ENDED_RUNS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ended: Vec<Run>,
}

impl History {
    /// Keeps an ended run, dropping the oldest beyond the bound.
    pub fn keep(&mut self, run: Run) {
        self.ended.push(run);
        let extra = self.ended.len().saturating_sub(MAX_ENDED_RUNS);
        self.ended.drain(..extra);
    }
}

/// One run of one journey for one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Sequence number of this run for this person and journey (from 0).
    pub seq: u64,
    /// The revision it last ran under.
    pub revision: u64,
    /// The node it waits at (or ended at).
    pub node: String,
    /// When it entered the journey.
    pub entered_at: i64,
    /// When it must be woken (a delay or wait timeout), if waiting on time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<i64>,
    /// A holdout run: goes through the journey, sends nothing.
    #[serde(default)]
    pub holdout: bool,
    /// The trigger event (Segment JSON), or `null` for an API entry.
    pub trigger: Value,
    /// The latest waking event, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// Journey variables (an API entry's `context`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub vars: Value,
    /// When the goal was met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_at: Option<i64>,
    /// Executed nodes, in order.
    #[serde(default)]
    pub done: Vec<String>,
    /// What happened, node by node (for explain; bounded).
    #[serde(default)]
    pub path: Vec<PathStep>,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ended>,
}

impl Run {
    /// Records a step, dropping the oldest beyond the bound.
    pub fn step(&mut self, node: &str, at: i64, outcome: impl Into<String>, read: Option<Value>) {
        self.path.push(PathStep {
            node: node.to_owned(),
            at,
            outcome: outcome.into(),
            read,
        });
        let extra = self.path.len().saturating_sub(MAX_RUN_PATH);
        self.path.drain(..extra);
    }
}

/// One step of a run's path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathStep {
    /// Node id.
    pub node: String,
    /// When (ms since 1970).
    pub at: i64,
    /// What happened: `waiting`, `event`, `timeout`, `branch:<i>`, `else`, `split:<i>`,
    /// `sent`, `held_out`, `exit`, `goal`.
    pub outcome: String,
    /// For a branch: the values its conditions read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Value>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ended {
    /// When.
    pub at: i64,
    /// Stable reason: `exit`, `goal`, `node_removed`, `node_changed`, `journey_removed`,
    /// `revisited`.
    pub reason: String,
}

/// An action to perform, with its idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    /// `<journey>:<run seq>:<node>:<user>` — the same however often the transition is replayed.
    pub key: String,
    /// Journey id.
    pub journey: String,
    /// Run sequence number.
    pub run: u64,
    /// Node id.
    pub node: String,
    /// When the node ran (ms since 1970).
    pub at: i64,
    /// What to do.
    pub action: JourneyAction,
    /// The trigger event, for webhook and forward payloads.
    pub trigger: Value,
    /// For an email: what its templates see (`crate::email::journey_context`), taken when
    /// the node ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
}

/// A countable moment, for per-node stats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    /// Journey id.
    pub journey: String,
    /// Node id (`""` for journey-level ticks).
    pub node: String,
    /// `entered`, `visited`, `exited`, `converted`.
    pub what: &'static str,
    /// Whether the run is a holdout run.
    pub holdout: bool,
}

/// What a transition produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Output {
    /// Actions to send (never for holdout runs).
    pub effects: Vec<Effect>,
    /// Counts for stats.
    pub ticks: Vec<Tick>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = r#"{"seq":0,"revision":2,"node":"wait","enteredAt":5,"wakeAt":9,"holdout":false,"trigger":{"event":"Buy"},"done":["start"],"path":[{"node":"start","at":5,"outcome":"entered"}]}"#;

    #[test]
    fn runs_read_as_lists_and_as_one_legacy_run_in_any_key_order() {
        let now = format!(r#"{{"runs":{{"a":[{RUN},{RUN}],"b":[]}}}}"#);
        let p: PersonJourneys = serde_json::from_str(&now).unwrap();
        assert_eq!(p.active("a").len(), 2);
        assert!(!p.runs.contains_key("b"), "an empty list is dropped");
        let legacy = format!(r#"{{"history":{{}},"runs":{{"a":{RUN}}},"traits":{{"x":1}}}}"#);
        let old: PersonJourneys = serde_json::from_str(&legacy).unwrap();
        assert_eq!(old.active("a"), &p.active("a")[..1]);
        assert_eq!(old.next_wake(), Some(9));
        let back = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PersonJourneys>(&back).unwrap(), p);
        let bad = serde_json::from_str::<PersonJourneys>(r#"{"runs":{"a":3}}"#).unwrap_err();
        assert!(bad.to_string().contains("a list of runs or one run"));
    }
}
