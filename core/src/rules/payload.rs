//! What leaves Spur when a rule fires: the webhook body and the in-app message.
//!
//! Invariant: these shapes are a public contract (receivers parse them; the tracker renders
//! messages): fields are only ever added, never renamed or removed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::model::{Action, Rule};
use super::state::Firing;
use crate::Event;

/// An in-app message, as the ingest response's `messages` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InAppMessage {
    /// Unique per firing and action (`<firing id>:<action index>`), for de-duplication.
    pub id: String,
    /// The rule that fired.
    pub rule: String,
    /// Whom it is for (userId, else anonymousId).
    pub user: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Optional link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The in-app messages a firing of `rule` shows.
pub fn messages(rule: &Rule, firing_id: &str, user: &str) -> Vec<InAppMessage> {
    rule.actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a {
            Action::Message { title, body, url } => Some(InAppMessage {
                id: format!("{firing_id}:{i}"),
                rule: rule.id.clone(),
                user: user.to_owned(),
                title: title.clone(),
                body: body.clone(),
                url: url.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The JSON a webhook receives (also what a forward action sends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    /// The firing's id: the same on every retry, for the receiver's de-duplication.
    pub id: String,
    /// The rule's id.
    pub rule: String,
    /// Its display name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// userId, else anonymousId.
    pub user: String,
    /// When it fired.
    #[serde(with = "time::serde::rfc3339")]
    pub fired_at: OffsetDateTime,
    /// The events that made it fire, oldest first.
    pub message_ids: Vec<String>,
    /// The completing event (for an absence rule: the trigger), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
}

impl WebhookBody {
    /// The body for one firing.
    pub fn new(rule: &Rule, firing: &Firing, firing_id: &str, user: &str) -> Self {
        let fired_at = crate::instant::from_ms(firing.at);
        WebhookBody {
            id: firing_id.to_owned(),
            rule: rule.id.clone(),
            rule_name: rule.name.clone(),
            user: user.to_owned(),
            fired_at,
            message_ids: firing.events.clone(),
            event: firing.event.clone(),
        }
    }
}
