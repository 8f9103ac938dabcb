//! Reading a rule's [`Action`] through [`crate::any_order`] instead of serde's buffering derive.
//!
//! Invariant: the mirror below (declared by `any_order::action_mirror`, which holds the
//! variants rule and journey actions share) is [`Action`]'s variants, renames, defaults and
//! `deny_unknown_fields` exactly (serde's `remote` derive checks the fields against the enum),
//! so an action reads in any key order just as it did with the derive.

use serde::{Deserialize, Deserializer};

use super::model::Action;
use crate::any_order;

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        any_order::deserialize(d, "type", &[], ActionIn::deserialize)
    }
}

any_order::action_mirror! {
    #[serde(remote = "Action", rename_all = "lowercase", deny_unknown_fields)]
    enum ActionIn {}
    after_email {}
}
