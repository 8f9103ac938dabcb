//! Which users' Durable Objects an ingest request hands events to, and which go through the
//! actions queue instead.
//!
//! Invariant: every event a stateful rule cares about is in exactly one user's list, in arrival
//! order; users are taken in order of first appearance; the first `max_inline` users are
//! called now (with an empty list when only a waiting in-app message pickup needs the call),
//! every later user with events is queued, and a later user without events is dropped (a
//! pickup has no value once deferred).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Firing, RuleIndex};
use crate::Event;

/// Stored profile traits by `userId`, for the events whose rules read `traits.*`
/// ([`RuleIndex::needs_profile`]); a person without a row (or anonymous) is absent.
pub type Profiles = BTreeMap<String, Map<String, Value>>;

/// The profile an event's conditions see: its `userId`'s (profiles are kept by `userId`).
pub fn profile_of<'p>(profiles: &'p Profiles, event: &Event) -> Option<&'p Map<String, Value>> {
    profiles.get(event.user_id.as_deref()?)
}

/// Users with the events their object should see.
pub type ByUser<'a> = Vec<(&'a str, Vec<Event>)>;

/// The split of a request's events by user.
#[derive(Debug, Default)]
pub struct Fanout<'a> {
    /// Users whose objects the request calls itself.
    pub inline: ByUser<'a>,
    /// Users whose events go through the actions queue.
    pub queued: ByUser<'a>,
}

/// What a request's events do on the ingest path: each event's stateless firings, and the
/// split of the events stateful rules care about by user.
#[derive(Debug, Default)]
pub struct Routing<'a> {
    /// Events with the stateless firings they caused, in arrival order (events without
    /// firings are left out).
    pub firings: Vec<(&'a Event, Vec<Firing>)>,
    /// Users whose objects must see events.
    pub fanout: Fanout<'a>,
}

/// Routes every event once ([`RuleIndex::route`]): stateless firings and the per-user split
/// together, for the cost of one index lookup per event.
pub fn route<'a>(
    index: &RuleIndex,
    events: &'a [Event],
    now: i64,
    max_inline: usize,
) -> Routing<'a> {
    route_with(
        index,
        events,
        &[],
        &Profiles::new(),
        now,
        max_inline,
        |_| false,
    )
}

/// Like [`route`], with `also` naming further events the user's object must see (journeys),
/// and `encoded` the events' JSON when the caller has it ([`crate::Outcome::encoded`]: the
/// same length and order as `events`; empty, or shorter, means encode here), and `profiles`
/// the stored traits of the people whose events need them.
pub fn route_with<'a>(
    index: &RuleIndex,
    events: &'a [Event],
    encoded: &[String],
    profiles: &Profiles,
    now: i64,
    max_inline: usize,
    also: impl Fn(&Event) -> bool,
) -> Routing<'a> {
    let mut firings = Vec::new();
    let mut relevant = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let json = encoded.get(i).map(String::as_str);
        let routed = index.route_profiled(e, json, profile_of(profiles, e), now);
        if !routed.firings.is_empty() {
            firings.push((e, routed.firings));
        }
        relevant.push((e, routed.needs_state || also(e)));
    }
    Routing {
        firings,
        fanout: group(index, relevant, max_inline),
    }
}

/// Groups the events stateful rules care about by user (userId, else anonymousId). With
/// deferred in-app messages configured, every sender's object is called (with no events, if
/// need be) so waiting messages reach this response.
pub fn by_user<'a>(index: &RuleIndex, events: &'a [Event], max_inline: usize) -> Fanout<'a> {
    let relevant = events.iter().map(|e| (e, index.needs_state(e)));
    group(index, relevant, max_inline)
}

fn group<'a>(
    index: &RuleIndex,
    events: impl IntoIterator<Item = (&'a Event, bool)>,
    max_inline: usize,
) -> Fanout<'a> {
    let pickup = index.has_deferred_messages();
    let mut by_user: BTreeMap<&str, Vec<Event>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (e, relevant) in events {
        if !relevant && !pickup {
            continue;
        }
        let user = e.identity();
        let list = by_user.entry(user).or_insert_with(|| {
            order.push(user);
            Vec::new()
        });
        if relevant {
            list.push(e.clone());
        }
    }
    let mut out = Fanout::default();
    for (i, user) in order.into_iter().enumerate() {
        let list = by_user.remove(user).unwrap_or_default();
        if i < max_inline {
            out.inline.push((user, list));
        } else if !list.is_empty() {
            out.queued.push((user, list));
        }
    }
    out
}
