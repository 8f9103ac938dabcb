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
            self.out.push_str(",");
        }
        escape_into(&mut self.out, key);
        self.out.push_str(":");
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

    /// Adds the members of the JSON object `json` (`{…}` as `JSON.stringify` writes it, with
    /// no outer whitespace), e.g. user properties after the tracker's own, so that later
    /// duplicates win as in `Object.assign`.
    pub fn splice(&mut self, json: &str) -> &mut Obj {
        let inner = json.get(1..json.len().saturating_sub(1)).unwrap_or("");
        if !inner.is_empty() {
            if self.out.len() > 1 {
                self.out.push_str(",");
            }
            self.out.push_str(inner);
        }
        self
    }

    /// The finished object.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.push_str("}");
        out
    }
}

impl Default for Obj {
    fn default() -> Obj {
        Obj::new()
    }
}

/// Appends `s` as a JSON string literal. Works on bytes: only ASCII is ever escaped, so the
/// runs between escapes are copied whole. Every escape is the `\u00XX` form (valid JSON for
/// any character): one code path is smaller than a table of short escapes.
pub fn escape_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push_str("\"");
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        if b < 0x20 || b == b'"' || b == b'\\' {
            out.push_str(s.get(run..i).unwrap_or_default());
            out.push_str("\\u00");
            out.push_str(hex_digit(u32::from(b >> 4)));
            out.push_str(hex_digit(u32::from(b)));
            run = i + 1;
        }
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push_str("\"");
}

/// Digits for every radix up to 36.
const DIGITS: &str = "0123456789abcdefghijklmnopqrstuvwxyz";

/// The digit `d` (below 36) as a one-character string. Strings, not `char`s, are pushed
/// throughout this module: `String::push(char)` links in a UTF-8 encoder.
fn digit(d: u64) -> &'static str {
    let d = d as usize;
    DIGITS.get(d..d + 1).unwrap_or("0")
}

/// The lowercase hex digit of the low four bits of `n`.
pub fn hex_digit(n: u32) -> &'static str {
    digit(u64::from(n & 0xf))
}

/// Appends `n` in decimal (without `core::fmt`, which is large in wasm).
pub fn push_u64(out: &mut String, n: u64) {
    push_radix(out, n, 10, 1);
}

/// Appends `n` in `radix` (2..=36, lowercase), left-padded with zeros to `width` (≤ 64) digits.
pub fn push_radix(out: &mut String, mut n: u64, radix: u64, width: usize) {
    let radix = radix.max(2);
    let mut digits = [""; 64];
    let mut used = 0;
    for slot in digits.iter_mut().rev() {
        if n == 0 && used >= width.max(1) {
            break;
        }
        *slot = digit(n % radix);
        n /= radix;
        used += 1;
    }
    for d in digits.iter().skip(digits.len() - used) {
        out.push_str(d);
    }
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

/// Splits `s` at the first `sep` byte (an ASCII separator).
pub fn split_once(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The parts of `s` between `sep` bytes (an ASCII separator); empty parts are skipped.
pub fn split(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || loop {
        let part = rest?;
        let (head, tail) = split_once(part, sep).map_or((part, None), |(h, t)| (h, Some(t)));
        rest = tail;
        if !head.is_empty() {
            return Some(head);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\nd\u{1}é\u{2028}");
        assert_eq!(
            s,
            r#""a\u0022b\u005cc\u000ad\u0001é"#.to_owned() + "\u{2028}\""
        );
        // What JSON.parse would give back.
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é\u{2028}");
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
        assert_eq!(empty.splice("{}").splice("").finish(), "{}");
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
    fn splits_on_ascii_separators() {
        assert_eq!(split_once("a.b.c", b'.'), Some(("a", "b.c")));
        assert_eq!(split_once("abc", b'.'), None);
        assert_eq!(split("\nx\n\nyé\n", b'\n').collect::<Vec<_>>(), ["x", "yé"]);
        assert_eq!(split("", b'\n').count(), 0);
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
