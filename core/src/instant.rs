//! Instants as the storage and the wire carry them: milliseconds since 1970 and RFC 3339 text.
//!
//! Invariant: this is the one place a millisecond count becomes an [`OffsetDateTime`] or RFC
//! 3339 text and back; out-of-range values never panic (an instant out of `time`'s range is the
//! epoch, its text empty), so every caller formats and parses alike.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The instant `ms` milliseconds after 1970 (the epoch when out of range).
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Milliseconds since 1970 (saturating; sub-millisecond digits are dropped).
pub fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(if t.year() < 1970 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// RFC 3339 text of an instant (empty if it cannot be written, e.g. a year past 9999).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// RFC 3339 text of `ms` milliseconds after 1970 (empty when out of range).
pub fn ms_to_rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .map(rfc3339)
        .unwrap_or_default()
}

/// Parses RFC 3339 text.
pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_never_panics() {
        let ms = 1_714_564_800_123;
        assert_eq!(ms_to_rfc3339(ms), "2024-05-01T12:00:00.123Z");
        assert_eq!(to_ms(from_ms(ms)), ms);
        assert_eq!(
            to_ms(parse_rfc3339("2024-05-01T12:00:00.123Z").unwrap()),
            ms
        );
        assert_eq!(rfc3339(from_ms(ms)), ms_to_rfc3339(ms));
        assert_eq!(ms_to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(ms_to_rfc3339(i64::MAX), "");
        assert_eq!(from_ms(i64::MAX), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            to_ms(parse_rfc3339("1969-12-31T23:59:59.9995Z").unwrap()),
            -1
        );
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
