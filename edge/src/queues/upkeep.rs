//! Live segment upkeep off the request path: once a group of events is stored, the events
//! consumer hands each person's events that some live segment wants to their object
//! (`POST /live`, see `objects::user_state::live`).
//!
//! Invariant: nothing here costs the events, and a person's membership misses none of them
//! while the queues work: the events are stored before upkeep runs; a failed upkeep call is
//! handed to the actions queue (`ActionWork::Live`, in messages under the queue's size limit),
//! which retries it with the queue's own backoff — never retried through the events message,
//! since a retry there could carry stored events to the dead-letter queue, which would record
//! them as `storage_failed`. Only a failure of that hand-over too is logged and lost to
//! membership (the events stay stored). The object observes each `messageId` once, so a
//! redelivered message changes nothing. No live segment: no call, and the live set costs no
//! D1 read per event (it is cached per isolate and versioned, see `storage::live_segments`).

use std::collections::BTreeMap;

use futures_util::future::join_all;
use spur_core::rules::deferred;
use spur_core::Event;
use worker::{console_error, console_warn, Env};

use crate::http::error::ApiError;
use crate::objects::user_state::{self, LiveDelivery};
use crate::queues::firings;
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
    let mut failed = Vec::new();
    for chunk in deliveries.chunks(CONCURRENT_CALLS) {
        let calls = chunk.iter().map(|d| async move {
            let result = match injected_fault(env, d) {
                Some(e) => Err(e),
                None => user_state::upkeep(env, d).await,
            };
            (d, result)
        });
        for (d, result) in join_all(calls).await {
            if let Err(e) = result {
                console_warn!(
                    "live segment upkeep of {} failed, queued for retry: {e:?}",
                    d.user
                );
                failed.extend(deferred::live_upkeep(
                    &d.user,
                    d.version,
                    d.anonymous,
                    d.events.clone(),
                ));
            }
        }
    }
    if let Err(e) = firings::enqueue(env, failed).await {
        console_error!("live segment upkeep could not be queued (events stored): {e:?}");
    }
}

/// Test-only fault injection; the var is absent from wrangler.toml, so production never fails
/// here. With [`FAULT_UPKEEP`] set to a marker, the consumer's own upkeep call fails for a
/// person whose events include one named `<marker>` (as an unreachable object would), so the
/// hand-over through the actions queue is exercised; that path has no fault.
fn injected_fault(env: &Env, d: &LiveDelivery) -> Option<ApiError> {
    let marker = env.var(FAULT_UPKEEP).ok()?.to_string();
    let hit = !marker.is_empty()
        && d.events
            .iter()
            .any(|e| e.event.as_deref() == Some(marker.as_str()));
    hit.then(|| ApiError::Internal("injected live upkeep fault".into()))
}

/// The var that turns on [`injected_fault`].
const FAULT_UPKEEP: &str = "SPUR_FAULT_UPKEEP_FAIL";
