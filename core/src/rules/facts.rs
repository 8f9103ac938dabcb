//! What conditions may read about a person beyond the event and the rule or journey state:
//! the stored profile traits and the live segment membership. Rules and journeys take them as
//! one value, [`Facts`], so each transition has one entry point whatever the caller knows.
//!
//! Invariant: a fact that is absent reads as it always did without it — no profile: the
//! event's own traits only; no membership: `segments.<id>` reads `null` — and membership is a
//! function of time that a transition calls only when a condition it evaluates reads
//! `segments.<id>`, so a caller may make it as lazy as it likes (the person's object reads its
//! stored live states only on the first call).

use serde_json::{Map, Value};

/// The person's live segment membership at a time (segment id → member), which conditions
/// read as `segments.<id>`: the person's object builds it from the states the live upkeep last
/// observed (`LiveSet::membership`).
pub type Membership<'a> = &'a dyn Fn(i64) -> Map<String, Value>;

/// The person's facts from outside the event (default: none, as in dry-runs and tests).
#[derive(Clone, Copy, Default)]
pub struct Facts<'a> {
    /// The person's stored profile traits, which event conditions see beneath the event's own
    /// traits (the event's keys win).
    pub profile: Option<&'a Map<String, Value>>,
    /// The person's live segment membership: event conditions see it at the event's time,
    /// journey branches at the time they are taken. `None`: `segments.<id>` reads `null`.
    pub segments: Option<Membership<'a>>,
}

impl<'a> Facts<'a> {
    /// Only the stored profile traits.
    pub fn profile(profile: Option<&'a Map<String, Value>>) -> Self {
        Facts {
            profile,
            segments: None,
        }
    }

    /// Only the live segment membership.
    pub fn segments(segments: Membership<'a>) -> Self {
        Facts {
            profile: None,
            segments: Some(segments),
        }
    }
}

impl std::fmt::Debug for Facts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts")
            .field("profile", &self.profile)
            .field("segments", &self.segments.map(|_| "…"))
            .finish()
    }
}
