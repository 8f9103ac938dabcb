//! Ids: random v4 UUIDs and the persisted anonymous id.
//!
//! Invariant: ids come from `crypto.getRandomValues`, which (unlike `randomUUID`) also works
//! on plain-HTTP pages.

const ANON_KEY: &str = "spur.aid";

/// A random RFC 4122 version 4 UUID.
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = crypto.get_random_values_with_u8_array(&mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        for nibble in [byte >> 4, byte & 0x0f] {
            s.extend(char::from_digit(u32::from(nibble), 16));
        }
    }
    s
}

/// The anonymous id kept in `localStorage`, created on first use.
pub fn anonymous_id() -> String {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    if let Some(id) = storage
        .as_ref()
        .and_then(|s| s.get_item(ANON_KEY).ok().flatten())
    {
        return id;
    }
    let id = uuid();
    if let Some(s) = storage {
        let _ = s.set_item(ANON_KEY, &id);
    }
    id
}

#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn uuid_is_v4_and_unique() {
        let a = super::uuid();
        let b = super::uuid();
        assert_ne!(a, b);
        let bytes = a.as_bytes();
        assert_eq!(a.len(), 36);
        for (i, c) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(*c, b'-');
            } else {
                assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{a}");
            }
        }
        assert_eq!(bytes[14], b'4', "version nibble in {a}");
        assert!(
            matches!(bytes[19], b'8' | b'9' | b'a' | b'b'),
            "variant nibble in {a}"
        );
    }
}
