//! The one literal encoder for ClickHouse values: every value a request contributes to
//! ClickHouse SQL passes through [`literal`] (or [`string`]), never `format!` on its own.
//!
//! Why literals: ClickHouse 18.16 refuses server-side query parameters (`param_x` is an
//! unknown setting; newer servers take `{x:Type}`), so values are written into the text. This
//! function is the single seam to switch to server parameters later.
//!
//! Invariant: for every byte string `s`, `SELECT {string(s)}` yields exactly `s`; for every
//! `i64` and finite `f64`, the literal yields exactly that number (floats bit for bit). Checked
//! against the real server by `core/tests/clickhouse_literals.rs`.

use super::super::{QueryError, SqlValue};

/// A string literal: single-quoted, with `\` and `'` escaped and every byte outside printable
/// ASCII written as `\xHH`, so NUL, control characters and non-UTF-8 bytes survive exactly.
pub fn string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('\'');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02X}")),
        }
    }
    out.push('\'');
    out
}

/// An integer literal (`Int64` range; 18.16 and current servers read `-9223372036854775808`).
pub fn int(i: i64) -> String {
    i.to_string()
}

/// A float literal, exact to the bit: 18.16's decimal float parser rejects some valid
/// spellings (subnormals like `5e-324`), so the IEEE 754 bytes are written instead.
/// Non-finite values are refused: JSON cannot carry them.
pub fn float(f: f64) -> Result<String, QueryError> {
    if !f.is_finite() {
        return Err(QueryError::value("value", "must be a finite number"));
    }
    let hex: String = f.to_le_bytes().iter().map(|b| format!("{b:02X}")).collect();
    Ok(format!("reinterpretAsFloat64(unhex('{hex}'))"))
}

/// The literal for a typed value (`NULL` for [`SqlValue::Null`]).
pub fn literal(v: &SqlValue) -> Result<String, QueryError> {
    Ok(match v {
        SqlValue::Null => "NULL".into(),
        SqlValue::Int(i) => int(*i),
        SqlValue::Real(f) => float(*f)?,
        SqlValue::Text(s) => string(s.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_quotes_backslashes_and_bytes() {
        assert_eq!(string(b"it's"), r"'it\'s'");
        assert_eq!(string(b"a\\b"), r"'a\\b'");
        assert_eq!(string(b"\0\n\xff"), r"'\x00\x0A\xFF'");
        assert_eq!(string("é".as_bytes()), r"'\xC3\xA9'");
        assert_eq!(
            string(b"'; DROP TABLE events; --"),
            r"'\'; DROP TABLE events; --'"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(int(i64::MIN), "-9223372036854775808");
        assert_eq!(
            float(0.1).unwrap(),
            "reinterpretAsFloat64(unhex('9A9999999999B93F'))"
        );
        assert!(float(f64::NAN).is_err());
        assert_eq!(literal(&SqlValue::Null).unwrap(), "NULL");
    }
}
