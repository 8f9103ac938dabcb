//! Reading the journey model's tagged enums ([`Trigger`], [`Node`] with its [`NodeKind`],
//! [`JourneyAction`]) through [`crate::any_order`] instead of serde's buffering derive.
//!
//! Invariant: each mirror below is its enum's variants, renames, defaults and
//! `deny_unknown_fields` exactly (serde's `remote` derive checks the fields against the enum),
//! so a journey reads in any key order just as it did with the derive. [`JourneyAction`]'s
//! mirror takes the variants it shares with a rule's action from `any_order::action_mirror`.

use serde::de::Error;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::model::{BranchArm, Duration, JourneyAction, Node, NodeKind, SplitPath, Trigger};
use crate::any_order;

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        any_order::deserialize(d, "type", &["api"], TriggerIn::deserialize)
    }
}

impl<'de> Deserialize<'de> for JourneyAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        any_order::deserialize(d, "type", &[], JourneyActionIn::deserialize)
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        any_order::deserialize(d, "type", &["exit"], NodeKindIn::deserialize)
    }
}

/// A node: its `id`, and the other keys are its kind (as `#[serde(flatten)]` read it).
impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(d)?;
        let id = match map.remove("id") {
            Some(id) => String::deserialize(id).map_err(D::Error::custom)?,
            None => return Err(D::Error::missing_field("id")),
        };
        let kind = any_order::from_map(map, "type", &["exit"], NodeKindIn::deserialize)
            .map_err(D::Error::custom)?;
        Ok(Node { id, kind })
    }
}

#[derive(Deserialize)]
#[serde(remote = "Trigger", rename_all = "snake_case", deny_unknown_fields)]
enum TriggerIn {
    Event {
        events: Vec<String>,
        #[serde(default)]
        condition: Option<Value>,
    },
    Api,
}

#[derive(Deserialize)]
#[serde(remote = "NodeKind", rename_all = "snake_case")]
enum NodeKindIn {
    Delay {
        #[serde(rename = "for")]
        wait: Duration,
        next: String,
    },
    WaitUntil {
        events: Vec<String>,
        #[serde(default)]
        condition: Option<Value>,
        #[serde(default, rename = "match")]
        matches: Option<String>,
        timeout: Duration,
        next: String,
        #[serde(rename = "onTimeout")]
        on_timeout: String,
    },
    TimeWindow {
        #[serde(default)]
        days: Option<Vec<String>>,
        from: String,
        to: String,
        #[serde(default = "person_zone")]
        timezone: String,
        next: String,
    },
    Branch {
        branches: Vec<BranchArm>,
        #[serde(rename = "else")]
        otherwise: String,
    },
    Split {
        paths: Vec<SplitPath>,
    },
    Action {
        action: JourneyAction,
        next: String,
    },
    Exit,
}

fn person_zone() -> String {
    "person".into()
}

any_order::action_mirror! {
    #[serde(remote = "JourneyAction", rename_all = "snake_case", deny_unknown_fields)]
    enum JourneyActionIn {
        Emit {
            event: String,
            #[serde(default)]
            properties: Map<String, Value>,
        },
    }
    after_email {
        SetTraits {
            traits: Map<String, Value>,
        },
    }
}
