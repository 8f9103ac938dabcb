//! Rules in the ingest request: stateless rules here, stateful ones (and journeys) in each
//! user's object.
//!
//! Invariant: rules never cost the sender an event — every failure here is logged and the
//! request still answers `accepted`; events a user's object could not take now are queued for
//! it (the object applies each `messageId` once), so a stateful rule still sees them. When a
//! frequency policy is active, the stateless rules' in-app messages are admitted by each
//! person's object before they are returned (one call per person); one it could not ask about
//! is not shown and is recorded as `frequency_unavailable` — the cap is never exceeded.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use spur_core::frequency::{self, Ask, Verdict};
use spur_core::journeys::JourneyIndex;
use spur_core::rules::{deferred, route_with, InAppMessage, Prepared, Profiles, RuleIndex};
use spur_core::Event;
use worker::{console_error, console_warn, Env};

use spur_core::limits::MAX_INLINE_MERGES;

use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::objects::user_state::{self, Delivery};
use crate::queues::firings::{self as actions, prepare, ActionWork};
use crate::storage::journeys as journey_set;
use crate::storage::profiles;
use crate::storage::rules as rule_set;
use crate::storage::settings;

/// Most users whose objects one ingest request calls itself; the rest go through the queue (a
/// server-side batch can hold many users, and each call is a subrequest).
pub const MAX_INLINE_USERS: usize = 8;

/// Runs the rules over a request's accepted events; returns the in-app messages to answer with.
/// `encoded` is each event's JSON (as queued), so the conditions need not encode it again.
pub async fn on_accepted(env: &Env, events: &[Event], encoded: &[String]) -> Vec<InAppMessage> {
    match run(env, events, encoded).await {
        Ok(m) => m,
        Err(e) => {
            console_error!("trigger rules failed for this request (events still accepted): {e:?}");
            Vec::new()
        }
    }
}

async fn run(
    env: &Env,
    events: &[Event],
    encoded: &[String],
) -> Result<Vec<InAppMessage>, ApiError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let index = rule_set::current(env).await?;
    let journeys = match journey_set::current(env).await {
        Ok(j) => Some(j),
        Err(e) => {
            console_error!("journeys unavailable for this request: {e:?}");
            None
        }
    };
    let journeys_live = journeys.as_ref().is_some_and(|j| !j.is_empty());
    if index.is_empty() && !journeys_live {
        return Ok(Vec::new());
    }
    let journeys_version = journeys.as_ref().map_or(0, |j| j.version());
    // Identity merges first, so this request's events already meet the merged state (and an
    // anonymous object merged now forwards what reaches it). A merge that fails here, or one
    // past the inline bound, goes through the actions queue; merging again is a no-op.
    let links = spur_core::merge::links(events);
    let mut deferred = Vec::new();
    for (i, link) in links.into_iter().enumerate() {
        if i >= MAX_INLINE_MERGES {
            deferred.push(ActionWork::Merge(link));
            continue;
        }
        if let Err(e) = user_state::merge(env, &link).await {
            console_warn!("identity merge deferred to the queue: {e:?}");
            deferred.push(ActionWork::Merge(link));
        }
    }
    let profiles = profiles_for(env, &index, journeys.as_deref(), events).await;
    let routing = route_with(
        &index,
        events,
        encoded,
        &profiles,
        now_ms(),
        MAX_INLINE_USERS,
        |e| journeys.as_ref().is_some_and(|j| j.needs(e)),
    );
    let mut messages = Vec::new();
    let mut work = deferred;
    let mut prepared: Vec<Prepared> = routing
        .firings
        .into_iter()
        .map(|(e, firings)| prepare(&index, firings, e.identity(), "ingest", true))
        .collect();
    gate_in_app(env, &mut prepared).await;
    for p in prepared {
        messages.extend(p.messages);
        work.extend(
            p.records
                .into_iter()
                .map(|r| ActionWork::Fired(Box::new(r))),
        );
    }
    let fanout = routing.fanout;
    let calls = fanout.inline.into_iter().map(|(user, events)| {
        let delivery = Delivery {
            user: user.to_owned(),
            version: index.version(),
            events,
            respond: true,
            journeys: journeys_version,
            enter: None,
            profile: profiles.get(user).cloned(),
            hops: 0,
        };
        async move {
            let result = user_state::deliver(env, &delivery).await;
            (delivery, result)
        }
    });
    for (delivery, result) in join_all(calls).await {
        match result {
            Ok(answer) => messages.extend(answer.messages),
            Err(e) => {
                console_warn!("user state unreachable, queueing its events: {e:?}");
                work.extend(user_work(&index, &delivery.user, delivery.events));
            }
        }
    }
    work.extend(
        fanout
            .queued
            .into_iter()
            .flat_map(|(u, ev)| user_work(&index, u, ev)),
    );
    actions::enqueue(env, work).await?;
    Ok(messages)
}

/// Admits the stateless rules' in-app messages under the frequency policy (nothing to do, and
/// no hop, when it is inactive): one call per person to their object.
async fn gate_in_app(env: &Env, prepared: &mut [Prepared]) {
    let mut asks: BTreeMap<String, Vec<Ask>> = BTreeMap::new();
    for p in prepared.iter() {
        for (m, ask) in p.messages.iter().zip(frequency::in_app_asks(p)) {
            asks.entry(m.user.clone()).or_default().push(ask);
        }
    }
    if asks.is_empty() {
        return;
    }
    let active = match settings::frequency(env).await {
        Ok(policy) => policy.is_active(),
        Err(e) => {
            console_error!("frequency policy unavailable: {e:?}");
            true
        }
    };
    if !active {
        return;
    }
    let calls = asks.iter().map(|(user, asks)| async move {
        match user_state::admit(env, user, asks).await {
            Ok(v) => v,
            Err(e) => {
                console_error!(
                    "{} in-app messages not shown: frequency cap unavailable: {e:?}",
                    asks.len()
                );
                asks.iter()
                    .map(|a| Verdict {
                        key: a.key.clone(),
                        skip: Some(format!(
                            "{}: the person's frequency tally could not be reached",
                            frequency::UNAVAILABLE
                        )),
                    })
                    .collect()
            }
        }
    });
    let verdicts: Vec<Verdict> = join_all(calls).await.into_iter().flatten().collect();
    for p in prepared.iter_mut() {
        frequency::apply_in_app(p, &verdicts);
    }
}

/// The stored profiles of the people whose events meet a rule or journey that reads
/// `traits.*` — none at all (no D1 read) when no such condition applies. A failed read is
/// logged and the conditions see the events' own traits only.
async fn profiles_for(
    env: &Env,
    index: &RuleIndex,
    journeys: Option<&JourneyIndex>,
    events: &[Event],
) -> Profiles {
    let mut ids: Vec<&str> = events
        .iter()
        .filter(|e| index.needs_profile(e) || journeys.is_some_and(|j| j.needs_profile(e)))
        .filter_map(|e| e.user_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    match profiles::load(env, &ids).await {
        Ok(p) => p,
        Err(e) => {
            console_error!("profiles unavailable for this request's conditions: {e:?}");
            Profiles::new()
        }
    }
}

/// A person's events for the queue, in as many messages as the queue's size limit needs.
fn user_work(index: &RuleIndex, user: &str, events: Vec<Event>) -> Vec<ActionWork> {
    deferred::user_events(user, index.version(), events)
}
