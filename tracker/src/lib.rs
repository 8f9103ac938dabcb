//! Spur's browser tracker, compiled to WebAssembly.
//!
//! Invariant: every captured event gets its `messageId` and `timestamp` at capture time and
//! keeps them until the edge has answered for it, so retries never create a second event.
//!
//! The Rust side is the tracker's logic: identity, sessions, consent, which page views and
//! clicks become events, message assembly, the bounded queue, batching, retries and the
//! one-sender-per-site rule. Every side effect, and every read of the DOM, goes through
//! `tracker/js/host.js` ([`host`]); its listeners, timers and responses come back through
//! [`on_event`]. Only numbers and strings cross: reading the DOM, building JS objects or
//! formatting numbers in wasm would cost several times the bytes (issue 4's size budget).
//!
//! The loader (`tracker/js/loader.js`) calls [`start`], replays the snippet's queued calls
//! through [`call`] (properties already turned into JSON by `JSON.stringify`), then calls
//! [`op::READY`].
#![deny(missing_docs)]
// `String::push(char)` links in a UTF-8 encoder (~600 B of wasm); every separator we write is
// ASCII, so one-character strings are pushed instead.
#![allow(clippy::single_char_add_str)]

mod backoff;
mod capture;
mod config;
mod consent;
mod delivery;
#[cfg(all(feature = "debug", target_arch = "wasm32"))]
mod devmode;
mod hooks;
pub mod host;
mod json;
pub mod limits;
mod queue;
mod sending;
mod session;
mod tracker;

#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod browser_tests;

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use crate::config::Config;
use crate::consent::Consent;
use crate::host::code;
use crate::tracker::Tracker;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

thread_local! {
    static TRACKER: RefCell<Option<Tracker>> = const { RefCell::new(None) };
}

/// Runs `f` on the started tracker; does nothing before `start` (or if a call re-enters).
fn with(f: impl FnOnce(&mut Tracker)) {
    TRACKER.with(|t| {
        if let Ok(mut slot) = t.try_borrow_mut() {
            if let Some(tracker) = slot.as_mut() {
                f(tracker);
            }
        }
    });
}

/// Option bits of [`start`]'s `flags`.
pub mod flag {
    /// `cookieless`: identifiers and queue in memory only.
    pub const COOKIELESS: u32 = 1;
    /// `pageviews`: page-view autocapture.
    pub const PAGEVIEWS: u32 = 2;
    /// `clicks`: `Element Clicked` autocapture.
    pub const CLICKS: u32 = 4;
    /// `tags`: `data-spur-event` capture.
    pub const TAGS: u32 = 8;
    /// `gpc`: honour Global Privacy Control.
    pub const GPC: u32 = 16;
    /// `dnt`: honour Do Not Track.
    pub const DNT: u32 = 32;
    /// The browser sends Global Privacy Control (`navigator.globalPrivacyControl`).
    pub const GPC_ON: u32 = 64;
    /// The browser sends Do Not Track (`navigator.doNotTrack == "1"`).
    pub const DNT_ON: u32 = 128;
}

/// The public API's operations, for [`call`].
pub mod op {
    /// `track(event, properties)`.
    pub const TRACK: u32 = 0;
    /// `page(name, properties)`.
    pub const PAGE: u32 = 1;
    /// `identify(userId, traits)`.
    pub const IDENTIFY: u32 = 2;
    /// `alias(userId, previousId)`.
    pub const ALIAS: u32 = 3;
    /// `group(groupId, traits)`.
    pub const GROUP: u32 = 4;
    /// `reset()`.
    pub const RESET: u32 = 5;
    /// `flush()`.
    pub const FLUSH: u32 = 6;
    /// `optIn()`.
    pub const OPT_IN: u32 = 7;
    /// `optOut()`.
    pub const OPT_OUT: u32 = 8;
    /// The snippet's queued calls were replayed: initial page view, then delivery starts.
    pub const READY: u32 = 9;
}

/// Starts the tracker (the loader normalizes the snippet's config: `consent` is
/// `granted`/`pending`/`denied`, anything else means the default; `flags` are [`flag`] bits).
/// Calling it again does nothing.
#[wasm_bindgen]
pub fn start(endpoint: &str, write_key: &str, consent: &str, flags: u32) {
    let on = |bit: u32| flags & bit != 0;
    let config = Config {
        endpoint: endpoint.into(),
        write_key: write_key.into(),
        consent: Consent::parse(consent).unwrap_or(Consent::Granted),
        cookieless: on(flag::COOKIELESS),
        pageviews: on(flag::PAGEVIEWS),
        clicks: on(flag::CLICKS),
        tags: on(flag::TAGS),
        gpc: on(flag::GPC),
        dnt: on(flag::DNT),
        signals: consent::Signals {
            gpc: on(flag::GPC_ON),
            dnt: on(flag::DNT_ON),
        },
    };
    #[cfg(all(feature = "debug", target_arch = "wasm32"))]
    devmode::started();
    TRACKER.with(|t| {
        if let Ok(mut slot) = t.try_borrow_mut() {
            if slot.is_none() {
                *slot = Some(Tracker::new(config));
            }
        }
    });
}

/// One public API call (see [`op`]); `a` and `b` are its two arguments, `""` when absent.
/// Properties and traits arrive as JSON objects (`JSON.stringify` in the loader).
#[wasm_bindgen]
pub fn call(op: u32, a: &str, b: &str) {
    with(|t| match op {
        op::TRACK => t.track(a, b),
        op::PAGE => t.page(a, b),
        op::IDENTIFY => t.identify(a, b),
        op::ALIAS => t.alias(a, b),
        op::GROUP => t.group(a, b),
        op::RESET => t.reset(),
        op::FLUSH => t.flush(true),
        op::OPT_IN => t.opt_in(),
        op::OPT_OUT => t.opt_out(),
        op::READY => t.ready(),
        _ => {}
    });
}

/// Everything the host dispatches: listeners, timers, finished sends, the lock's answers.
/// `arg` is a send's HTTP status, [`code::PERSISTED`] for a page shown from the bfcache, or
/// [`code::HELD`] when this tab holds the lock.
#[wasm_bindgen]
pub fn on_event(code: u32, arg: f64) {
    let n = code >> 4;
    with(|t| match code & 0xf {
        code::CLICK => t.click(),
        code::NAV => t.auto_page(),
        code::SHOW if arg == code::PERSISTED => t.on_restore(),
        code::HIDE => t.on_hide(),
        code::VISIBILITY => t.on_visibility(),
        code::STORAGE => t.on_storage(),
        code::ONLINE => t.on_online(),
        code::LEAD => t.on_lead(arg == code::HELD),
        code::TIMER => t.on_timer(n),
        code::SENT => t.on_sent(n, arg as u16),
        code::PERSIST => t.queue.persist(),
        _ => {}
    });
}
