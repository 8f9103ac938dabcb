//! Published journeys compiled once and indexed by the event names they react to.
//!
//! Invariant: an event meets only the journeys that name it (trigger, wait or goal) or `*`;
//! each published journey is compiled exactly once when the index is built, and a stored
//! journey that no longer compiles is skipped and reported, never run.

use std::collections::HashMap;

use crate::rules::condition::Engine;

use super::compile::{compile, CompiledJourney};
use super::error::JourneyError;
use super::model::Journey;
use super::window::{FixedZones, Zones};
use crate::rules::event_key;
use crate::Event;

/// The published journeys.
#[derive(Debug)]
pub struct JourneyIndex {
    engine: Engine,
    journeys: Vec<CompiledJourney>,
    by_id: HashMap<String, usize>,
    by_event: HashMap<String, Vec<usize>>,
    any: Vec<usize>,
    version: u64,
    skipped: Vec<(String, JourneyError)>,
    zones: Box<dyn Zones>,
}

impl Default for JourneyIndex {
    fn default() -> Self {
        JourneyIndex::build(Vec::new(), 0)
    }
}

impl JourneyIndex {
    /// Compiles published journeys, given as (document, revision). `version` identifies the set.
    pub fn build(journeys: impl IntoIterator<Item = (Journey, u64)>, version: u64) -> Self {
        let engine = Engine::new();
        let mut index = JourneyIndex {
            engine: Engine::new(),
            journeys: Vec::new(),
            by_id: HashMap::new(),
            by_event: HashMap::new(),
            any: Vec::new(),
            version,
            skipped: Vec::new(),
            zones: Box::new(FixedZones),
        };
        for (journey, revision) in journeys {
            let id = journey.id.clone();
            match compile(&engine, journey, revision) {
                Ok(c) => {
                    let i = index.journeys.len();
                    for name in c.event_names() {
                        if name == "*" {
                            index.any.push(i);
                        } else {
                            index.by_event.entry(name.to_owned()).or_default().push(i);
                        }
                    }
                    index.by_id.insert(id, i);
                    index.journeys.push(c);
                }
                Err(e) => index.skipped.push((id, e)),
            }
        }
        index.engine = engine;
        index
    }

    /// Resolves time zones for `time_window` nodes with `zones` (default: [`FixedZones`], which
    /// knows only UTC and fixed offsets).
    pub fn with_zones(mut self, zones: Box<dyn Zones>) -> Self {
        self.zones = zones;
        self
    }

    /// The time-zone oracle.
    pub fn zones(&self) -> &dyn Zones {
        self.zones.as_ref()
    }

    /// The engine the conditions were compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The set's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Journeys that did not compile.
    pub fn skipped(&self) -> &[(String, JourneyError)] {
        &self.skipped
    }

    /// How many journeys are live.
    pub fn len(&self) -> usize {
        self.journeys.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.journeys.is_empty()
    }

    /// A journey by id.
    pub fn get(&self, id: &str) -> Option<&CompiledJourney> {
        self.by_id.get(id).and_then(|i| self.journeys.get(*i))
    }

    /// Every journey.
    pub fn iter(&self) -> impl Iterator<Item = &CompiledJourney> {
        self.journeys.iter()
    }

    /// The journeys that name this event key (or `*`), each once.
    pub fn candidates(&self, key: &str) -> Vec<&CompiledJourney> {
        let mut ids: Vec<usize> = self
            .by_event
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .chain(self.any.iter())
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|i| self.journeys.get(i))
            .collect()
    }

    /// Whether a journey this event can meet reads profile traits in an event matcher: only
    /// then does the person's object load the stored profile.
    pub fn needs_profile(&self, event: &Event) -> bool {
        !self.journeys.is_empty()
            && self
                .candidates(&event_key(event))
                .iter()
                .any(|j| j.reads_profile())
    }

    /// Whether some published journey reads live segment membership (`segments.<id>`): only
    /// then does the person's object load the live set and its stored states for journeys.
    pub fn reads_segments(&self) -> bool {
        self.journeys.iter().any(CompiledJourney::reads_segments)
    }

    /// Whether the person's object must see this event: a journey names it, or it is an
    /// `identify` (its traits feed branch conditions).
    pub fn needs(&self, event: &Event) -> bool {
        if self.journeys.is_empty() {
            return false;
        }
        let key = event_key(event);
        key == "$identify" || !self.any.is_empty() || self.by_event.contains_key(key.as_ref())
    }
}
