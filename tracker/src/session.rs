//! Sessions: a session lasts until 30 minutes pass without an event.
//!
//! Invariant: the session id is the session's start time in ms (as Segment/Amplitude use), is
//! shared by all tabs through storage, and changes only after `SESSION_TIMEOUT_MS` of quiet.

use crate::json::{parse_u64, push_u64, split_once};
use crate::limits::SESSION_TIMEOUT_MS;

/// A session's id (its start, ms since 1970) and its latest activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The id sent as `context.sessionId`.
    pub id: u64,
    /// When the latest event in it happened.
    pub last: u64,
}

impl Session {
    /// The session an event at `now` belongs to, continuing `prev` if it is still alive.
    pub fn touch(prev: Option<Session>, now: f64) -> Session {
        let now = now as u64;
        match prev {
            Some(s) if now >= s.last && ((now - s.last) as f64) < SESSION_TIMEOUT_MS => Session {
                id: s.id,
                last: now,
            },
            // A clock that went backwards counts as a new session, like a timeout.
            _ => Session { id: now, last: now },
        }
    }

    /// Reads the stored form `id.last`.
    pub fn decode(s: &str) -> Option<Session> {
        let (id, last) = split_once(s, b'.')?;
        Some(Session {
            id: parse_u64(id)?,
            last: parse_u64(last)?,
        })
    }

    /// The stored form `id.last`.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        push_u64(&mut s, self.id);
        s.push_str(".");
        push_u64(&mut s, self.last);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_732_790_000_000.0;
    const MIN: f64 = 60_000.0;

    #[test]
    fn continues_within_thirty_minutes_of_quiet() {
        let s = Session::touch(None, T0);
        assert_eq!(s.id, T0 as u64);
        let s2 = Session::touch(Some(s), T0 + 29.0 * MIN);
        assert_eq!(s2.id, s.id);
        // Activity extends the session: 29 + 29 minutes is still one session.
        let s3 = Session::touch(Some(s2), T0 + 58.0 * MIN);
        assert_eq!(s3.id, s.id);
    }

    #[test]
    fn starts_over_after_thirty_minutes_or_a_clock_jump_back() {
        let s = Session::touch(None, T0);
        assert_eq!(
            Session::touch(Some(s), T0 + 30.0 * MIN).id,
            (T0 + 30.0 * MIN) as u64
        );
        assert_eq!(Session::touch(Some(s), T0 - 1.0).id, (T0 - 1.0) as u64);
    }

    #[test]
    fn round_trips_its_stored_form_and_refuses_junk() {
        let s = Session {
            id: 1_732_790_000_000,
            last: 1_732_790_060_000,
        };
        assert_eq!(s.encode(), "1732790000000.1732790060000");
        assert_eq!(Session::decode(&s.encode()), Some(s));
        for junk in ["", "1", "1.", ".1", "a.b", "1.2.3"] {
            assert_eq!(Session::decode(junk), None, "{junk}");
        }
    }
}
