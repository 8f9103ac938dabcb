//! Live segment upkeep off the request path: once a group of events is stored, the events
//! consumer hands each person's events that some live segment wants to their object
//! (`POST /live`, see `objects::user_state::live`).
//!
//! Invariant: nothing here costs the events: the events are stored before upkeep runs, and a
//! failed upkeep call is logged, never retried through the message — a retry could carry
//! stored events to the dead-letter queue, which would record them as `storage_failed`. The
//! object observes each `messageId` once, so a redelivered message changes nothing. No live
//! segment: no call, and the live set costs no D1 read per event (it is cached per isolate
//! and versioned, see `storage::live_segments`).

use std::collections::BTreeMap;

use futures_util::future::join_all;
use spur_core::Event;
use worker::{console_error, Env};

use crate::objects::user_state::{self, LiveDelivery};
use crate::storage::live_segments;

/// Most people whose objects are called at once.
const CONCURRENT_CALLS: usize = 8;

/// Hands the stored `events` to their people's live segment upkeep (best effort, logged).
pub async fn after_store(env: &Env, events: &[&Event]) {
    if events.is_empty() {
        return;
    }
    let set = match live_segments::current(env).await {
        Ok(s) => s,
        Err(e) => {
            console_error!("live segments unavailable (upkeep skipped): {e:?}");
            return;
        }
    };
    if set.is_empty() {
        return;
    }
    let mut by_person: BTreeMap<&str, Vec<Event>> = BTreeMap::new();
    for e in events.iter().filter(|e| set.wants(e)) {
        let who = e.identity();
        if !who.is_empty() {
            by_person.entry(who).or_default().push((*e).clone());
        }
    }
    let deliveries: Vec<LiveDelivery> = by_person
        .into_iter()
        .map(|(user, events)| LiveDelivery {
            user: user.to_owned(),
            version: set.version(),
            anonymous: events.iter().all(|e| e.user_id.is_none()),
            events,
            hops: 0,
        })
        .collect();
    for chunk in deliveries.chunks(CONCURRENT_CALLS) {
        let calls = chunk.iter().map(|d| async move {
            if let Err(e) = user_state::upkeep(env, d).await {
                console_error!(
                    "live segment upkeep of {} failed (events stored): {e:?}",
                    d.user
                );
            }
        });
        join_all(calls).await;
    }
}
