//! Spur's browser tracker, compiled to WebAssembly.
//!
//! Invariant: every captured event gets its `messageId` and `timestamp` at capture time and
//! keeps them until the edge has answered for it, so retries never create a second event.
//!
//! The Rust side is the tracker's logic (identity, sessions, consent, page-view dedup, click
//! description, the bounded queue, batching, retries, the one-sender-per-site rule); every
//! side effect goes through `tracker/js/host.js` ([`host`]), whose listeners, timers and
//! responses come back through [`on_event`]. The loader (`tracker/js/loader.js`) calls
//! [`start`], replays the snippet's queued calls, calls [`ready`], and forwards the public API
//! with properties already turned into JSON by `JSON.stringify`.
#![deny(missing_docs)]

mod backoff;
mod campaign;
mod capture;
mod consent;
mod delivery;
mod hooks;
pub mod host;
mod id;
mod json;
mod limits;
mod queue;
mod session;
mod tracker;

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use crate::consent::Consent;
use crate::host::code;
use crate::tracker::{Config, Tracker};

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

/// Starts the tracker with the snippet's config object (see `tracker/js/spur.d.ts`,
/// `SpurConfig`). Calling it again does nothing.
#[wasm_bindgen]
pub fn start(config: JsValue) {
    TRACKER.with(|t| {
        if let Ok(mut slot) = t.try_borrow_mut() {
            if slot.is_none() {
                *slot = Some(Tracker::new(config_from_js(&config)));
            }
        }
    });
}

fn config_from_js(v: &JsValue) -> Config {
    let get = |k: &str| js_sys::Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let string = |k: &str| get(k).as_string().unwrap_or_default();
    let d = Config::default();
    let flag = |k: &str, default: bool| get(k).as_bool().unwrap_or(default);
    Config {
        endpoint: string("endpoint"),
        write_key: string("writeKey"),
        consent: Consent::parse(&string("consent")).unwrap_or(d.consent),
        cookieless: flag("cookieless", d.cookieless),
        pageviews: flag("pageviews", d.pageviews),
        clicks: flag("clicks", d.clicks),
        tags: flag("tags", d.tags),
        gpc: flag("gpc", d.gpc),
        dnt: flag("dnt", d.dnt),
    }
}

/// The snippet's queued calls were replayed: records the initial page view and starts sending.
#[wasm_bindgen]
pub fn ready() {
    with(Tracker::ready);
}

/// Records a custom event (Segment `track`); `properties` is a JSON object.
#[wasm_bindgen]
pub fn track(event: &str, properties: &str) {
    with(|t| t.track(event, properties));
}

/// Records a page view (Segment `page`); `name` may be empty.
#[wasm_bindgen]
pub fn page(name: &str, properties: &str) {
    with(|t| t.page(name, properties));
}

/// Sets the user id (unless empty) and records an `identify` with `traits` (a JSON object).
#[wasm_bindgen]
pub fn identify(user_id: &str, traits: &str) {
    with(|t| t.identify(user_id, traits));
}

/// Records an `alias` from `previous_id` (empty: the current identity) to `user_id`.
#[wasm_bindgen]
pub fn alias(user_id: &str, previous_id: &str) {
    with(|t| t.alias(user_id, previous_id));
}

/// Records a `group` call.
#[wasm_bindgen]
pub fn group(group_id: &str, traits: &str) {
    with(|t| t.group(group_id, traits));
}

/// Forgets the user (logout): no user id, a new anonymous id, a new session.
#[wasm_bindgen]
pub fn reset() {
    with(Tracker::reset);
}

/// Sends what is queued now (if this tab is the sender).
#[wasm_bindgen]
pub fn flush() {
    with(|t| t.flush(true));
}

/// The visitor consents to tracking.
#[wasm_bindgen]
pub fn opt_in() {
    with(Tracker::opt_in);
}

/// The visitor refuses tracking.
#[wasm_bindgen]
pub fn opt_out() {
    with(Tracker::opt_out);
}

/// Everything the host dispatches: listeners, timers, finished sends, lock grants.
#[wasm_bindgen]
pub fn on_event(code: u32, arg: JsValue) {
    let n = code >> 4;
    match code & 0xf {
        code::CLICK => with(|t| t.click(&arg)),
        code::NAV => with(Tracker::auto_page),
        code::SHOW => {
            let persisted = js_sys::Reflect::get(&arg, &JsValue::from_str("persisted"))
                .is_ok_and(|p| p.is_truthy());
            if persisted {
                with(Tracker::on_restore);
            }
        }
        code::HIDE => with(Tracker::on_hide),
        code::VISIBILITY => with(Tracker::on_visibility),
        code::STORAGE => with(Tracker::on_storage),
        code::ONLINE => with(Tracker::on_online),
        code::LEAD => with(Tracker::on_lead),
        code::TIMER => with(|t| t.on_timer(n)),
        code::SENT => {
            let status = arg.as_f64().unwrap_or(0.0) as u16;
            with(|t| t.on_sent(n, status));
        }
        _ => {}
    }
}
