//! The outgoing queue: in `localStorage` (shared by the site's tabs, kept across reloads) or in
//! the host's in-page memory store (this tab only: consent pending, cookieless mode).
//!
//! Invariant: the queue never holds more than `MAX_QUEUED_EVENTS`; making room drops the oldest
//! event and counts it, and nothing else ever leaves the queue except through [`Queue::remove`]
//! after the edge answered (or [`Queue::clear`] on opt-out). Each event is its own key
//! (`spur.q.<time><seq><id>`), so a tab appending and the sending tab removing never overwrite
//! each other's writes. The store's keys are listed once, then followed in memory (see
//! [`Queue`]): no call walks the whole queue, except the first after another tab wrote.

use crate::host::Store;
use crate::json::{parse_u64, push_radix, push_u64, split, split_once};
use crate::limits::MAX_QUEUED_EVENTS;

/// Prefix of queued events' keys; keys sort oldest first.
pub const PREFIX: &str = "spur.q.";
/// Key of the count of events dropped and not yet reported.
pub const DROPPED_KEY: &str = "spur.dropped";
/// How many times a full storage makes room before the new event itself is dropped.
const QUOTA_EVICTIONS: usize = 8;

/// A new key: sorts by capture time, then by this tab's sequence; the tail (the start of the
/// event's random `messageId`) keeps two tabs capturing in the same millisecond apart.
pub fn new_key(now: f64, seq: u32, unique: &str) -> String {
    let mut k = String::from(PREFIX);
    push_radix(&mut k, now as u64, 36, 9);
    push_radix(&mut k, u64::from(seq % 1_679_616), 36, 4);
    k.push_str(unique.get(..8).unwrap_or(unique));
    k
}

/// Events taken from the queue for one request.
#[derive(Debug, Default)]
pub struct Batch {
    /// Their keys, oldest first.
    pub keys: Vec<String>,
    /// Their JSON, joined by commas (the inside of the body's `batch` array).
    pub events: String,
}

/// The queue, in one of the host's stores, with an in-memory index of its keys.
///
/// Listing a store's keys costs a walk over every key in it (all of `localStorage`); doing
/// that per captured event made a burst quadratic (issue 14). The index is read once and then
/// kept in step with this tab's own writes, so a call costs the same at any queue depth. Other
/// tabs write the same storage: their writes arrive as `storage` events, which only mark the
/// index [`stale`](Queue::stale), and it is read again once, when next needed.
///
/// A `localStorage` write is most of what a call costs (three quarters, measured in Chromium),
/// so events captured in one task are written together right after it ([`Queue::persist`],
/// from a 0 ms timer), before anything is sent, and at `pagehide`: a burst of calls returns to
/// the page first. Only a tab killed without `pagehide` within that task loses them.
#[derive(Debug)]
pub struct Queue {
    /// Where the events are kept.
    pub store: Store,
    /// The keys waiting, sorted (oldest first), written or not; `None` until read, or after
    /// another tab wrote.
    index: Option<Vec<String>>,
    /// Events captured but not yet written to `localStorage`, oldest first, one per line:
    /// `key json` (neither holds a newline: JSON escapes it, keys are base 36 and hex). One
    /// string rather than a `Vec` of pairs: ~0.5 KB less of the tracker's gzip budget.
    pending: String,
}

impl Queue {
    /// The queue in `store`; its keys are read when first needed.
    pub const fn new(store: Store) -> Queue {
        Queue {
            store,
            index: None,
            pending: String::new(),
        }
    }

    /// Another tab may have written the store: read its keys again before the next use.
    pub fn stale(&mut self) {
        // What this tab holds goes to the store first, so the fresh listing has it.
        self.persist();
        self.index = None;
    }

    /// The index, read from the store if it is not current.
    fn index(&mut self) -> &mut Vec<String> {
        let store = self.store;
        self.index.get_or_insert_with(|| {
            // A plain loop: `collect` brings in more generic code (the wasm size budget).
            let mut keys = Vec::new();
            for k in split(&store.keys(PREFIX), b'\n') {
                keys.push(k.to_owned());
            }
            keys
        })
    }

    /// How many events wait.
    pub fn len(&mut self) -> usize {
        self.index().len()
    }

    /// Appends an event, dropping (and counting) the oldest waiting one when the queue is
    /// full. Events of the request `in_flight` are not dropped: they may already be delivered,
    /// and a drop report must not count them. In `localStorage` the event is written by the
    /// next [`Queue::persist`]; true when it is the first event waiting for one (the caller
    /// schedules it).
    pub fn push(&mut self, key: &str, json: &str, in_flight: &[String]) -> bool {
        let mut dropped = 0;
        while self.len() >= MAX_QUEUED_EVENTS {
            // At the cap (rare), what waits is written first, so the oldest is in the store.
            self.persist();
            let index = self.index();
            // A `Vec`, not a `VecDeque`: its front removals move at most a few KB of
            // pointers, and the deque's code cost ~1 KB of the tracker's gzip budget.
            let Some(at) = index.iter().position(|k| !in_flight.contains(k)) else {
                break; // all in flight: the queue is over the cap by at most one request
            };
            let oldest = index.remove(at);
            self.store.del(&oldest);
            dropped += 1;
        }
        self.count_dropped(dropped);
        let index = self.index();
        // Keys of this tab grow with time: the place is found at the end at once.
        match index.iter().rposition(|k| k.as_str() <= key) {
            Some(at) if index.get(at).is_some_and(|k| k == key) => {}
            at => index.insert(at.map_or(0, |i| i + 1), key.to_owned()),
        }
        if self.store == Store::Memory {
            self.write(key, json);
            return false;
        }
        let first = self.pending.is_empty();
        for part in [key, " ", json, "\n"] {
            self.pending.push_str(part);
        }
        first
    }

    /// Writes the events captured since the last call to `localStorage`.
    pub fn persist(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for line in split(&pending, b'\n') {
            let Some((key, json)) = split_once(line, b' ') else {
                continue;
            };
            // Skipped if storage was full and it already made room for an earlier one.
            if self.index().iter().rev().any(|k| k == key) {
                self.write(key, json);
            }
        }
    }

    /// Writes one indexed event; when storage is full (the site's own data counts against the
    /// same quota), the oldest events make room, and if that fails it is dropped too.
    fn write(&mut self, key: &str, json: &str) {
        let store = self.store;
        let mut dropped = 0;
        let mut evictions = 0;
        while !store.put(key, json) {
            dropped += 1;
            let index = self.index();
            if evictions >= QUOTA_EVICTIONS || index.first().is_none_or(|k| k == key) {
                if let Some(at) = index.iter().rposition(|k| k == key) {
                    index.remove(at);
                }
                break;
            }
            store.del(&index.remove(0));
            evictions += 1;
        }
        self.count_dropped(dropped);
    }

    /// Removes events the edge answered for.
    pub fn remove(&mut self, keys: &[String]) {
        let store = self.store;
        let index = self.index();
        for k in keys {
            store.del(k);
            // Answered events are the oldest: found at (or near) the front.
            if let Some(at) = index.iter().position(|x| x == k) {
                index.remove(at);
            }
        }
    }

    /// Removes every event and the drop count (opt-out); nothing is counted as dropped.
    pub fn clear(&mut self) {
        // Read afresh: events other tabs queued go too.
        self.pending.clear();
        self.stale();
        let store = self.store;
        for k in std::mem::take(self.index()) {
            store.del(&k);
        }
        store.del(DROPPED_KEY);
    }

    /// Adds `n` to the count of dropped, unreported events.
    pub fn count_dropped(&mut self, n: u32) {
        if n > 0 {
            let mut s = String::new();
            push_u64(&mut s, u64::from(self.dropped().saturating_add(n)));
            self.store.put(DROPPED_KEY, &s);
        }
    }

    /// Events dropped and not yet reported.
    pub fn dropped(&self) -> u32 {
        self.store
            .get(DROPPED_KEY)
            .and_then(|s| parse_u64(&s))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    }

    /// Returns and forgets the dropped count (it is about to be reported).
    pub fn take_dropped(&mut self) -> u32 {
        let n = self.dropped();
        self.store.del(DROPPED_KEY);
        n
    }

    /// Moves the queue, oldest first, and its drop count into `store` (consent was granted).
    pub fn move_to(&mut self, store: Store) {
        if store == self.store {
            return;
        }
        let mut from = std::mem::replace(self, Queue::new(store));
        for k in std::mem::take(from.index()) {
            if let Some(json) = from.store.get(&k) {
                self.push(&k, &json, &[]);
            }
            from.store.del(&k);
        }
        self.persist();
        self.count_dropped(from.take_dropped());
    }

    /// The oldest events, skipping `skip`, that fit in `budget` bytes of JSON (joined by commas)
    /// and `max_events`. Always at least one event when any is waiting: a single event is at
    /// most `MAX_EVENT_BYTES`, which is below any budget used.
    pub fn batch(&mut self, skip: &[String], budget: usize, max_events: usize) -> Batch {
        self.persist();
        let store = self.store;
        let mut out = Batch::default();
        let mut gone = Vec::new();
        for key in self.index().iter() {
            if out.keys.len() >= max_events {
                break;
            }
            if skip.iter().any(|s| s == key) {
                continue;
            }
            let Some(json) = store.get(key) else {
                // Another tab removed it (its storage event is yet to come).
                gone.push(key.clone());
                continue;
            };
            if !out.keys.is_empty() {
                if out.events.len() + 1 + json.len() > budget {
                    break;
                }
                out.events.push_str(",");
            }
            out.events.push_str(&json);
            out.keys.push(key.clone());
        }
        self.remove(&gone);
        out
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::host::fake::with_fake;

    const LOCAL: Queue = Queue::new(Store::Local);
    const MEMORY: Queue = Queue::new(Store::Memory);

    fn push(q: &mut Queue, n: u32) {
        let key = new_key(1_732_790_000_000.0, n, "0123abcd-ef");
        q.push(&key, &["{\"n\":", &n.to_string(), "}"].concat(), &[]);
        q.persist();
    }

    fn clean() {
        with_fake(|b| *b = Default::default());
    }

    fn stored() -> usize {
        with_fake(|b| b.storage.len())
    }

    #[test]
    fn keys_sort_by_time_then_sequence() {
        let a = new_key(1_000.0, 35, "ffffffff-1");
        let b = new_key(1_000.0, 36, "00000000-1");
        let c = new_key(1_001.0, 0, "00000000-1");
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a, "spur.q.0000000rs000zffffffff");
    }

    #[test]
    fn one_key_per_event_removed_by_key() {
        clean();
        let mut q = LOCAL;
        for n in 0..3 {
            push(&mut q, n);
        }
        assert_eq!((q.len(), stored()), (3, 3));
        let keys: Vec<String> = q.index().to_vec();
        q.remove(&keys[..2]);
        assert_eq!(Store::Local.keys(PREFIX), keys[2]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn at_the_cap_the_oldest_is_dropped_and_counted() {
        for mut q in [MEMORY, LOCAL] {
            clean();
            for n in 0..(MAX_QUEUED_EVENTS as u32 + 5) {
                push(&mut q, n);
            }
            assert_eq!(q.len(), MAX_QUEUED_EVENTS);
            assert_eq!(q.dropped(), 5);
            assert_eq!(q.batch(&[], usize::MAX, 1).events, "{\"n\":5}");
            assert_eq!(q.take_dropped(), 5);
            assert_eq!(q.dropped(), 0);
        }
    }

    #[test]
    fn at_the_cap_events_in_flight_are_not_dropped() {
        clean();
        let mut q = LOCAL;
        for n in 0..MAX_QUEUED_EVENTS as u32 {
            push(&mut q, n);
        }
        let in_flight = q.batch(&[], usize::MAX, 3).keys;
        let key = new_key(1_732_790_000_000.0, 5_000, "0123abcd-ef");
        q.push(&key, "{\"n\":5000}", &in_flight);
        q.persist();
        assert_eq!(q.len(), MAX_QUEUED_EVENTS);
        assert_eq!(q.dropped(), 1);
        let all = q.batch(&[], usize::MAX, 4).events;
        assert_eq!(all, r#"{"n":0},{"n":1},{"n":2},{"n":4}"#, "n = 3 went");
    }

    #[test]
    fn full_storage_evicts_the_oldest_until_the_new_event_fits() {
        clean();
        let mut q = LOCAL;
        push(&mut q, 0);
        push(&mut q, 1);
        let one = with_fake(|b| b.storage.iter().map(|(k, v)| k.len() + v.len()).max());
        // Room for two events and a drop count.
        with_fake(|b| b.quota = 2 * one.unwrap() + 20);
        push(&mut q, 2);
        assert_eq!(q.len(), 2);
        assert_eq!(q.batch(&[], usize::MAX, 1).events, "{\"n\":1}");
        assert_eq!(q.dropped(), 1);
        // An event larger than the whole quota evicts what it may, then is dropped itself.
        q.push(&new_key(2e12, 0, "x"), &"x".repeat(3 * one.unwrap()), &[]);
        q.persist();
        assert_eq!(q.len(), 0);
        assert_eq!(q.dropped(), 4);
    }

    /// Issue 14: events of one task are written together after it, before any batch.
    #[test]
    fn storage_writes_wait_for_persist_or_a_batch() {
        clean();
        let mut q = LOCAL;
        for n in 0..3 {
            let first = q.push(&new_key(1e12, n, "0123abcd"), "{}", &[]);
            assert_eq!(first, n == 0, "only the first asks for a persist");
        }
        assert_eq!((q.len(), stored()), (3, 0));
        assert_eq!(q.batch(&[], usize::MAX, 9).keys.len(), 3);
        assert_eq!(stored(), 3, "a batch writes them first");
        assert!(q.push(&new_key(2e12, 0, "0123abcd"), "{}", &[]));
        q.stale();
        assert_eq!((q.len(), stored()), (4, 4), "so does a re-read");
        q.push(&new_key(3e12, 0, "0123abcd"), "{}", &[]);
        q.clear();
        q.persist();
        assert_eq!(
            (q.len(), stored()),
            (0, 0),
            "opt-out drops what was not written"
        );
    }

    #[test]
    fn batches_respect_bytes_events_and_skips() {
        clean();
        let mut q = MEMORY;
        for n in 0..10 {
            push(&mut q, n);
        }
        assert_eq!(stored(), 0, "memory is not storage");
        let all = q.batch(&[], usize::MAX, 4);
        assert_eq!(all.keys.len(), 4);
        assert_eq!(all.events, r#"{"n":0},{"n":1},{"n":2},{"n":3}"#);
        // Each item is 7 bytes of JSON, plus a comma between two.
        assert_eq!(q.batch(&[], 15, 100).keys.len(), 2);
        assert_eq!(q.batch(&[], 14, 100).keys.len(), 1);
        assert_eq!(q.batch(&[], 1, 100).keys.len(), 1, "one event always fits");
        assert_eq!(q.batch(&all.keys, usize::MAX, 1).events, "{\"n\":4}");
    }

    #[test]
    fn moving_to_storage_keeps_order_and_the_drop_count() {
        clean();
        let mut q = MEMORY;
        push(&mut q, 0);
        push(&mut q, 1);
        q.count_dropped(2);
        assert_eq!(stored(), 0);
        q.move_to(Store::Local);
        assert_eq!(q.store, Store::Local);
        assert_eq!(q.batch(&[], usize::MAX, 9).events, r#"{"n":0},{"n":1}"#);
        assert_eq!(q.dropped(), 2);
        assert!(with_fake(|b| b.memory.is_empty()));
        q.clear();
        assert_eq!(stored(), 0);
    }
}
