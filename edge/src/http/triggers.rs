//! Rules in the ingest request: stateless rules here, stateful ones in each user's object.
//!
//! Invariant: rules never cost the sender an event — every failure here is logged and the
//! request still answers `accepted`; events a user's object could not take now are queued for
//! it (the object applies each `messageId` once), so a stateful rule still sees them.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use spur_core::rules::{InAppMessage, RuleIndex};
use spur_core::Event;
use worker::{console_error, console_warn, Env};

use crate::clock::now;
use crate::http::error::ApiError;
use crate::objects::user_state::{self, Delivery};
use crate::queues::firings::{self as actions, prepare, ActionWork};
use crate::storage::rules as rule_set;

/// Most users whose objects one ingest request calls itself; the rest go through the queue (a
/// server-side batch can hold many users, and each call is a subrequest).
pub const MAX_INLINE_USERS: usize = 8;

/// Runs the rules over a request's accepted events; returns the in-app messages to answer with.
pub async fn on_accepted(env: &Env, events: &[Event]) -> Vec<InAppMessage> {
    match run(env, events).await {
        Ok(m) => m,
        Err(e) => {
            console_error!("trigger rules failed for this request (events still accepted): {e:?}");
            Vec::new()
        }
    }
}

async fn run(env: &Env, events: &[Event]) -> Result<Vec<InAppMessage>, ApiError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let index = rule_set::current(env).await?;
    if index.is_empty() {
        return Ok(Vec::new());
    }
    let at = i64::try_from(now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut messages = Vec::new();
    let mut work = Vec::new();
    for e in events {
        let firings = index.stateless_firings(e, at);
        if !firings.is_empty() {
            let p = prepare(&index, firings, e.identity(), "ingest", true);
            messages.extend(p.messages);
            work.extend(
                p.records
                    .into_iter()
                    .map(|r| ActionWork::Fired(Box::new(r))),
            );
        }
    }
    let (inline, queued) = users(&index, events);
    let calls = inline.into_iter().map(|(user, events)| {
        let delivery = Delivery {
            user: user.to_owned(),
            version: index.version(),
            events,
            respond: true,
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
                work.push(user_work(&index, delivery.user, delivery.events));
            }
        }
    }
    work.extend(
        queued
            .into_iter()
            .map(|(u, ev)| user_work(&index, u.to_owned(), ev)),
    );
    actions::enqueue(env, work).await?;
    Ok(messages)
}

fn user_work(index: &RuleIndex, user: String, events: Vec<Event>) -> ActionWork {
    ActionWork::UserEvents {
        user,
        version: index.version(),
        events,
    }
}

type ByUser<'a> = Vec<(&'a str, Vec<Event>)>;

/// Groups the events stateful rules care about by user: the first [`MAX_INLINE_USERS`] users
/// are called now, the rest queued. With deferred in-app messages configured, every sender's
/// object is called (with no events, if need be) so waiting messages reach this response.
fn users<'a>(index: &RuleIndex, events: &'a [Event]) -> (ByUser<'a>, ByUser<'a>) {
    let pickup = index.has_deferred_messages();
    let mut by_user: BTreeMap<&str, Vec<Event>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for e in events {
        let relevant = index.needs_state(e);
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
    let mut inline = Vec::new();
    let mut queued = Vec::new();
    for (i, user) in order.into_iter().enumerate() {
        let list = by_user.remove(user).unwrap_or_default();
        if i < MAX_INLINE_USERS {
            inline.push((user, list));
        } else if !list.is_empty() {
            queued.push((user, list));
        }
    }
    (inline, queued)
}
