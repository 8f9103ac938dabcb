//! Ids: random version 4 UUIDs for `messageId` and `anonymousId`.
//!
//! Invariant: the randomness comes from `crypto.getRandomValues` (through the host), which
//! unlike `crypto.randomUUID` also works on plain-HTTP pages.

use crate::host;
use crate::json::hex_digit;

/// A random RFC 4122 version 4 UUID, lowercase.
pub fn uuid() -> String {
    let words = [host::rand(), host::rand(), host::rand(), host::rand()];
    format_v4(words)
}

/// Formats 128 random bits as a version 4 UUID (setting the version and variant bits).
fn format_v4(words: [u32; 4]) -> String {
    let mut s = String::with_capacity(36);
    let mut nibble = 0;
    for word in words {
        for shift in (0..8).rev() {
            let mut n = (word >> (shift * 4)) & 0xf;
            if nibble == 12 {
                n = 4;
            } else if nibble == 16 {
                n = 8 | (n & 3);
            }
            if matches!(nibble, 8 | 12 | 16 | 20) {
                s.push_str("-");
            }
            s.push_str(hex_digit(n));
            nibble += 1;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_v4(id: &str) {
        let b = id.as_bytes();
        assert_eq!(id.len(), 36, "{id}");
        for (i, c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(*c, b'-', "{id}");
            } else {
                assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{id}");
            }
        }
        assert_eq!(b[14], b'4', "version nibble in {id}");
        assert!(
            matches!(b[19], b'8' | b'9' | b'a' | b'b'),
            "variant in {id}"
        );
    }

    #[test]
    fn formats_bits_as_a_v4_uuid() {
        assert_eq!(format_v4([0; 4]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(
            format_v4([u32::MAX; 4]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(
            format_v4([0x0123_4567, 0x89ab_cdef, 0x0123_4567, 0x89ab_cdef]),
            "01234567-89ab-4def-8123-456789abcdef"
        );
        assert_v4(&format_v4([1, 2, 3, 4]));
    }

    #[test]
    fn successive_ids_differ() {
        let (a, b) = (uuid(), uuid());
        assert_v4(&a);
        assert_v4(&b);
        assert_ne!(a, b);
    }
}
