//! Every size and delay the tracker uses, named in one place.
//!
//! Invariant: no other module hard-codes a size, a count or a delay. Event and body sizes stay
//! under the edge's limits (`core/src/limits.rs`) and the browsers' 64 KiB keepalive budget.

/// Most events kept waiting (in storage or memory); at the cap the oldest is dropped and counted.
pub const MAX_QUEUED_EVENTS: usize = 1_000;
/// Largest single event, as JSON. Equal to the edge's `MAX_EVENT_BYTES`: a bigger event would
/// only be rejected there, so it is dropped (and counted) at capture instead.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Largest request body. Under the 64 KiB that `sendBeacon` and `fetch(…, {keepalive})` may
/// have in flight, so every request (not only the unload one) survives the page going away.
pub const MAX_BODY_BYTES: usize = 60 * 1024;
/// Bodies from this size on are gzipped (`CompressionStream`) when sent by `fetch`; smaller
/// ones gain too little to pay for a stream. Beacons stay plain: they leave synchronously.
pub const GZIP_MIN_BYTES: usize = 1024;
/// Most events in one request.
pub const MAX_BATCH_EVENTS: usize = 100;
/// Send as soon as this many events wait…
pub const BATCH_EVENTS: usize = 20;
/// …or this long after the first of them was captured.
pub const FLUSH_AFTER_MS: u32 = 1_000;
/// First retry delay ceiling; it doubles per failed attempt (full jitter picks below it).
pub const BACKOFF_BASE_MS: u32 = 1_000;
/// Largest retry delay ceiling.
pub const BACKOFF_MAX_MS: u32 = 60_000;
/// A session ends after this long without an event.
pub const SESSION_TIMEOUT_MS: f64 = 30.0 * 60.0 * 1_000.0;
/// The session's latest activity is written to storage at most this often (and at pagehide):
/// one storage write per call would cost more than the rest of the call.
pub const SESSION_SAVE_MS: u64 = 1_000;
/// Longest clicked-element text kept, in characters.
pub const MAX_TEXT_CHARS: usize = 255;
/// Most classes in the short CSS selector of a clicked element.
pub const MAX_SELECTOR_CLASSES: u32 = 3;
