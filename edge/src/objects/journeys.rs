//! A person's journey runs inside their `UserState` Durable Object: loading and saving the
//! state, and running spur-core's journey transitions over a delivery.
//!
//! Invariant: the state is one row read and written in the same synchronous stretch as the
//! rule state (no await in between), so a transition is never half-applied; every decision is
//! spur-core's (`journeys::on_event`, `on_time`, `enter`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spur_core::journeys::{self, Facts, JourneyIndex, Output, PersonJourneys};
use spur_core::Event;
use worker::SqlStorage;

use crate::http::error::ApiError;

/// An API entry (`POST /v1/journeys/{id}/enter`) carried by a delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnterRequest {
    /// Journey id.
    pub journey: String,
    /// Journey variables.
    #[serde(default)]
    pub context: Value,
}

/// What an API entry came to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entered {
    /// Whether a run started.
    pub entered: bool,
    /// The run's sequence number for this person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<u64>,
    /// Why not (stable code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Deserialize)]
struct TextRow {
    value: String,
}

const KEY: &str = "journeys";

/// The person's journeys (empty when none stored, or unreadable — logged by the caller).
pub fn load(sql: &SqlStorage) -> Result<PersonJourneys, ApiError> {
    let rows: Vec<TextRow> = sql
        .exec("SELECT value FROM meta WHERE key = ?", vec![KEY.into()])?
        .to_array()?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| serde_json::from_str(&r.value).ok())
        .unwrap_or_default())
}

/// Writes the person's journeys back when they changed.
pub fn save(
    sql: &SqlStorage,
    before: &PersonJourneys,
    after: &PersonJourneys,
) -> Result<(), ApiError> {
    if before == after {
        return Ok(());
    }
    let text = serde_json::to_string(after).map_err(|e| ApiError::Internal(e.to_string()))?;
    sql.exec(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        vec![KEY.into(), text.into()],
    )?;
    Ok(())
}

fn extend(into: &mut Output, more: Output) {
    into.effects.extend(more.effects);
    into.ticks.extend(more.ticks);
}

/// Runs the fresh events, an optional API entry, then due timers, at `at`, with the person's
/// `facts`: event matchers see the profile beneath the events' traits, and conditions that read
/// `segments.<id>` ask for the membership only when they are evaluated.
pub fn step(
    index: &JourneyIndex,
    person: &mut PersonJourneys,
    user: &str,
    events: &[&Event],
    enter: Option<&EnterRequest>,
    facts: Facts<'_>,
    at: i64,
) -> (Output, Option<Entered>) {
    let mut out = Output::default();
    for e in events {
        let o = journeys::on_event(index, person, user, e, facts, at);
        extend(&mut out, o);
    }
    let entered = enter.map(|req| {
        match journeys::enter(
            index,
            person,
            user,
            &req.journey,
            Value::Null,
            req.context.clone(),
            facts,
            at,
        ) {
            Ok(o) => {
                extend(&mut out, o);
                // `enter` numbered the run it started: the latest entry's sequence number.
                let run = person
                    .history
                    .get(&req.journey)
                    .and_then(|h| h.entries.checked_sub(1));
                Entered {
                    entered: true,
                    run,
                    reason: None,
                }
            }
            Err(r) => Entered {
                entered: false,
                run: None,
                reason: Some(r.code().to_owned()),
            },
        }
    });
    extend(&mut out, journeys::on_time(index, person, user, facts, at));
    (out, entered)
}
