//! Reading internally tagged enums (`{"kind": "events", …}`) whose JSON only Spur writes (queue
//! messages), with the tag read first and the rest handed straight to the variant, instead of
//! serde's derive, which buffers the whole message into its `Content` tree before choosing a
//! variant (a copy of every variant's field code per enum: ≈ 40 KB of the Worker's wasm).
//!
//! Invariant: the wire format is the derive's, byte for byte (`Serialize` stays derived and
//! writes the tag first; so does [`crate::work::split`]), so every message written before still
//! reads the same. A message whose tag is not its first key is refused with an error naming the
//! tag ("`kind` must be the first key"); unknown keys after it are ignored, as the derive did.
//! User-facing JSON, where any key order is valid, must not use this.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Error, MapAccess, Visitor};
use serde::Deserializer;

/// An internally tagged enum read tag-first.
pub(crate) trait TagFirst: Sized {
    /// The tag's key (`kind`).
    const TAG: &'static str;
    /// The variant names, in the tag's spelling; the index of the one read goes to
    /// [`TagFirst::variant`].
    const VARIANTS: &'static [&'static str];
    /// Reads variant `index` from the keys after the tag.
    fn variant<'de, D: Deserializer<'de>>(index: usize, rest: D) -> Result<Self, D::Error>;
}

/// Reads `T` tag-first (for `T`'s `Deserialize`).
pub(crate) fn deserialize<'de, T: TagFirst, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(TagFirstVisitor(PhantomData))
}

struct TagFirstVisitor<T>(PhantomData<T>);

impl<'de, T: TagFirst> Visitor<'de> for TagFirstVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object whose first key is `{}`", T::TAG)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        match map.next_key::<String>()? {
            Some(key) if key == T::TAG => {}
            Some(_) => {
                return Err(A::Error::custom(format_args!(
                    "`{}` must be the first key",
                    T::TAG
                )))
            }
            None => return Err(A::Error::missing_field(T::TAG)),
        }
        let name = map.next_value::<String>()?;
        let index = T::VARIANTS
            .iter()
            .position(|v| *v == name)
            .ok_or_else(|| A::Error::unknown_variant(&name, T::VARIANTS))?;
        T::variant(index, MapAccessDeserializer::new(map))
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::ActionWork;
    use crate::work::{BadRow, Work};

    const EVENT: &str = r#"{"messageId":"u1-Buy-1","type":"track","event":"Buy","userId":"u1","context":{},"timestamp":"2024-05-01T12:00:00.001Z","receivedAt":"2024-05-01T12:00:00.001Z"}"#;

    /// Messages as written before reading went tag-first (the derive's and `split`'s output).
    fn action_samples() -> Vec<String> {
        vec![
            r#"{"kind":"fired","id":"f1","rule":"r","user":"u1","at_ms":1714564800000,"message_ids":["m1"],"source":"ingest","capped":false,"actions":[{"type":"webhook","target":"https://hooks.example.com/a","status":"queued"},{"type":"message","target":"f1:1","status":"returned"},{"type":"forward","target":"FORWARD_QUEUE","status":"queued"}],"payload":{"id":"f1","rule":"r","user":"u1","firedAt":"2024-05-01T12:00:00Z","messageIds":["m1"]}}"#.to_owned(),
            format!(r#"{{"kind":"user_events","user":"u1","version":7,"events":[{EVENT}]}}"#),
            r#"{"kind":"merge","from":"a1","into":"u1"}"#.to_owned(),
            format!(r#"{{"kind":"live","user":"a1","version":3,"anonymous":true,"events":[{EVENT},{EVENT}]}}"#),
        ]
    }

    fn work_samples() -> Vec<String> {
        let row = r#"{"received_at":"2024-05-01T12:00:00Z","write_key":null,"endpoint":"/v1/batch","reason":"invalid_json","detail":"d","message_id":null,"payload":"{","request":null}"#;
        vec![
            format!(r#"{{"kind":"events","write_key":"wk","events":[{EVENT}]}}"#),
            format!(r#"{{"kind":"events","write_key":null,"events":[]}}"#),
            format!(r#"{{"kind":"bad_rows","rows":[{row},{row}]}}"#),
        ]
    }

    #[test]
    fn every_action_work_variant_reads_its_stored_form_and_writes_it_back_byte_for_byte() {
        let samples = action_samples();
        let mut kinds = Vec::new();
        for s in &samples {
            let w: ActionWork = serde_json::from_str(s).unwrap();
            kinds.push(match &w {
                ActionWork::Fired(r) => {
                    assert_eq!((r.id.as_str(), r.actions.len()), ("f1", 3));
                    "fired"
                }
                ActionWork::UserEvents {
                    user,
                    version,
                    events,
                } => {
                    assert_eq!((user.as_str(), *version, events.len()), ("u1", 7, 1));
                    "user_events"
                }
                ActionWork::Merge(l) => {
                    assert_eq!((l.from.as_str(), l.into.as_str()), ("a1", "u1"));
                    "merge"
                }
                ActionWork::Live {
                    anonymous, events, ..
                } => {
                    assert!(*anonymous);
                    assert_eq!(events.len(), 2);
                    "live"
                }
            });
            assert_eq!(&serde_json::to_string(&w).unwrap(), s, "round trip");
        }
        assert_eq!(kinds, ["fired", "user_events", "merge", "live"]);
    }

    #[test]
    fn every_work_variant_reads_its_stored_form_and_writes_it_back_byte_for_byte() {
        for s in work_samples() {
            let w: Work = serde_json::from_str(&s).unwrap();
            assert_eq!(serde_json::to_string(&w).unwrap(), s);
            let again: Work = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
            assert_eq!(again, w);
        }
        let w: Work = serde_json::from_str(&work_samples()[0]).unwrap();
        assert!(
            matches!(w, Work::Events { write_key: Some(k), events } if k == "wk" && events.len() == 1)
        );
        let w: Work = serde_json::from_str(&work_samples()[2]).unwrap();
        assert!(
            matches!(&w, Work::BadRows { rows } if rows.len() == 2 && rows[0] == BadRow { payload_truncated: false, ..rows[1].clone() })
        );
    }

    #[test]
    fn split_output_reads_tag_first() {
        let msgs = crate::work::split(Some("wk"), &[EVENT.to_owned()], Vec::new());
        let w: Work = serde_json::from_str(&msgs[0]).unwrap();
        assert!(matches!(w, Work::Events { events, .. } if events.len() == 1));
    }

    #[test]
    fn misplaced_missing_or_unknown_tags_are_clear_errors() {
        let err = |s: &str| serde_json::from_str::<Work>(s).unwrap_err().to_string();
        assert!(err(r#"{"write_key":null,"kind":"events","events":[]}"#)
            .contains("`kind` must be the first key"));
        assert!(err("{}").contains("missing field `kind`"));
        assert!(err(r#"{"kind":"nope"}"#).contains("unknown variant `nope`"));
        assert!(err(r#"{"kind":"events"}"#).contains("missing field `events`"));
        assert!(err("[]").contains("first key is `kind`"));
        let err = serde_json::from_str::<ActionWork>(r#"{"user":"u","kind":"live"}"#).unwrap_err();
        assert!(err.to_string().contains("`kind` must be the first key"));
    }

    #[test]
    fn unknown_keys_after_the_tag_are_ignored_as_before() {
        let w: ActionWork =
            serde_json::from_str(r#"{"kind":"merge","from":"a","extra":1,"into":"u"}"#).unwrap();
        assert!(matches!(w, ActionWork::Merge(l) if l.from == "a" && l.into == "u"));
    }
}
