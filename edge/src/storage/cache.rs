//! A per-isolate cache of one compiled value (the pipeline, the rule index).
//!
//! Invariant: a cached value is handed out only while younger than the caller's TTL (or when the
//! caller's own test accepts it, or after the caller checked it is still current and renewed
//! it); writes through this isolate clear it, so the next read reloads. Values are shared (`Rc`), never copied; each isolate holds at most one per cache.

use std::cell::RefCell;
use std::rc::Rc;

/// One cached value and when it was loaded (ms since 1970).
#[derive(Debug)]
pub struct IsolateCache<T> {
    slot: RefCell<Option<(i64, Rc<T>)>>,
}

impl<T> IsolateCache<T> {
    /// An empty cache (for `thread_local!`).
    pub const fn new() -> Self {
        IsolateCache {
            slot: RefCell::new(None),
        }
    }

    /// The value if it was loaded less than `ttl_ms` before `now_ms`.
    pub fn fresh(&self, now_ms: i64, ttl_ms: i64) -> Option<Rc<T>> {
        self.matching(|at, _| now_ms.saturating_sub(at) < ttl_ms)
    }

    /// The value if `keep(loaded_at, value)` accepts it.
    pub fn matching(&self, keep: impl Fn(i64, &T) -> bool) -> Option<Rc<T>> {
        self.slot
            .borrow()
            .as_ref()
            .filter(|(at, v)| keep(*at, v))
            .map(|(_, v)| Rc::clone(v))
    }

    /// The value whatever its age, stamped `now_ms` again: the caller checked it is current
    /// (e.g. its stored version did not move), so it is kept without being reloaded.
    pub fn renew(&self, now_ms: i64) -> Option<Rc<T>> {
        let mut slot = self.slot.borrow_mut();
        let (at, value) = slot.as_mut()?;
        *at = now_ms;
        Some(Rc::clone(value))
    }

    /// Stores a freshly loaded value and returns it.
    pub fn put(&self, now_ms: i64, value: T) -> Rc<T> {
        let value = Rc::new(value);
        *self.slot.borrow_mut() = Some((now_ms, Rc::clone(&value)));
        value
    }

    /// Forgets the value (after a write through this isolate).
    pub fn clear(&self) {
        *self.slot.borrow_mut() = None;
    }
}
