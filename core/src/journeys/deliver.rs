//! Journey effects as work for the shared actions pipeline (the rules' `rule_firings` records,
//! webhooks, forwards and in-app messages).
//!
//! Invariant: a record's id *is* the effect's idempotency key `(journey, run, node, person)`,
//! and the actions consumer inserts records by id once and skips delivered actions, so a
//! replayed transition or a redelivered queue message never sends an action twice.

use crate::rules::actions::{ActionStatus, EmailSpec, FiringRecord, Outcome, Prepared, PushSpec};
use crate::rules::{Action, InAppMessage, WebhookBody};
use crate::Event;

use super::model::JourneyAction;
use super::state::Effect;

/// The events `emit` actions record, one per effect, for the events queue: `messageId` is the
/// effect's idempotency key (so a replayed transition is stored once), the person's ids come
/// from the trigger event (an API entry: `user` as `userId`), the time is the step's, and the
/// properties carry `journeyId`, `journeyNode` and `journeyRun`.
pub fn emitted(effects: &[Effect], user: &str) -> Vec<Event> {
    effects
        .iter()
        .filter_map(|e| {
            let JourneyAction::Emit { event, properties } = &e.action else {
                return None;
            };
            let id = |k: &str| e.trigger.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            let (user_id, anonymous_id) = match (id("userId"), id("anonymousId")) {
                (None, None) => (Some(user.to_owned()), None),
                ids => ids,
            };
            let mut props = properties.clone();
            props.insert("journeyId".into(), e.journey.clone().into());
            props.insert("journeyNode".into(), e.node.clone().into());
            props.insert("journeyRun".into(), e.run.into());
            let at = crate::instant::from_ms(e.at);
            Some(Event {
                message_id: e.key.clone(),
                kind: crate::MessageType::Track,
                event: Some(event.trim().to_owned()),
                name: None,
                category: None,
                user_id,
                anonymous_id,
                group_id: None,
                previous_id: None,
                properties: props,
                traits: Default::default(),
                context: Default::default(),
                integrations: Default::default(),
                timestamp: at,
                original_timestamp: None,
                sent_at: None,
                received_at: at,
            })
        })
        .collect()
}

/// The `rule_id` journey firings are recorded under (`journey:<id>`; rule ids cannot hold `:`).
pub fn record_owner(journey: &str) -> String {
    format!("journey:{journey}")
}

/// Builds records and messages for a person's effects; `returned` says whether the messages go
/// back in this response (else they wait in the person's outbox). `source` is `state`,
/// `alarm` or `api`.
pub fn prepare(effects: &[Effect], user: &str, source: &str, returned: bool) -> Prepared {
    let mut out = Prepared::default();
    for e in effects {
        let Some(action) = e.action.as_rule_action() else {
            continue;
        };
        // Through text, not `from_value` (issue 15: one `Deserialize` path per type).
        let event: Option<Event> = serde_json::from_str(&e.trigger.to_string()).ok();
        let target = match &action {
            Action::Webhook { url } => Some(url.clone()),
            Action::Forward { queue } => Some(queue.clone()),
            Action::Message { title, body, url } => {
                out.messages.push(InAppMessage {
                    id: e.key.clone(),
                    rule: record_owner(&e.journey),
                    user: user.to_owned(),
                    title: title.clone(),
                    body: body.clone(),
                    url: url.clone(),
                });
                Some(e.key.clone())
            }
            Action::Push { .. } | Action::Email(_) => Some(e.key.clone()),
        };
        let emails = EmailSpec::from_action(
            &action,
            e.key.clone(),
            e.context.as_ref().unwrap_or(&serde_json::Value::Null),
        )
        .into_iter()
        .collect();
        let pushes = PushSpec::from_action(&action, e.key.clone())
            .into_iter()
            .collect();
        out.records.push(FiringRecord {
            id: e.key.clone(),
            rule: record_owner(&e.journey),
            user: user.to_owned(),
            at_ms: e.at,
            message_ids: event.iter().map(|ev| ev.message_id.clone()).collect(),
            source: source.to_owned(),
            capped: false,
            actions: vec![Outcome {
                kind: action.kind().to_owned(),
                target,
                status: ActionStatus::initial(&action, false, returned),
                detail: None,
                done: Vec::new(),
                delivered: 0,
            }],
            payload: WebhookBody {
                id: e.key.clone(),
                rule: record_owner(&e.journey),
                rule_name: Some(e.node.clone()),
                user: user.to_owned(),
                fired_at: crate::instant::from_ms(e.at),
                message_ids: event.iter().map(|ev| ev.message_id.clone()).collect(),
                event,
            },
            pushes,
            emails,
        });
    }
    out
}
