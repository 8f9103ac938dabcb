//! Time ranges, bucket intervals and durations as queries spell them.
//!
//! Invariant: a [`TimeRange`] is half-open, `from <= t < to`, in ms since 1970, with
//! `from < to` and at most [`limits::MAX_RANGE_DAYS`] long; a [`Window`] is positive and at
//! most [`limits::MAX_WINDOW_DAYS`].

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{limits, QueryError};

/// One day in ms.
pub const DAY_MS: i64 = 86_400_000;
/// One hour in ms.
pub const HOUR_MS: i64 = 3_600_000;

/// Parses an RFC 3339 instant into ms since 1970.
pub fn parse_instant(what: &'static str, s: &str) -> Result<i64, QueryError> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
        QueryError::value(
            what,
            format!("`{s}` is not an RFC 3339 time like 2026-11-01T00:00:00Z ({e})"),
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| QueryError::value(what, "out of range"))
}

/// Formats ms since 1970 as RFC 3339 (UTC).
pub fn format_instant(ms: i64) -> String {
    crate::instant::ms_to_rfc3339(ms)
}

/// A half-open time range as sent: `{"from": "...", "to": "..."}` in RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeRange {
    /// First ms inside the range.
    pub from: i64,
    /// First ms after the range.
    pub to: i64,
}

impl TimeRange {
    /// Validates a range given as two RFC 3339 strings.
    pub fn parse(from: &str, to: &str) -> Result<Self, QueryError> {
        let from = parse_instant("from", from)?;
        let to = parse_instant("to", to)?;
        if from >= to {
            return Err(QueryError::value("to", "must be later than `from`"));
        }
        if to - from > limits::MAX_RANGE_DAYS * DAY_MS {
            return Err(QueryError::value(
                "to",
                format!("the range is longer than {} days", limits::MAX_RANGE_DAYS),
            ));
        }
        Ok(TimeRange { from, to })
    }
}

/// Insight bucket size (UTC boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Hourly buckets.
    Hour,
    /// Daily buckets (UTC midnight).
    #[default]
    Day,
}

impl Interval {
    /// The bucket length in ms.
    pub const fn ms(self) -> i64 {
        match self {
            Interval::Hour => HOUR_MS,
            Interval::Day => DAY_MS,
        }
    }
}

/// A duration spelled `<n><unit>` with unit `s`, `m`, `h` or `d` (`"30m"`, `"7d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Its length in ms.
    pub ms: i64,
}

impl Window {
    /// Parses and bounds a duration for the key `what`.
    pub fn parse(what: &'static str, s: &str) -> Result<Self, QueryError> {
        let bad = || {
            QueryError::value(
                what,
                format!("`{s}` is not a duration like 30m, 24h or 7d (units s, m, h, d)"),
            )
        };
        let unit_at = s.len().checked_sub(1).ok_or_else(bad)?;
        let (num, unit) = (s.get(..unit_at).ok_or_else(bad)?, s.get(unit_at..));
        let n: i64 = num.parse().map_err(|_| bad())?;
        let unit_ms = match unit {
            Some("s") => 1_000,
            Some("m") => 60_000,
            Some("h") => HOUR_MS,
            Some("d") => DAY_MS,
            _ => return Err(bad()),
        };
        let ms = n.checked_mul(unit_ms).ok_or_else(bad)?;
        if ms <= 0 {
            return Err(QueryError::value(what, "must be positive"));
        }
        if ms > limits::MAX_WINDOW_DAYS * DAY_MS {
            return Err(QueryError::value(
                what,
                format!("longer than {} days", limits::MAX_WINDOW_DAYS),
            ));
        }
        Ok(Window { ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_ordered_and_bounded() {
        let r = TimeRange::parse("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z").unwrap();
        assert_eq!(r.to - r.from, DAY_MS);
        assert_eq!(format_instant(r.from), "2026-11-01T00:00:00Z");
        assert!(TimeRange::parse("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z").is_err());
        assert!(TimeRange::parse("2026-11-01", "2026-11-02T00:00:00Z").is_err());
        // Exactly MAX_RANGE_DAYS is fine, one ms more is not.
        let from = "2026-01-01T00:00:00Z";
        let ok =
            format_instant(parse_instant("x", from).unwrap() + limits::MAX_RANGE_DAYS * DAY_MS);
        assert!(TimeRange::parse(from, &ok).is_ok());
        let over =
            format_instant(parse_instant("x", from).unwrap() + limits::MAX_RANGE_DAYS * DAY_MS + 1);
        assert!(TimeRange::parse(from, &over).is_err());
    }

    #[test]
    fn windows_parse_with_units() {
        assert_eq!(Window::parse("w", "30m").unwrap().ms, 1_800_000);
        assert_eq!(Window::parse("w", "7d").unwrap().ms, 7 * DAY_MS);
        assert_eq!(Window::parse("w", "1s").unwrap().ms, 1_000);
        assert_eq!(
            Window::parse("w", &format!("{}d", limits::MAX_WINDOW_DAYS))
                .unwrap()
                .ms,
            limits::MAX_WINDOW_DAYS * DAY_MS
        );
        for bad in [
            "",
            "d",
            "7",
            "7w",
            "-1d",
            "0h",
            "1.5h",
            "367d",
            "99999999999999999d",
        ] {
            assert!(Window::parse("w", bad).is_err(), "{bad}");
        }
    }
}
