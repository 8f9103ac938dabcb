//! A minimal JSON writer: objects built by appending to a `String`.
//!
//! Invariant: every string written goes through [`escape_into`], so the output is valid JSON
//! for any input; values given as raw JSON are produced by `JSON.stringify` or by this module.
//! No serde and no float formatting: both would cost more than the whole tracker.

/// An object being written; `finish` closes it.
#[derive(Debug)]
pub struct Obj {
    out: String,
}

impl Obj {
    /// An empty object.
    pub fn new() -> Obj {
        Obj {
            out: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        escape_into(&mut self.out, key);
        self.out.push(':');
    }

    /// Adds `key: "value"`.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Obj {
        self.key(key);
        escape_into(&mut self.out, value);
        self
    }

    /// Adds `key: "value"` when `value` is not empty.
    pub fn str_opt(&mut self, key: &str, value: &str) -> &mut Obj {
        if !value.is_empty() {
            self.str(key, value);
        }
        self
    }

    /// Adds `key: <json>`; `json` must already be valid JSON.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Obj {
        self.key(key);
        self.out.push_str(json);
        self
    }

    /// Adds `key: n`.
    pub fn num(&mut self, key: &str, n: u64) -> &mut Obj {
        self.key(key);
        push_u64(&mut self.out, n);
        self
    }

    /// Adds the members of the JSON object `json` (`{…}`), e.g. user properties after the
    /// tracker's own, so that later duplicates win as in `Object.assign`.
    pub fn splice(&mut self, json: &str) -> &mut Obj {
        let inner = json
            .trim()
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or("")
            .trim();
        if !inner.is_empty() {
            if self.out.len() > 1 {
                self.out.push(',');
            }
            self.out.push_str(inner);
        }
        self
    }

    /// Whether no member was added.
    pub fn is_empty(&self) -> bool {
        self.out.len() == 1
    }

    /// The finished object.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.push('}');
        out
    }
}

impl Default for Obj {
    fn default() -> Obj {
        Obj::new()
    }
}

/// Appends `s` as a JSON string literal.
pub fn escape_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str("\\u00");
                out.push(hex_digit(u32::from(c) >> 4));
                out.push(hex_digit(u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The lowercase hex digit of the low four bits of `n`.
pub fn hex_digit(n: u32) -> char {
    char::from_digit(n & 0xf, 16).unwrap_or('0')
}

/// Appends `n` in decimal (without `core::fmt`, which is large in wasm).
pub fn push_u64(out: &mut String, n: u64) {
    push_radix(out, n, 10, 1);
}

/// Appends `n` in `radix` (2..=36, lowercase), left-padded with zeros to `width` digits.
pub fn push_radix(out: &mut String, mut n: u64, radix: u32, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    while n > 0 || digits.len() - i < width.max(1) {
        let Some(slot) = i.checked_sub(1) else { break };
        i = slot;
        let d = char::from_digit((n % u64::from(radix)) as u32, radix).unwrap_or('0');
        if let Some(b) = digits.get_mut(i) {
            *b = d as u8;
        }
        n /= u64::from(radix);
    }
    out.push_str(std::str::from_utf8(digits.get(i..).unwrap_or_default()).unwrap_or_default());
}

/// Parses a decimal `u64` (digits only).
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\nd\u{1}é\u{2028}");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\u{2028}\"");
    }

    #[test]
    fn builds_nested_objects_and_splices_user_members_last() {
        let mut inner = Obj::new();
        inner.str("k", "v");
        let mut o = Obj::new();
        o.str("type", "page")
            .raw("inner", &inner.finish())
            .num("n", 1_732_790_000_123)
            .str_opt("empty", "")
            .splice(r#"{"title":"mine","x":1}"#)
            .splice("{}");
        assert_eq!(
            o.finish(),
            r#"{"type":"page","inner":{"k":"v"},"n":1732790000123,"title":"mine","x":1}"#
        );
        let mut empty = Obj::new();
        assert!(empty.splice(" { } ").is_empty());
        assert_eq!(empty.finish(), "{}");
    }

    #[test]
    fn numbers_in_any_radix_with_padding() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        s.push(' ');
        push_radix(&mut s, 35, 36, 4);
        assert_eq!(s, "0 18446744073709551615 000z");
    }

    #[test]
    fn parses_decimal_and_refuses_junk() {
        assert_eq!(parse_u64("1732790000123"), Some(1_732_790_000_123));
        assert_eq!(parse_u64(""), None);
        assert_eq!(parse_u64("12a"), None);
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_u64("99999999999999999999"), None);
    }
}
