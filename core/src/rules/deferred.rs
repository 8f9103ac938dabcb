//! A person's events deferred to the actions queue, packed to the queue's message limit.
//!
//! Invariant: every event given to [`user_events`] or [`live_upkeep`] is in exactly one of the
//! returned messages, in order, and each message's JSON is at most
//! [`limits::WORK_MESSAGE_BYTES`] (under the platform's 128 KB per message) whenever each event
//! is at most [`limits::MAX_STORED_EVENT_BYTES`], which ingest guarantees. A person's events
//! may be many times that (a 500 KB batch from one sender), so one message per person would be
//! refused by the queue — and with it every other message of the same `sendBatch` call.

use super::actions::ActionWork;
use crate::{limits, Event};

/// Room for a message's fields besides its events: the kind, the version, the flags and the
/// person's id (at most [`limits::MAX_ID_CHARS`] characters, each at most 6 bytes escaped).
const ENVELOPE_BYTES: usize = 256 + 6 * limits::MAX_ID_CHARS;

/// `UserEvents` work for one person: their events in as few messages as fit.
pub fn user_events(user: &str, version: u64, events: Vec<Event>) -> Vec<ActionWork> {
    chunks(events)
        .into_iter()
        .map(|events| ActionWork::UserEvents {
            user: user.to_owned(),
            version,
            events,
        })
        .collect()
}

/// `Live` work for one person (live segment upkeep the events consumer could not hand to
/// their object itself): their stored events in as few messages as fit.
pub fn live_upkeep(
    user: &str,
    version: u64,
    anonymous: bool,
    events: Vec<Event>,
) -> Vec<ActionWork> {
    chunks(events)
        .into_iter()
        .map(|events| ActionWork::Live {
            user: user.to_owned(),
            version,
            anonymous,
            events,
        })
        .collect()
}

/// Splits events, in order, into runs whose JSON (with commas) fits a message beside its
/// envelope. A run is never empty; an event alone is never split.
fn chunks(events: Vec<Event>) -> Vec<Vec<Event>> {
    let budget = limits::WORK_MESSAGE_BYTES - ENVELOPE_BYTES;
    let mut out: Vec<Vec<Event>> = Vec::new();
    let mut current: Vec<Event> = Vec::new();
    let mut size = 0usize;
    for e in events {
        // Every field is a JSON value or a string, so encoding cannot fail; were it to, the
        // largest size keeps the event in a run of its own rather than over the limit.
        let len = serde_json::to_string(&e).map_or(budget, |s| s.len()) + 1;
        if !current.is_empty() && size + len > budget {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(e);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(i: usize, pad: usize) -> Event {
        serde_json::from_value(json!({
            "messageId": format!("m{i}"), "type": "track", "event": "Heavy", "userId": "u",
            "properties": {"pad": "x".repeat(pad)}, "traits": {}, "context": {},
            "integrations": {}, "timestamp": "2024-05-01T12:00:00Z",
            "receivedAt": "2024-05-01T12:00:00Z",
        }))
        .unwrap()
    }

    fn sizes(work: &[ActionWork]) -> Vec<usize> {
        work.iter()
            .map(|w| serde_json::to_string(w).unwrap().len())
            .collect()
    }

    #[test]
    fn a_large_run_is_split_under_the_message_limit_in_order() {
        let events: Vec<Event> = (0..12).map(|i| event(i, 24 * 1024)).collect();
        let work = user_events(&"é".repeat(limits::MAX_ID_CHARS), 7, events);
        assert!(work.len() >= 3, "≈ 290 KB needs at least 3 messages");
        for s in sizes(&work) {
            assert!(s <= limits::WORK_MESSAGE_BYTES, "{s} bytes");
        }
        let ids: Vec<String> = work
            .iter()
            .flat_map(|w| match w {
                ActionWork::UserEvents {
                    events, version, ..
                } => {
                    assert_eq!(*version, 7);
                    events
                        .iter()
                        .map(|e| e.message_id.clone())
                        .collect::<Vec<_>>()
                }
                _ => panic!("user events only"),
            })
            .collect();
        let want: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
        assert_eq!(ids, want, "each event once, in order");
    }

    #[test]
    fn small_runs_stay_one_message_and_nothing_gives_none() {
        let events: Vec<Event> = (0..50).map(|i| event(i, 10)).collect();
        let work = live_upkeep("anon", 3, true, events);
        assert_eq!(work.len(), 1);
        assert!(
            matches!(&work[0], ActionWork::Live { events, anonymous: true, .. } if events.len() == 50)
        );
        assert!(user_events("u", 1, Vec::new()).is_empty());
    }

    #[test]
    fn the_largest_stored_event_fits_alone() {
        let big = event(0, limits::MAX_STORED_EVENT_BYTES - 512);
        let work = user_events(
            &"\"".repeat(limits::MAX_ID_CHARS),
            1,
            vec![big.clone(), big],
        );
        assert_eq!(work.len(), 2);
        for s in sizes(&work) {
            assert!(s <= limits::WORK_MESSAGE_BYTES, "{s} bytes");
        }
    }
}
