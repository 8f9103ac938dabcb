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
