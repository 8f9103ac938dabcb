//! Dry-run: replaying stored events through a journey as if it had been live.
//!
//! Invariant: the replay runs the very transitions the Durable Object runs (`on_event`,
//! `on_time`) on a fresh state per person, with the events' own times as the clock, so its
//! counts are what the live journey would have produced over those events.

use std::collections::BTreeMap;

use serde::Serialize;

use super::index::JourneyIndex;
use super::run::{on_event, on_time};
use super::state::PersonJourneys;
use crate::rules::facts::Facts;
use crate::Event;

/// What a journey would have done over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// People with at least one event.
    pub people: usize,
    /// Runs entered (holdout runs included).
    pub entered: usize,
    /// Of which holdout runs.
    pub holdout: usize,
    /// Runs that met the goal.
    pub converted: usize,
    /// Actions that would have been sent.
    pub actions: usize,
    /// Visits per node id.
    pub nodes: BTreeMap<String, usize>,
    /// Runs still waiting at the end of the period.
    pub waiting: usize,
}

/// Replays `events` (any order; sorted here by time) through the index's journey `id`, up to
/// `to` (ms since 1970).
pub fn dry_run(index: &JourneyIndex, id: &str, events: &[Event], to: i64) -> DryRun {
    let mut by_person: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_person.entry(e.identity()).or_default().push(e);
    }
    let mut out = DryRun {
        people: by_person.len(),
        ..DryRun::default()
    };
    for (user, mut evs) in by_person {
        evs.sort_by_key(|e| e.timestamp);
        let mut person = PersonJourneys::default();
        let mut outputs = Vec::new();
        for e in evs {
            outputs.push(on_event(index, &mut person, user, e, Facts::default(), to));
        }
        outputs.push(on_time(index, &mut person, user, Facts::default(), to));
        for o in &outputs {
            out.actions += o.effects.iter().filter(|e| e.journey == id).count();
            for t in o.ticks.iter().filter(|t| t.journey == id) {
                match t.what {
                    "entered" => {
                        out.entered += 1;
                        out.holdout += usize::from(t.holdout);
                    }
                    "converted" => out.converted += 1,
                    "visited" => *out.nodes.entry(t.node.clone()).or_default() += 1,
                    _ => {}
                }
            }
        }
        out.waiting += person.active(id).len();
    }
    out
}
