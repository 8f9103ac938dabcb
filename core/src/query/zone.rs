//! Query time zones: a zone's UTC offsets over a query's range, as a piecewise-constant table
//! that both stores' SQL reads through one expression, so both agree by construction.
//!
//! Core has no zone database and no clock: a [`Zones`] oracle (the Worker's `Intl`, tests'
//! fixed tables) answers "offset at instant t". [`ZoneTable::probe`] samples it every
//! [`limits::ZONE_PROBE_MS`] over the range (plus a day each side) and finds each change to the
//! millisecond by bisection; zones change offset at most a few times a year, never twice within
//! the probe step. The SQL then computes an event's local time as `ts + CASE WHEN ts < t1 THEN
//! o0 WHEN ts < t2 THEN o1 … ELSE on END` (SQLite) or the same `multiIf` (ClickHouse), with
//! every number from the table written as an integer literal.
//!
//! Local midnights map back to instants with [`ZoneTable::utc_of_local`]: the earliest instant
//! whose local time is at or after it (a skipped local time maps to the transition itself, a
//! repeated one to its first occurrence). So a spring-forward day is 23 h and a fall-back day
//! 25 h long.

use crate::journeys::Zones;

use super::{limits, QueryError};

/// A zone's offsets: `cuts[i] = (start, offset)`, the first start `i64::MIN`, starts increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneTable {
    cuts: Vec<(i64, i64)>,
}

impl Default for ZoneTable {
    fn default() -> Self {
        ZoneTable {
            cuts: vec![(i64::MIN, 0)],
        }
    }
}

impl ZoneTable {
    /// UTC.
    pub fn utc() -> Self {
        Self::default()
    }

    /// A table from explicit cuts (tests).
    pub fn from_cuts(first_offset: i64, changes: &[(i64, i64)]) -> Self {
        let mut cuts = vec![(i64::MIN, first_offset)];
        cuts.extend_from_slice(changes);
        ZoneTable { cuts }
    }

    /// Asks the oracle for `zone` over `[from, to)`; an unknown zone is refused.
    pub fn probe(zones: &dyn Zones, zone: &str, from: i64, to: i64) -> Result<Self, QueryError> {
        let unknown = || QueryError::UnknownZone(zone.chars().take(64).collect());
        if zone.is_empty() || zone.len() > 64 {
            return Err(unknown());
        }
        let at = |t: i64| zones.offset_ms(zone, t).ok_or_else(unknown);
        let (lo, hi) = (
            from.saturating_sub(super::time_range::DAY_MS),
            to.saturating_add(super::time_range::DAY_MS),
        );
        let mut cuts = vec![(i64::MIN, at(lo)?)];
        let mut t = lo;
        let mut prev = at(lo)?;
        while t < hi {
            let next = t.saturating_add(limits::ZONE_PROBE_MS).min(hi);
            let off = at(next)?;
            if off != prev {
                // The change lies in (t, next]: bisect for its first instant.
                let (mut a, mut b) = (t, next);
                while b - a > 1 {
                    let m = a + (b - a) / 2;
                    if at(m)? == prev {
                        a = m;
                    } else {
                        b = m;
                    }
                }
                let new = at(b)?;
                cuts.push((b, new));
                if cuts.len() > limits::MAX_ZONE_CHANGES + 1 {
                    return Err(QueryError::value(
                        "timezone",
                        format!(
                            "more than {} offset changes in the range",
                            limits::MAX_ZONE_CHANGES
                        ),
                    ));
                }
                prev = new;
                if new != off {
                    // Two changes within one probe step: resume from just after the first.
                    t = b;
                    continue;
                }
            }
            prev = off;
            t = next;
        }
        Ok(ZoneTable { cuts })
    }

    /// Whether the table is UTC throughout.
    pub fn is_utc(&self) -> bool {
        self.cuts.iter().all(|(_, o)| *o == 0)
    }

    /// The offset at instant `t`.
    pub fn offset(&self, t: i64) -> i64 {
        self.cuts
            .iter()
            .take_while(|(s, _)| *s <= t)
            .last()
            .map_or(0, |(_, o)| *o)
    }

    /// The local time (as ms on a UTC-like clock) at instant `t`.
    pub fn local(&self, t: i64) -> i64 {
        t.saturating_add(self.offset(t))
    }

    /// The earliest instant whose local time is at or after `l`.
    pub fn utc_of_local(&self, l: i64) -> i64 {
        let mut best = i64::MAX;
        for (i, (start, off)) in self.cuts.iter().enumerate() {
            let end = self.cuts.get(i + 1).map_or(i64::MAX, |c| c.0);
            let u = (*start).max(l.saturating_sub(*off));
            if u < end {
                best = best.min(u);
            }
        }
        best
    }

    /// The offset at column/expression `t` in SQLite SQL (integers only).
    pub fn sqlite_offset(&self, t: &str) -> String {
        match self.cuts.as_slice() {
            [] => "0".into(),
            [(_, o)] => o.to_string(),
            [(_, first), rest @ ..] => {
                let mut s = String::from("CASE");
                let mut cur = *first;
                for (start, off) in rest {
                    s += &format!(" WHEN {t} < {start} THEN {cur}");
                    cur = *off;
                }
                s += &format!(" ELSE {cur} END");
                s
            }
        }
    }

    /// The offset at `t` in ClickHouse SQL (`multiIf`, Int64).
    pub fn clickhouse_offset(&self, t: &str) -> String {
        match self.cuts.as_slice() {
            [] => "toInt64(0)".into(),
            [(_, o)] => format!("toInt64({o})"),
            [(_, first), rest @ ..] => {
                let mut args = Vec::new();
                let mut cur = *first;
                for (start, off) in rest {
                    args.push(format!("{t} < {start}, toInt64({cur})"));
                    cur = *off;
                }
                format!("multiIf({}, toInt64({cur}))", args.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    /// America/New_York around the 2026 changes: EDT (-4 h) from 2026-03-08 07:00 UTC, EST (-5 h)
    /// from 2026-11-01 06:00 UTC.
    #[derive(Debug)]
    struct NewYork;
    const SPRING: i64 = 1_772_953_200_000; // 2026-03-08T07:00:00Z
    const FALL: i64 = 1_793_512_800_000; // 2026-11-01T06:00:00Z
    impl Zones for NewYork {
        fn offset_ms(&self, zone: &str, t: i64) -> Option<i64> {
            (zone == "America/New_York").then_some(if (SPRING..FALL).contains(&t) {
                -4 * H
            } else {
                -5 * H
            })
        }
    }

    #[test]
    fn probe_finds_each_change_to_the_ms() {
        let t =
            ZoneTable::probe(&NewYork, "America/New_York", SPRING - 30 * D, FALL + 30 * D).unwrap();
        assert_eq!(
            t.cuts,
            vec![(i64::MIN, -5 * H), (SPRING, -4 * H), (FALL, -5 * H)]
        );
        assert_eq!(t.offset(SPRING - 1), -5 * H);
        assert_eq!(t.offset(SPRING), -4 * H);
        assert!(matches!(
            ZoneTable::probe(&NewYork, "Mars/Base", 0, D),
            Err(QueryError::UnknownZone(_))
        ));
        assert!(
            ZoneTable::probe(&NewYork, "America/New_York", FALL + D, FALL + 9 * D)
                .unwrap()
                .cuts
                .len()
                == 1
        );
    }

    #[test]
    fn local_midnights_make_23_and_25_hour_days() {
        let t = ZoneTable::from_cuts(-5 * H, &[(SPRING, -4 * H), (FALL, -5 * H)]);
        // 2026-03-08 local midnight (EST) to 2026-03-09 local midnight (EDT): 23 h.
        let mar8 = t.local(SPRING) / D * D;
        let (a, b) = (t.utc_of_local(mar8), t.utc_of_local(mar8 + D));
        assert_eq!(b - a, 23 * H);
        let nov1 = t.local(FALL) / D * D;
        let (a, b) = (t.utc_of_local(nov1), t.utc_of_local(nov1 + D));
        assert_eq!(b - a, 25 * H);
        assert_eq!(a, FALL - 2 * H); // 00:00 EDT = 04:00Z
                                     // A skipped local time maps to the change; a repeated one to its first occurrence.
        assert_eq!(t.utc_of_local(mar8 + 2 * H + 30 * 60_000), SPRING);
        assert_eq!(
            t.utc_of_local(nov1 + H + 30 * 60_000),
            FALL - H + 30 * 60_000
        );
        assert_eq!(
            t.sqlite_offset("e.ts_ms"),
            format!("CASE WHEN e.ts_ms < {SPRING} THEN -18000000 WHEN e.ts_ms < {FALL} THEN -14400000 ELSE -18000000 END")
        );
        assert!(t.clickhouse_offset("ts_ms").starts_with("multiIf(ts_ms < "));
        assert_eq!(ZoneTable::utc().sqlite_offset("x"), "0");
    }
}
