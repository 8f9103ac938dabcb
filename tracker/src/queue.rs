//! The outgoing queue: in `localStorage` (shared by the site's tabs) or in memory (this tab).
//!
//! Invariant: the queue never holds more than `MAX_QUEUED_EVENTS`; making room drops the oldest
//! event and counts it, and nothing else ever leaves the queue except through [`Queue::remove`]
//! after the edge answered. In storage each event is its own key (`spur.q.<time><seq><rand>`),
//! so a tab appending and the sending tab removing never overwrite each other's writes.

use crate::host;
use crate::json::{parse_u64, push_radix, push_u64, split};
use crate::limits::MAX_QUEUED_EVENTS;

/// Prefix of queued events' storage keys; keys sort oldest first.
pub const PREFIX: &str = "spur.q.";
/// Storage key of the count of events dropped and not yet reported.
pub const DROPPED_KEY: &str = "spur.dropped";
/// How many times a full storage makes room before the new event itself is dropped.
const QUOTA_EVICTIONS: usize = 8;

/// One queued event: its key (order and identity) and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The storage key.
    pub key: String,
    /// The Segment message.
    pub json: String,
}

/// Events taken from the queue for one request.
#[derive(Debug, Default)]
pub struct Batch {
    /// Their keys, oldest first.
    pub keys: Vec<String>,
    /// Their JSON, joined by commas (the inside of the body's `batch` array).
    pub events: String,
}

/// The queue.
#[derive(Debug)]
pub enum Queue {
    /// This tab's events only, lost with the page (consent pending, cookieless mode).
    Memory {
        /// Oldest first.
        items: Vec<Item>,
        /// Dropped and not yet reported.
        dropped: u32,
    },
    /// `localStorage`, shared by every tab of the site, kept across reloads.
    Storage,
}

/// A new key: sorts by capture time, then by this tab's sequence; the tail (the start of the
/// event's random `messageId`) keeps two tabs capturing in the same millisecond apart.
pub fn new_key(now: f64, seq: u32, unique: &str) -> String {
    let mut k = String::from(PREFIX);
    push_radix(&mut k, now as u64, 36, 9);
    push_radix(&mut k, u64::from(seq % 1_679_616), 36, 4);
    k.push_str(unique.get(..8).unwrap_or(unique));
    k
}

impl Queue {
    /// An empty in-memory queue.
    pub fn memory() -> Queue {
        Queue::Memory {
            items: Vec::new(),
            dropped: 0,
        }
    }

    /// The keys waiting, oldest first.
    pub fn keys(&self) -> Vec<String> {
        match self {
            Queue::Memory { items, .. } => items.iter().map(|i| i.key.clone()).collect(),
            Queue::Storage => split(&host::keys(PREFIX), b'\n')
                .map(str::to_owned)
                .collect(),
        }
    }

    /// How many events wait.
    pub fn len(&self) -> usize {
        match self {
            Queue::Memory { items, .. } => items.len(),
            Queue::Storage => self.keys().len(),
        }
    }

    /// The event stored under `key`, if it is still there.
    pub fn load(&self, key: &str) -> Option<String> {
        match self {
            Queue::Memory { items, .. } => {
                items.iter().find(|i| i.key == key).map(|i| i.json.clone())
            }
            Queue::Storage => host::get(key),
        }
    }

    /// Appends an event, dropping (and counting) the oldest when the queue is full.
    pub fn push(&mut self, item: Item) {
        let keys = self.keys();
        let over = (keys.len() + 1).saturating_sub(MAX_QUEUED_EVENTS);
        self.evict(keys.iter().take(over));
        match self {
            Queue::Memory { items, .. } => items.push(item),
            Queue::Storage => {
                let mut room = keys.iter().skip(over).take(QUOTA_EVICTIONS);
                while !host::put(&item.key, &item.json) {
                    // Storage is full (the site's own data counts too): make room, oldest first.
                    let Some(oldest) = room.next() else {
                        self.count_dropped(1);
                        return;
                    };
                    self.evict(std::iter::once(oldest));
                }
            }
        }
    }

    fn evict<'a>(&mut self, keys: impl Iterator<Item = &'a String>) {
        let mut n = 0;
        for key in keys {
            self.remove_one(key);
            n += 1;
        }
        if n > 0 {
            self.count_dropped(n);
        }
    }

    fn remove_one(&mut self, key: &str) {
        match self {
            Queue::Memory { items, .. } => items.retain(|i| i.key != key),
            Queue::Storage => host::del(key),
        }
    }

    /// Removes events the edge answered for.
    pub fn remove(&mut self, keys: &[String]) {
        for k in keys {
            self.remove_one(k);
        }
    }

    /// Removes every event (opt-out) without counting them as dropped.
    pub fn clear(&mut self) {
        match self {
            Queue::Memory { items, dropped } => {
                items.clear();
                *dropped = 0;
            }
            Queue::Storage => {
                for k in self.keys() {
                    host::del(&k);
                }
                host::del(DROPPED_KEY);
            }
        }
    }

    /// Adds `n` to the count of dropped, unreported events.
    pub fn count_dropped(&mut self, n: u32) {
        match self {
            Queue::Memory { dropped, .. } => *dropped = dropped.saturating_add(n),
            Queue::Storage => {
                let total = self.dropped().saturating_add(n);
                let mut s = String::new();
                push_u64(&mut s, u64::from(total));
                host::put(DROPPED_KEY, &s);
            }
        }
    }

    /// Events dropped and not yet reported.
    pub fn dropped(&self) -> u32 {
        match self {
            Queue::Memory { dropped, .. } => *dropped,
            Queue::Storage => host::get(DROPPED_KEY)
                .and_then(|s| parse_u64(&s))
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
        }
    }

    /// Returns and forgets the dropped count (it is about to be reported).
    pub fn take_dropped(&mut self) -> u32 {
        let n = self.dropped();
        match self {
            Queue::Memory { dropped, .. } => *dropped = 0,
            Queue::Storage => host::del(DROPPED_KEY),
        }
        n
    }

    /// Moves an in-memory queue into storage (consent was just granted).
    pub fn persist(&mut self) {
        if let Queue::Memory { items, dropped } = std::mem::replace(self, Queue::Storage) {
            for item in items {
                self.push(item);
            }
            if dropped > 0 {
                self.count_dropped(dropped);
            }
        }
    }

    /// The oldest events, skipping `skip`, that fit in `budget` bytes of JSON (joined by commas)
    /// and `max_events`. Always at least one event when any is waiting: a single event is at
    /// most `MAX_EVENT_BYTES`, which is below any budget used.
    pub fn batch(&self, skip: &[String], budget: usize, max_events: usize) -> Batch {
        let mut out = Batch::default();
        for key in self.keys() {
            if out.keys.len() >= max_events {
                break;
            }
            if skip.contains(&key) {
                continue;
            }
            let Some(json) = self.load(&key) else {
                continue;
            };
            if !out.keys.is_empty() {
                if out.events.len() + 1 + json.len() > budget {
                    break;
                }
                out.events.push_str(",");
            }
            out.events.push_str(&json);
            out.keys.push(key);
        }
        out
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::host::fake::with_fake;

    fn item(n: u32) -> Item {
        Item {
            key: new_key(1_732_790_000_000.0, n, "0123abcd-ef"),
            json: ["{\"n\":", &n.to_string(), "}"].concat(),
        }
    }

    fn clean() {
        with_fake(|b| *b = Default::default());
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
    fn storage_queue_is_one_key_per_event_and_removes_by_key() {
        clean();
        let mut q = Queue::Storage;
        for n in 0..3 {
            q.push(item(n));
        }
        assert_eq!(q.len(), 3);
        assert_eq!(with_fake(|b| b.storage.len()), 3);
        let keys = q.keys();
        q.remove(&keys[..2]);
        assert_eq!(q.keys(), keys[2..].to_vec());
    }

    #[test]
    fn at_the_cap_the_oldest_is_dropped_and_counted() {
        for mut q in [Queue::memory(), Queue::Storage] {
            clean();
            for n in 0..(MAX_QUEUED_EVENTS as u32 + 5) {
                q.push(item(n));
            }
            assert_eq!(q.len(), MAX_QUEUED_EVENTS);
            assert_eq!(q.dropped(), 5);
            let oldest = q.batch(&[], usize::MAX, 1);
            assert_eq!(oldest.events, "{\"n\":5}");
            assert_eq!(q.take_dropped(), 5);
            assert_eq!(q.dropped(), 0);
        }
    }

    #[test]
    fn full_storage_evicts_the_oldest_until_the_new_event_fits() {
        clean();
        let mut q = Queue::Storage;
        q.push(item(0));
        q.push(item(1));
        let one = item(0).key.len() + item(0).json.len();
        // Room for two events and a drop count.
        with_fake(|b| b.quota = 2 * one + 20);
        q.push(item(2));
        assert_eq!(q.len(), 2);
        assert_eq!(q.batch(&[], usize::MAX, 1).events, "{\"n\":1}");
        assert_eq!(q.dropped(), 1);
        // An event larger than the whole quota evicts what it may, then is dropped itself.
        q.push(Item {
            key: new_key(2e12, 0, "x"),
            json: "x".repeat(3 * one),
        });
        assert_eq!(q.len(), 0);
        assert_eq!(q.dropped(), 4);
    }

    #[test]
    fn batches_respect_bytes_events_and_skips() {
        let mut q = Queue::memory();
        for n in 0..10 {
            q.push(item(n));
        }
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
    fn persisting_moves_memory_into_storage_with_the_drop_count() {
        clean();
        let mut q = Queue::Memory {
            items: vec![item(0), item(1)],
            dropped: 2,
        };
        assert_eq!(with_fake(|b| b.storage.len()), 0);
        q.persist();
        assert!(matches!(q, Queue::Storage));
        assert_eq!(q.len(), 2);
        assert_eq!(q.dropped(), 2);
        q.clear();
        assert_eq!(with_fake(|b| b.storage.len()), 0);
    }
}
