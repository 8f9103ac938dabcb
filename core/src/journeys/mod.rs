//! Journeys: multi-step engagement — a trigger (event or API), then delays, waits for events
//! with timeouts, branches, sticky splits and actions, with a goal and a holdout group.
//!
//! Invariant: everything here is pure — `now`, the person and stored state come in as
//! arguments — so the per-person Durable Object, the native tests with a simulated clock and
//! explain run the same code and agree. A journey is an acyclic graph (checked on save), so no
//! run executes a node twice, and every wait is bounded, so every run ends within
//! [`CompiledJourney::max_span_ms`] of entry. Every action carries the idempotency key
//! `(journey, run, node)`, so a redelivered action is never sent twice. Live segment
//! membership (`segments.<id>`) comes in as a function of time ([`Membership`]), read at the
//! event's time by matchers and at the step's time by branches; it and the stored profile
//! come in together as the person's [`Facts`] (none in dry-runs).
//!
//! ```
//! use spur_core::journeys::{parse, Facts, JourneyIndex, PersonJourneys, enter};
//! let j = parse(r#"{"id": "welcome", "trigger": {"type": "api"}, "start": "hi",
//!   "nodes": [{"id": "hi", "type": "action", "next": "bye",
//!              "action": {"type": "webhook", "url": "https://hooks.example.com/j"}},
//!             {"id": "bye", "type": "exit"}]}"#)?;
//! let index = JourneyIndex::build([(j, 1)], 1);
//! let mut person = PersonJourneys::default();
//! let out = enter(&index, &mut person, "u1", "welcome", serde_json::Value::Null,
//!     serde_json::Value::Null, Facts::default(), 0).unwrap();
//! assert_eq!(out.effects[0].key, "welcome:0:hi:u1");
//! # Ok::<(), spur_core::journeys::JourneyError>(())
//! ```

pub mod compile;
mod compiled;
pub mod deliver;
pub mod error;
pub mod hash;
pub mod index;
pub mod lift;
pub mod model;
mod model_de;
pub mod reads;
pub mod replay;
pub mod run;
pub mod state;
pub mod window;

pub use crate::rules::facts::{Facts, Membership};
pub use compile::{compile, parse, valid_id, CompiledJourney, CompiledNode};
pub use error::{JourneyError, JourneyErrorKind};
pub use hash::{percentile, sticky_hash};
pub use index::JourneyIndex;
pub use model::{Journey, JourneyAction, Node, NodeKind, Trigger};
pub use run::{enter, on_event, on_time, Refusal};
pub use state::{Effect, Ended, History, Output, PathStep, PersonJourneys, Run, Tick};
pub use window::{FixedZones, Zones};

#[cfg(test)]
mod active_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod segment_tests;
#[cfg(test)]
mod tests;
