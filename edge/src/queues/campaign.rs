//! Campaign events of the actions consumer: after each attempt (and when the queue gives up),
//! the email and push outcomes that closed are stored as `$message_sent` /
//! `$message_delivered` / `$message_failed` events of the person.
//!
//! Invariant: the events go through the events queue like any other event (stored in D1 and
//! ClickHouse, never routed to rules or journeys, so a message cannot trigger itself), and
//! each `messageId` is `<action id>:<name>` (`spur_core::email::outcome_events`), so a retried
//! or redelivered queue message stores none twice.

use spur_core::rules::actions::{ActionStatus, FiringRecord, Outcome};
use worker::{console_error, Env};

use crate::clock::now_ms;

/// Records the campaign events of the outcomes of `rec` that closed since `before`. A failure
/// is logged: the outcome is already stored and the message sent, so the action is not
/// retried for it.
pub async fn record(env: &Env, rec: &FiringRecord, before: &[ActionStatus], after: &[Outcome]) {
    let events = spur_core::email::outcome_events(rec, before, after, now_ms());
    if events.is_empty() {
        return;
    }
    let encoded = spur_core::work::encode_events(&events);
    if let Err(e) =
        crate::queues::events::enqueue(env, spur_core::work::split(None, &encoded, Vec::new()))
            .await
    {
        console_error!("{} campaign events not recorded: {e:?}", events.len());
    }
}
