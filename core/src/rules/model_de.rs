//! Reading a rule's [`Action`] through [`crate::any_order`] instead of serde's buffering derive.
//!
//! Invariant: the mirror below is [`Action`]'s variants, renames, defaults and
//! `deny_unknown_fields` exactly (serde's `remote` derive checks the fields against the enum),
//! so an action reads in any key order just as it did with the derive.

use serde::{Deserialize, Deserializer};

use super::model::{Action, Duration, EmailAction};
use crate::any_order;

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        any_order::deserialize(d, "type", &[], ActionIn::deserialize)
    }
}

#[derive(Deserialize)]
#[serde(remote = "Action", rename_all = "lowercase", deny_unknown_fields)]
enum ActionIn {
    Webhook {
        url: String,
    },
    Message {
        title: String,
        body: String,
        #[serde(default)]
        url: Option<String>,
    },
    Forward {
        queue: String,
    },
    Push {
        title: String,
        body: String,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        ttl: Option<Duration>,
        #[serde(default)]
        urgency: Option<crate::push::Urgency>,
        #[serde(default)]
        topic: Option<String>,
    },
    Email(EmailAction),
}
