//! `time_window` nodes: "only between 09:00 and 21:00 on weekdays, in the person's time zone".
//!
//! Invariant: [`next_open`] returns `at` itself when `at` lies inside the window and otherwise
//! the earliest later instant inside it, never more than [`MAX_WINDOW_WAIT_MS`] ahead, so a
//! run waiting at a window is bounded like every other wait. Local times are resolved through
//! a [`Zones`] oracle passed in (core has no time-zone database): the Worker answers from the
//! platform's `Intl` data, tests from fixed rules. A local opening time that does not exist
//! (skipped by a daylight-saving change) opens at the first instant after the gap; one that
//! exists twice opens at the earlier one. An unknown zone is read as UTC, and the run's path
//! says so.

use std::fmt::Debug;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The longest a run can wait at a window: a week (every window opens at least once a week).
pub const MAX_WINDOW_WAIT_MS: i64 = 7 * DAY_MS;

/// Answers a zone's offset from UTC at an instant.
pub trait Zones: Debug {
    /// `local - utc` in ms for `zone` at `utc_ms`, or `None` for a zone it does not know.
    fn offset_ms(&self, zone: &str, utc_ms: i64) -> Option<i64>;
}

/// Knows only `UTC` (and `Etc/UTC`, `GMT`) and fixed offsets such as `+05:30`: the default
/// when no oracle is given.
#[derive(Debug, Default, Clone, Copy)]
pub struct FixedZones;

impl Zones for FixedZones {
    fn offset_ms(&self, zone: &str, _utc_ms: i64) -> Option<i64> {
        fixed_offset_ms(zone)
    }
}

/// `UTC`, `Etc/UTC`, `GMT` → 0; `±HH:MM` → that offset; anything else `None`.
pub fn fixed_offset_ms(zone: &str) -> Option<i64> {
    if matches!(zone, "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Z") {
        return Some(0);
    }
    let b = zone.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if b.len() != 6 || b.get(3) != Some(&b':') {
        return None;
    }
    let num = |s: &str| s.parse::<i64>().ok();
    let h = num(zone.get(1..3)?)?;
    let m = num(zone.get(4..6)?)?;
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m) * MINUTE_MS)
}

/// Whether a zone name is worth asking an oracle about: `UTC`-like, a fixed offset, or an
/// IANA-shaped `Area/Location` name (letters, digits, `_ + - /`).
pub fn plausible_zone(zone: &str) -> bool {
    fixed_offset_ms(zone).is_some()
        || (zone.len() <= 64
            && zone.contains('/')
            && !zone.starts_with('/')
            && !zone.ends_with('/')
            && zone
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-' | b'/')))
}

/// A compiled window: allowed weekdays, minutes of the local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Bit `d` set: the window opens on weekday `d` (0 = Monday).
    pub days: u8,
    /// Opens at this minute of the local day.
    pub from: u16,
    /// Closes at this minute (exclusive); `to <= from` means it closes the next day.
    pub to: u16,
}

/// Weekday names as written in a journey, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `HH:MM` (00:00–24:00) into minutes of the day.
pub fn parse_clock(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
    let total = h * 60 + m;
    (m < 60 && total <= 24 * 60).then_some(total)
}

/// Weekday (0 = Monday) of a day number since 1970-01-01 (a Thursday).
fn weekday(day: i64) -> u8 {
    // 1970-01-01 is weekday 3 (Thursday); rem_euclid keeps it in 0..7 for negative days.
    ((day + 3).rem_euclid(7)) as u8
}

impl Window {
    fn opens_on(&self, day: i64) -> bool {
        self.days & (1 << weekday(day)) != 0
    }

    /// Whether a local time (ms since 1970 on the local clock) lies inside the window.
    pub fn contains_local(&self, local: i64) -> bool {
        let day = local.div_euclid(DAY_MS);
        let minute = (local.rem_euclid(DAY_MS) / MINUTE_MS) as u16;
        let (from, to) = (self.from, self.to);
        if from < to {
            self.opens_on(day) && from <= minute && minute < to
        } else {
            (self.opens_on(day) && minute >= from) || (self.opens_on(day - 1) && minute < to)
        }
    }
}

/// The UTC instant of local time `local` in `zone`: the earliest instant whose local time is at
/// or after `local` (after a gap) — for an ambiguous local time, the earlier of the two.
fn local_to_utc(zones: &dyn Zones, zone: &str, local: i64) -> i64 {
    let off = |t: i64| zones.offset_ms(zone, t).unwrap_or(0);
    // The offsets in force a day either side bracket any single transition near `local`.
    let mut best: Option<i64> = None;
    for o in [off(local - DAY_MS), off(local), off(local + DAY_MS)] {
        let u = local - o;
        if u + off(u) >= local {
            best = Some(best.map_or(u, |b| b.min(u)));
        }
    }
    best.unwrap_or(local - off(local))
}

/// When a run reaching a window at `at` may go on: `at` if inside, else the next opening.
pub fn next_open(window: &Window, zones: &dyn Zones, zone: &str, at: i64) -> i64 {
    let off = zones.offset_ms(zone, at).unwrap_or(0);
    let local = at + off;
    if window.contains_local(local) {
        return at;
    }
    let today = local.div_euclid(DAY_MS);
    for k in 0..=7 {
        let day = today + k;
        if !window.opens_on(day) {
            continue;
        }
        let open = local_to_utc(
            zones,
            zone,
            day * DAY_MS + i64::from(window.from) * MINUTE_MS,
        );
        if open > at {
            return open.min(at + MAX_WINDOW_WAIT_MS);
        }
    }
    at + MAX_WINDOW_WAIT_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central European time with the EU rules: +1 h, +2 h from the last Sunday of March 01:00
    /// UTC to the last Sunday of October 01:00 UTC. Enough to test DST without a tz database.
    #[derive(Debug)]
    struct Berlin;

    fn last_sunday_utc(year: i64, month: u32) -> i64 {
        // Days from civil (Howard Hinnant's algorithm) for the last day of the month.
        let days_in = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let last = days_from_civil(year, month, days_in[(month - 1) as usize]);
        last - i64::from(weekday(last) + 1) % 7
    }

    fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    impl Zones for Berlin {
        fn offset_ms(&self, zone: &str, t: i64) -> Option<i64> {
            if zone != "Europe/Berlin" {
                return fixed_offset_ms(zone);
            }
            let year = 1970 + t.div_euclid(DAY_MS * 365) - 1;
            let year = (year..year + 3)
                .find(|y| days_from_civil(*y + 1, 1, 1) * DAY_MS > t)
                .unwrap_or(year);
            let start = last_sunday_utc(year, 3) * DAY_MS + 3_600_000;
            let end = last_sunday_utc(year, 10) * DAY_MS + 3_600_000;
            Some(if (start..end).contains(&t) {
                7_200_000
            } else {
                3_600_000
            })
        }
    }

    const fn ms(day: i64, h: i64, m: i64) -> i64 {
        day * DAY_MS + h * 3_600_000 + m * MINUTE_MS
    }

    fn weekdays_9_to_21() -> Window {
        Window {
            days: 0b001_1111,
            from: 9 * 60,
            to: 21 * 60,
        }
    }

    #[test]
    fn clock_and_zone_parsing() {
        assert_eq!(parse_clock("09:30"), Some(570));
        assert_eq!(parse_clock("24:00"), Some(1440));
        assert_eq!(parse_clock("24:01"), None);
        assert_eq!(parse_clock("9:30"), None);
        assert_eq!(parse_clock("09:60"), None);
        assert_eq!(fixed_offset_ms("+05:30"), Some(19_800_000));
        assert_eq!(fixed_offset_ms("-03:00"), Some(-10_800_000));
        assert_eq!(fixed_offset_ms("+5:30"), None);
        assert!(plausible_zone("America/Argentina/Buenos_Aires"));
        assert!(plausible_zone("UTC"));
        assert!(!plausible_zone("Berlin"));
        assert!(!plausible_zone("Europe/Ber lin"));
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
        assert_eq!(
            weekday(days_from_civil(2026, 11, 30)),
            0,
            "2026-11-30 is a Monday"
        );
    }

    #[test]
    fn inside_passes_outside_waits_for_the_next_opening() {
        let w = weekdays_9_to_21();
        let monday = days_from_civil(2026, 11, 30);
        // Monday 10:00 UTC is inside.
        assert_eq!(
            next_open(&w, &FixedZones, "UTC", ms(monday, 10, 0)),
            ms(monday, 10, 0)
        );
        // Monday 22:00 waits for Tuesday 09:00.
        assert_eq!(
            next_open(&w, &FixedZones, "UTC", ms(monday, 22, 0)),
            ms(monday + 1, 9, 0)
        );
        // Friday 21:00 (closed: `to` is exclusive) waits for Monday 09:00.
        assert_eq!(
            next_open(&w, &FixedZones, "UTC", ms(monday + 4, 21, 0)),
            ms(monday + 7, 9, 0)
        );
        // A fixed offset: Monday 08:00 UTC is 13:30 in +05:30.
        assert_eq!(
            next_open(&w, &FixedZones, "+05:30", ms(monday, 8, 0)),
            ms(monday, 8, 0)
        );
        // Monday 16:00 UTC is 21:30 in +05:30: Tuesday 09:00 local = 03:30 UTC.
        assert_eq!(
            next_open(&w, &FixedZones, "+05:30", ms(monday, 16, 0)),
            ms(monday + 1, 3, 30)
        );
        // An unknown zone reads as UTC.
        assert_eq!(
            next_open(&w, &FixedZones, "Mars/Base", ms(monday, 22, 0)),
            ms(monday + 1, 9, 0)
        );
    }

    #[test]
    fn overnight_windows_span_midnight() {
        // Fridays 22:00 to 02:00 (Saturday morning).
        let w = Window {
            days: 1 << 4,
            from: 22 * 60,
            to: 2 * 60,
        };
        let friday = days_from_civil(2026, 12, 4);
        assert_eq!(weekday(friday), 4);
        assert_eq!(
            next_open(&w, &FixedZones, "UTC", ms(friday + 1, 1, 0)),
            ms(friday + 1, 1, 0)
        );
        assert_eq!(
            next_open(&w, &FixedZones, "UTC", ms(friday + 1, 2, 0)),
            ms(friday + 7, 22, 0)
        );
        assert_eq!(
            next_open(&w, &FixedZones, "UTC", ms(friday, 12, 0)),
            ms(friday, 22, 0)
        );
    }

    #[test]
    fn daylight_saving_days_open_at_local_time() {
        let w = Window {
            days: 0x7f,
            from: 9 * 60,
            to: 10 * 60,
        };
        // 2026-03-29: Berlin springs forward at 01:00 UTC. 09:00 local is 07:00 UTC that day,
        // 08:00 UTC the day before.
        let spring = days_from_civil(2026, 3, 29);
        assert_eq!(
            next_open(&w, &Berlin, "Europe/Berlin", ms(spring - 1, 12, 0)),
            ms(spring, 7, 0)
        );
        assert_eq!(
            next_open(&w, &Berlin, "Europe/Berlin", ms(spring - 1, 0, 0)),
            ms(spring - 1, 8, 0)
        );
        // 2026-10-25: back to +1: 09:00 local is 08:00 UTC.
        let autumn = days_from_civil(2026, 10, 25);
        assert_eq!(
            next_open(&w, &Berlin, "Europe/Berlin", ms(autumn - 1, 12, 0)),
            ms(autumn, 8, 0)
        );
        // A window opening inside the spring gap (02:30 local does not exist) opens right after.
        let gap = Window {
            days: 0x7f,
            from: 2 * 60 + 30,
            to: 4 * 60,
        };
        let open = next_open(&gap, &Berlin, "Europe/Berlin", ms(spring - 1, 12, 0));
        assert_eq!(
            open,
            ms(spring, 1, 30),
            "03:30 local, the first instant at or after 02:30"
        );
        // Ambiguous 02:30 on the autumn day (it happens twice): the earlier one, 00:30 UTC.
        let open = next_open(&gap, &Berlin, "Europe/Berlin", ms(autumn - 1, 12, 0));
        assert_eq!(open, ms(autumn, 0, 30));
    }

    #[test]
    fn every_answer_is_inside_and_no_later_than_a_week() {
        // Exhaustive over a fortnight in 7-minute steps across the spring change.
        let windows = [
            weekdays_9_to_21(),
            Window {
                days: 1 << 6,
                from: 23 * 60,
                to: 60,
            },
            Window {
                days: 0x7f,
                from: 60,
                to: 4 * 60,
            },
        ];
        let start = ms(days_from_civil(2026, 3, 22), 0, 0);
        for w in &windows {
            let mut t = start;
            while t < start + 14 * DAY_MS {
                let open = next_open(w, &Berlin, "Europe/Berlin", t);
                assert!(open >= t && open - t <= MAX_WINDOW_WAIT_MS);
                let local = open + Berlin.offset_ms("Europe/Berlin", open).unwrap_or(0);
                assert!(
                    w.contains_local(local) || open - t == MAX_WINDOW_WAIT_MS,
                    "{w:?} at {t}"
                );
                t += 7 * MINUTE_MS;
            }
        }
    }
}
