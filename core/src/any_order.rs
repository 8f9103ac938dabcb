//! Reading internally tagged enums that users write (`{"type": "webhook", "url": …}` in rules,
//! journeys and queries), where the tag may be any key, without serde's derive, which buffers
//! every such object into its private `Content` tree and instantiates each variant's field code
//! for it (≈ 70 KB of the Worker's wasm). Here the object is read as a `serde_json` map (code
//! the Worker has anyway), the tag taken out, and the variant read from the rest as the
//! externally tagged `{"webhook": {…}}` by a `#[serde(remote = …)]` mirror of the enum.
//!
//! Invariant: any key order is accepted; a missing tag is "missing field `type`", an unknown one
//! "unknown variant `x`, expected one of …"; the mirror keeps the enum's renames, defaults and
//! `deny_unknown_fields` (an unknown key is "unknown field `k`, expected …"; beside a unit
//! variant's tag other keys are ignored, as the derive did), so the enum reads exactly what the
//! derive read. `Serialize` stays derived (tag first), so output is unchanged.

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Reads an internally tagged enum from `d`: `tag` names the variant; `units` are the unit
/// variants' names (an object with only the tag); `read` is the mirror's externally tagged read.
pub(crate) fn deserialize<'de, T, D: Deserializer<'de>>(
    d: D,
    tag: &'static str,
    units: &[&str],
    read: fn(Value) -> Result<T, serde_json::Error>,
) -> Result<T, D::Error> {
    let map = Map::<String, Value>::deserialize(d)?;
    from_map(map, tag, units, read).map_err(D::Error::custom)
}

/// As [`deserialize`], from an object already read (e.g. a node's keys after its `id`).
pub(crate) fn from_map<T>(
    mut map: Map<String, Value>,
    tag: &'static str,
    units: &[&str],
    read: fn(Value) -> Result<T, serde_json::Error>,
) -> Result<T, serde_json::Error> {
    let name = match map.remove(tag) {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(serde_json::Error::invalid_type(
                unexpected(&other),
                &"a variant name",
            ))
        }
        None => return Err(serde_json::Error::missing_field(tag)),
    };
    if units.contains(&name.as_str()) {
        // Other keys beside a unit variant's tag are ignored, as the derive did.
        return read(Value::String(name));
    }
    read(Value::Object(Map::from_iter([(name, Value::Object(map))])))
}

fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// Declares the `#[serde(remote = …)]` mirror of an action enum: the actions rules and journeys
/// share (`webhook`, `message`, `forward`, then `push` and `email`), around the enum's own
/// variants, which go before `push` and after `email` as in the enum (the unknown-variant
/// error lists them in that order). The attributes given are the mirror's (`remote`, renames,
/// `deny_unknown_fields`).
macro_rules! action_mirror {
    (
        $(#[$attr:meta])*
        enum $name:ident { $($before_push:tt)* }
        after_email { $($after_email:tt)* }
    ) => {
        #[derive(::serde::Deserialize)]
        $(#[$attr])*
        enum $name {
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
            $($before_push)*
            Push {
                title: String,
                body: String,
                #[serde(default)]
                url: Option<String>,
                #[serde(default)]
                ttl: Option<$crate::rules::Duration>,
                #[serde(default)]
                urgency: Option<$crate::push::Urgency>,
                #[serde(default)]
                topic: Option<String>,
            },
            Email($crate::rules::EmailAction),
            $($after_email)*
        }
    };
}
pub(crate) use action_mirror;

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::{Map, Value};

    use crate::journeys::model::{JourneyAction, Node, Trigger};
    use crate::query::{Cohort, CohortPeriod};
    use crate::rules::model::Action;

    /// `text` (one object, as the derive writes it) with its keys in other orders: sorted,
    /// reverse-sorted, the first key last.
    fn orders(text: &str) -> Vec<String> {
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        let write = |keys: Vec<&String>| {
            let pairs: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), map[k.as_str()]))
                .collect();
            format!("{{{}}}", pairs.join(","))
        };
        let sorted: Vec<&String> = map.keys().collect();
        let reversed: Vec<&String> = map.keys().rev().collect();
        let first = text[2..].split('"').next().unwrap().to_owned();
        let mut last: Vec<&String> = map.keys().filter(|k| **k != first).collect();
        last.push(map.keys().find(|k| **k == first).unwrap());
        vec![write(sorted), write(reversed), write(last)]
    }

    /// Every sample reads in every key order to the same value, which writes the sample back.
    fn round_trips<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
        samples: &[&str],
    ) {
        for s in samples {
            let v: T = serde_json::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(serde_json::to_string(&v).unwrap(), *s, "written back");
            for o in orders(s) {
                let w: T = serde_json::from_str(&o).unwrap_or_else(|e| panic!("{o}: {e}"));
                assert_eq!(w, v, "{o}");
            }
        }
    }

    fn err<T: DeserializeOwned + std::fmt::Debug>(s: &str) -> String {
        serde_json::from_str::<T>(s).unwrap_err().to_string()
    }

    const EMAIL: &str = r#""subject":"Hi {{ traits.name }}","html":"<p>x</p>","text":"x","from":"Shop <s@example.com>"}"#;

    #[test]
    fn every_journey_action_variant_reads_in_any_key_order() {
        let email = format!(r#"{{"type":"email","to":"{{{{ traits.email }}}}",{EMAIL}"#);
        round_trips::<JourneyAction>(&[
            r#"{"type":"webhook","url":"https://example.com/h"}"#,
            r#"{"type":"message","title":"T","body":"B","url":"/x"}"#,
            r#"{"type":"forward","queue":"FORWARD_QUEUE"}"#,
            r#"{"type":"emit","event":"Step","properties":{"a":1,"b":[2]}}"#,
            r#"{"type":"push","title":"T","body":"B","url":"/p","ttl":"2h","urgency":"very-low","topic":"t"}"#,
            &email,
            r#"{"type":"set_traits","traits":{"plan":"pro"}}"#,
        ]);
        let a: JourneyAction =
            serde_json::from_str(r#"{"title":"T","type":"message","body":"B"}"#).unwrap();
        assert!(matches!(a, JourneyAction::Message { url: None, .. }));
    }

    #[test]
    fn every_node_kind_reads_in_any_key_order() {
        round_trips::<Node>(&[
            r#"{"id":"d","type":"delay","for":"30m","next":"e"}"#,
            r#"{"id":"w","type":"wait_until","events":["Buy"],"condition":{"==":[1,1]},"match":"properties.cart_id","timeout":"1d","next":"e","onTimeout":"r"}"#,
            r#"{"id":"t","type":"time_window","days":["mon","fri"],"from":"09:00","to":"17:00","timezone":"Europe/Paris","next":"e"}"#,
            r#"{"id":"b","type":"branch","branches":[{"condition":{"var":"traits.vip"},"next":"v"}],"else":"e"}"#,
            r#"{"id":"s","type":"split","paths":[{"percent":50,"next":"a"},{"percent":50,"next":"b"}]}"#,
            r#"{"id":"a","type":"action","action":{"type":"webhook","url":"https://example.com/h"},"next":"e"}"#,
            r#"{"id":"e","type":"exit"}"#,
        ]);
        let n: Node = serde_json::from_str(
            r#"{"next":"e","from":"09:00","to":"10:00","type":"time_window","id":"t"}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"id":"t","type":"time_window","from":"09:00","to":"10:00","timezone":"person","next":"e"}"#
        );
    }

    #[test]
    fn every_trigger_and_rule_action_variant_reads_in_any_key_order() {
        round_trips::<Trigger>(&[
            r#"{"type":"event","events":["A","B"],"condition":{"==":[{"var":"x"},1]}}"#,
            r#"{"type":"api"}"#,
        ]);
        let email = format!(r#"{{"type":"email",{EMAIL}"#);
        round_trips::<Action>(&[
            r#"{"type":"webhook","url":"https://example.com/h"}"#,
            r#"{"type":"message","title":"T","body":"B","url":"https://example.com"}"#,
            r#"{"type":"forward","queue":"Q"}"#,
            r#"{"type":"push","title":"T","body":"B","url":"/p","ttl":"1d","urgency":"high","topic":"t"}"#,
            &email,
        ]);
    }

    #[test]
    fn every_cohort_variant_reads_in_any_key_order() {
        for (s, want) in [
            (
                r#"{"by":"first_seen","period":"day"}"#,
                Cohort::FirstSeen {
                    period: CohortPeriod::Day,
                },
            ),
            (
                r#"{"by":"first_seen"}"#,
                Cohort::FirstSeen {
                    period: CohortPeriod::Week,
                },
            ),
            (
                r#"{"by":"trait","trait":"company.size"}"#,
                Cohort::Trait {
                    name: "company.size".into(),
                },
            ),
        ] {
            assert_eq!(serde_json::from_str::<Cohort>(s).unwrap(), want);
            for o in orders(s) {
                assert_eq!(serde_json::from_str::<Cohort>(&o).unwrap(), want, "{o}");
            }
        }
    }

    #[test]
    fn unknown_fields_missing_and_unknown_tags_are_refused_by_name() {
        let e = err::<Action>(r#"{"url":"https://x","type":"webhook","urll":1}"#);
        assert!(e.contains("unknown field `urll`, expected `url`"), "{e}");
        let e = err::<Action>(r#"{"subject":"s","type":"email","bcc":"x"}"#);
        assert!(e.contains("unknown field `bcc`"), "{e}");
        let e = err::<JourneyAction>(r#"{"type":"forward","queue":"Q","x":1}"#);
        assert!(e.contains("unknown field `x`"), "{e}");
        let e = err::<Trigger>(r#"{"events":[],"type":"event","when":1}"#);
        assert!(e.contains("unknown field `when`"), "{e}");
        let e = err::<Cohort>(r#"{"trait":"plan","by":"trait","period":"day"}"#);
        assert!(e.contains("unknown field `period`"), "{e}");
        for e in [
            err::<Action>(r#"{"url":"https://x"}"#),
            err::<JourneyAction>(r#"{"url":"https://x"}"#),
            err::<Trigger>(r#"{"events":[]}"#),
            err::<Node>(r#"{"id":"n","next":"e"}"#),
        ] {
            assert!(e.contains("missing field `type`"), "{e}");
        }
        assert!(err::<Cohort>(r#"{"trait":"plan"}"#).contains("missing field `by`"));
        assert!(err::<Node>(r#"{"type":"exit"}"#).contains("missing field `id`"));
        let e = err::<Action>(r#"{"type":"sms"}"#);
        assert!(e.contains("unknown variant `sms`, expected one of"), "{e}");
        let e = err::<Node>(r#"{"id":"d","type":"delay","next":"e"}"#);
        assert!(e.contains("missing field `for`"), "{e}");
        assert!(err::<Action>(r#"{"type":1}"#).contains("invalid type"));
        assert!(err::<Action>("[]").contains("invalid type"));
    }

    #[test]
    fn unknown_action_types_list_the_variants_in_the_enums_order() {
        let e = err::<Action>(r#"{"type":"sms"}"#);
        assert!(
            e.starts_with("unknown variant `sms`, expected one of `webhook`, `message`, `forward`, `push`, `email`"),
            "{e}"
        );
        let e = err::<JourneyAction>(r#"{"type":"sms"}"#);
        assert!(
            e.starts_with("unknown variant `sms`, expected one of `webhook`, `message`, `forward`, `emit`, `push`, `email`, `set_traits`"),
            "{e}"
        );
    }

    #[test]
    fn keys_the_derive_ignored_are_still_ignored() {
        let n: Node =
            serde_json::from_str(r#"{"id":"d","type":"delay","for":"1h","next":"e","note":1}"#)
                .unwrap();
        assert_eq!(n.kind.kind(), "delay");
        let n: Node = serde_json::from_str(r#"{"note":1,"type":"exit","id":"e"}"#).unwrap();
        assert_eq!(n.kind.kind(), "exit");
        let t: Trigger = serde_json::from_str(r#"{"type":"api","events":[]}"#).unwrap();
        assert_eq!(t, Trigger::Api);
    }
}
