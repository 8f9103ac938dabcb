//! Delivery: batches from the queue to the edge's `/v1/batch`.
//!
//! Invariant: a tab sends only while it holds the `spur.sender` Web Lock (or, for an in-memory
//! queue, its own events; or at `pagehide`, before its lock request was answered), with at
//! most one request in flight; events leave the queue only when the edge answered (2xx) or
//! refused them for good (other 4xx), so an unanswered or failed request is retried with the
//! same `messageId`s. Every body stays under `MAX_BODY_BYTES`.
//!
//! Requests are ordinary `fetch`es while the page is shown, gzipped from `GZIP_MIN_BYTES` on
//! (where the browser has `CompressionStream`); only a page being left uses the browser's
//! keepalive budget (64 KiB in flight, shared with beacons), so a burst never fails against
//! it (issue 14: back-to-back keepalive batches failed half the time).
//!
//! This module holds the sending state; the methods that act on it with the queue and consent
//! are the tracker's own (`sending.rs`), so this module does not import the tracker.

use crate::backoff::Backoff;
use crate::host::Registration;

/// The Web Lock whose holder sends for all the site's tabs.
pub const LOCK_NAME: &str = "spur.sender";
/// Sequence numbers ride in the dispatch code above its four kind bits.
pub(crate) const SEQ_MASK: u32 = u32::MAX >> 4;

/// Sending state.
#[derive(Debug, Default)]
pub struct Delivery {
    pub(crate) url: String,
    pub(crate) write_key: String,
    /// This tab may send now.
    pub(crate) sender: bool,
    /// Another tab holds the lock (it sends; this tab waits in line).
    pub(crate) waiting: bool,
    /// The held (or requested) lock; dropping it releases it.
    pub(crate) lock: Option<Registration>,
    /// Keys of the batch on the wire.
    pub(crate) in_flight: Vec<String>,
    /// Number of the latest send; answers to older ones are ignored.
    pub(crate) sends: u32,
    /// Number of the latest timer; older timers are ignored.
    pub(crate) timers: u32,
    /// When the latest timer fires.
    pub(crate) due: Option<f64>,
    /// No send before this (backoff), except forced ones.
    pub(crate) retry_at: f64,
    pub(crate) backoff: Backoff,
}

impl Delivery {
    /// Delivery to `{endpoint}/v1/batch`.
    pub fn new(endpoint: &str, write_key: &str) -> Delivery {
        Delivery {
            url: batch_url(endpoint),
            write_key: write_key.into(),
            ..Delivery::default()
        }
    }
}

/// `{endpoint}/v1/batch`, with at most one slash between.
fn batch_url(endpoint: &str) -> String {
    let mut url = String::from(endpoint.strip_suffix("/").unwrap_or(endpoint));
    url.push_str("/v1/batch");
    // Developer mode asks the edge for each message's verdict.
    #[cfg(feature = "debug")]
    url.push_str("?debug=1");
    url
}
