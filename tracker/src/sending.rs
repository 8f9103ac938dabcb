//! Sending: the tracker's side of delivery (`crate::delivery` holds its state).
//!
//! Invariant: as `crate::delivery` states it — one sender tab, at most one request in flight,
//! events leave the queue only once the edge answered for them. These are methods of
//! [`Tracker`] because they read its queue and consent. Imports run one way: this module uses
//! `tracker` and `delivery`; `tracker` uses `delivery` for the state; `delivery` uses neither.

use crate::backoff::{outcome, Outcome};
use crate::consent::Consent;
use crate::delivery::{LOCK_NAME, SEQ_MASK};
use crate::host::{self, code, fact, send, Registration, Store};
use crate::json::escape_into;
use crate::limits::{
    BATCH_EVENTS, FLUSH_AFTER_MS, GZIP_MIN_BYTES, MAX_BATCH_EVENTS, MAX_BODY_BYTES,
};
use crate::tracker::Tracker;

impl Tracker {
    fn may_send(&self) -> bool {
        self.consent == Consent::Granted && self.delivery.sender
    }

    /// Becomes a sender: at once for an in-memory queue, through the Web Lock for storage.
    pub(crate) fn start_sending(&mut self) {
        if self.consent != Consent::Granted {
            return;
        }
        match self.queue.store {
            Store::Memory => {
                self.delivery.sender = true;
                self.captured();
            }
            Store::Local if self.delivery.lock.is_none() => {
                let release = host::lead(LOCK_NAME, code::LEAD);
                self.delivery.lock = Some(Registration::new(release));
            }
            Store::Local => {}
        }
    }

    /// Stops sending and forgets any request or timer in flight (opt-out).
    pub(crate) fn stop_sending(&mut self) {
        let d = &mut self.delivery;
        d.sender = false;
        d.waiting = false;
        d.lock = None;
        d.in_flight.clear();
        // Answers to earlier sends and earlier timers are ignored from now on.
        d.sends = d.sends.wrapping_add(1) & SEQ_MASK;
        d.timers = d.timers.wrapping_add(1) & SEQ_MASK;
        d.due = None;
        d.retry_at = 0.0;
        d.backoff.reset();
    }

    /// The lock's answer: `held` (this tab sends), or another tab holds it (wait in line).
    pub fn on_lead(&mut self, held: bool) {
        if self.delivery.lock.is_some() {
            if held {
                // What other tabs queued while this one waited is read afresh, once.
                self.queue.stale();
            }
            self.delivery.sender = held;
            self.delivery.waiting = !held;
            self.flush(false);
        }
    }

    /// An event was queued: send when a batch is full, else soon.
    pub(crate) fn captured(&mut self) {
        if !self.may_send() {
            return;
        }
        if self.queue.len() >= BATCH_EVENTS {
            self.flush(false);
        } else {
            self.schedule(FLUSH_AFTER_MS);
        }
    }

    /// Another tab queued events (a `storage` event): they go out within the usual delay.
    /// Not at once, as for this tab's own events: that would need the queue's length, which
    /// means reading every key again, once per write of the other tab.
    pub(crate) fn others_captured(&mut self) {
        if self.may_send() {
            self.schedule(FLUSH_AFTER_MS);
        }
    }

    fn schedule(&mut self, ms: u32) {
        let due = host::now() + f64::from(ms);
        if self.delivery.due.is_some_and(|d| d <= due) {
            return;
        }
        let d = &mut self.delivery;
        d.due = Some(due);
        d.timers = d.timers.wrapping_add(1) & SEQ_MASK;
        host::later(ms, code::TIMER | d.timers << 4);
    }

    /// Timer `n` fired.
    pub fn on_timer(&mut self, n: u32) {
        if n == self.delivery.timers {
            self.delivery.due = None;
            self.flush(false);
        }
    }

    /// Sends the oldest batch unless one is in flight; `force` ignores the backoff delay.
    pub fn flush(&mut self, force: bool) {
        if !self.may_send() || !self.delivery.in_flight.is_empty() {
            return;
        }
        let wait = self.delivery.retry_at - host::now();
        if !force && wait > 0.0 {
            self.schedule(wait as u32);
            return;
        }
        let budget = self.budget();
        let batch = self.queue.batch(&[], budget, MAX_BATCH_EVENTS);
        if batch.keys.is_empty() {
            return;
        }
        let body = self.body(&batch.events);
        let mut how = 0;
        if body.len() >= GZIP_MIN_BYTES {
            how |= send::GZIP;
        }
        if host::doc(fact::VISIBILITY) == "hidden" {
            how |= send::LEAVING;
        }
        #[cfg(all(feature = "debug", target_arch = "wasm32"))]
        crate::devmode::sending(&self.delivery.url, batch.keys.len());
        let d = &mut self.delivery;
        d.sends = d.sends.wrapping_add(1) & SEQ_MASK;
        d.in_flight = batch.keys;
        host::post(&d.url, &body, code::SENT | d.sends << 4, how);
    }

    /// Send `n` finished with `status` (0: network error).
    pub fn on_sent(&mut self, n: u32, status: u16) {
        if n != self.delivery.sends || self.delivery.in_flight.is_empty() {
            return;
        }
        #[cfg(all(feature = "debug", target_arch = "wasm32"))]
        crate::devmode::answered(status);
        let keys = std::mem::take(&mut self.delivery.in_flight);
        match outcome(status) {
            Outcome::Delivered => {
                self.queue.remove(&keys);
                self.delivery.backoff.reset();
                self.delivery.retry_at = 0.0;
                self.report_dropped();
                self.flush(false);
            }
            Outcome::Refused => {
                self.queue.remove(&keys);
                self.queue
                    .count_dropped(u32::try_from(keys.len()).unwrap_or(u32::MAX));
                self.flush(false);
            }
            Outcome::Retry => {
                let delay = host::random(self.delivery.backoff.next_ceiling());
                self.delivery.retry_at = host::now() + f64::from(delay);
                self.schedule(delay);
            }
        }
    }

    /// The browser is back online: retry now.
    pub fn on_online(&mut self) {
        self.delivery.backoff.reset();
        self.delivery.retry_at = 0.0;
        self.flush(false);
    }

    /// The page was hidden (tab switch, app switch): send now, the page may never come back.
    pub fn on_visibility(&mut self) {
        if host::doc(fact::VISIBILITY) == "hidden" {
            self.flush(true);
        }
    }

    /// `pagehide`: beacon everything queued, within the browser's keepalive budget.
    ///
    /// The sender beacons, and so does a tab whose lock request is still unanswered (a page
    /// left within milliseconds of loading): only a tab that knows another one sends stays
    /// quiet. Events of a request still in flight are beaconed too: a `fetch` started just
    /// before the page goes away does not always leave (seen in Chromium), and its answer
    /// will never be seen. Beaconed events stay in storage, since a beacon's fate is unknown
    /// as well: the next page (or the next sender tab) sends them again and the edge keeps the
    /// first copy (same `messageId`). The lock is released so a bfcached page does not hold
    /// it; `pageshow` takes it again.
    pub fn on_hide(&mut self) {
        self.save_session();
        self.queue.persist();
        let unanswered = self.delivery.lock.is_some() && !self.delivery.waiting;
        if self.consent == Consent::Granted && (self.delivery.sender || unanswered) {
            let mut sent: Vec<String> = Vec::new();
            let budget = self.budget();
            loop {
                let batch = self.queue.batch(&sent, budget, MAX_BATCH_EVENTS);
                if batch.keys.is_empty()
                    || !host::beacon(&self.delivery.url, &self.body(&batch.events))
                {
                    break;
                }
                sent.extend(batch.keys);
            }
            if self.queue.store == Store::Memory {
                // Memory dies with the page anyway; if the page is restored, do not resend.
                self.queue.remove(&sent);
            }
        }
        if self.queue.store == Store::Local {
            self.delivery.sender = false;
            self.delivery.waiting = false;
            self.delivery.lock = None;
        }
    }

    /// Bytes of event JSON that fit in one body next to the envelope.
    fn budget(&self) -> usize {
        MAX_BODY_BYTES.saturating_sub(self.body("").len())
    }

    /// `{"batch":[events],"sentAt":…,"writeKey":…}`.
    fn body(&self, events: &str) -> String {
        let mut s = String::with_capacity(events.len() + 96 + self.delivery.write_key.len());
        s.push_str("{\"batch\":[");
        s.push_str(events);
        s.push_str("],\"sentAt\":");
        escape_into(&mut s, &host::iso(host::now()));
        if !self.delivery.write_key.is_empty() {
            s.push_str(",\"writeKey\":");
            escape_into(&mut s, &self.delivery.write_key);
        }
        s.push_str("}");
        s
    }
}
