//! What to do after a send: done, retry later, or give up; and how long to wait.
//!
//! Invariant: only network errors, 5xx, 408 and 429 are retried, with exponential backoff and
//! full jitter (a uniform delay below a ceiling that doubles per failure); every other status
//! ends the batch. Retries are safe because each event's `messageId` is fixed at capture.

use crate::limits::{BACKOFF_BASE_MS, BACKOFF_MAX_MS};

/// The fate of a sent batch, from the HTTP status (0 for a network error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The edge took it (2xx): remove the events.
    Delivered,
    /// A transient failure: keep the events and try again later.
    Retry,
    /// The edge refused the batch for good (other 4xx, or anything unexpected): drop it.
    Refused,
}

/// Classifies an HTTP status.
pub fn outcome(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        0 | 408 | 429 | 500..=599 => Outcome::Retry,
        _ => Outcome::Refused,
    }
}

/// Consecutive failures and the delay they earn.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Counts a failure and returns the ceiling of the next delay: the delay itself is drawn
    /// uniformly from `0..=ceiling` (full jitter), so clients that failed together spread out.
    pub fn next_ceiling(&mut self) -> u32 {
        let ceiling = BACKOFF_BASE_MS
            .checked_shl(self.failures)
            .filter(|c| *c <= BACKOFF_MAX_MS && *c >= BACKOFF_BASE_MS)
            .unwrap_or(BACKOFF_MAX_MS);
        self.failures = self.failures.saturating_add(1);
        ceiling
    }

    /// Forgets past failures (after a success, or when the browser comes back online).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        for s in [200, 202, 299] {
            assert_eq!(outcome(s), Outcome::Delivered, "{s}");
        }
        for s in [0, 408, 429, 500, 503, 599] {
            assert_eq!(outcome(s), Outcome::Retry, "{s}");
        }
        for s in [301, 400, 401, 403, 404, 413, 422] {
            assert_eq!(outcome(s), Outcome::Refused, "{s}");
        }
    }

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let mut b = Backoff::default();
        let ceilings: Vec<u32> = (0..9).map(|_| b.next_ceiling()).collect();
        assert_eq!(
            ceilings,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
    }

    #[test]
    fn many_failures_stay_capped_and_reset_starts_over() {
        let mut b = Backoff { failures: 40 };
        assert_eq!(b.next_ceiling(), BACKOFF_MAX_MS);
        b.reset();
        assert_eq!(b.next_ceiling(), BACKOFF_BASE_MS);
    }
}
