//! Spur's browser tracker, compiled to WebAssembly.
//!
//! Invariant: every captured event gets its `messageId` and `timestamp` at capture time and
//! keeps them until the edge has acknowledged it, so retries never create a second event.
//! The JS loader (`tracker/js/loader.js`) calls [`start`] once, then forwards the public API.
#![deny(missing_docs)]

mod capture;
mod context;
mod id;
mod send;

use std::cell::RefCell;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

pub(crate) use send::Sender;

/// The library name sent in `context.library`.
pub const LIBRARY_NAME: &str = "spur.js";
/// The library version sent in `context.library`.
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");

thread_local! {
    static TRACKER: RefCell<Option<Tracker>> = const { RefCell::new(None) };
}

/// Options read from the snippet's config object.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub endpoint: String,
    pub write_key: Option<String>,
    pub autocapture_pageviews: bool,
    pub autocapture_clicks: bool,
}

impl Config {
    fn from_js(v: &JsValue) -> Config {
        let s = |k: &str| {
            Reflect::get(v, &JsValue::from_str(k))
                .ok()
                .and_then(|x| x.as_string())
        };
        let b = |k: &str| {
            Reflect::get(v, &JsValue::from_str(k))
                .ok()
                .and_then(|x| x.as_bool())
                .unwrap_or(true)
        };
        Config {
            endpoint: s("endpoint").unwrap_or_default(),
            write_key: s("writeKey"),
            autocapture_pageviews: b("pageviews"),
            autocapture_clicks: b("clicks"),
        }
    }
}

pub(crate) struct Tracker {
    config: Config,
    anonymous_id: String,
    user_id: Option<String>,
    sender: Sender,
    _capture: Option<capture::Capture>,
}

fn with<R>(f: impl FnOnce(&mut Tracker) -> R) -> Option<R> {
    TRACKER.with(|t| t.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Starts the tracker with the snippet's config (`{endpoint, writeKey, pageviews, clicks}`).
/// Calling it again does nothing.
#[wasm_bindgen]
pub fn start(config: JsValue) {
    #[cfg(feature = "debug")]
    console_error_panic_hook::set_once();
    if with(|_| ()).is_some() {
        return;
    }
    let config = Config::from_js(&config);
    let anonymous_id = id::anonymous_id();
    let tracker = Tracker {
        sender: Sender::new(&config),
        config,
        anonymous_id,
        user_id: None,
        _capture: None,
    };
    TRACKER.with(|t| {
        if let Ok(mut slot) = t.try_borrow_mut() {
            *slot = Some(tracker);
        }
    });
    let capture = with(|t| capture::Capture::install(&t.config));
    with(|t| t._capture = capture);
    if with(|t| t.config.autocapture_pageviews) == Some(true) {
        page(None, JsValue::UNDEFINED);
    }
}

/// Records a custom event (Segment `track`).
#[wasm_bindgen]
pub fn track(event: String, properties: JsValue) {
    let msg = message("track");
    set(&msg, "event", &JsValue::from_str(&event));
    set(&msg, "properties", &object_or_empty(properties));
    enqueue(msg);
}

/// Records a page view (Segment `page`).
#[wasm_bindgen]
pub fn page(name: Option<String>, properties: JsValue) {
    let msg = message("page");
    if let Some(name) = name {
        set(&msg, "name", &JsValue::from_str(&name));
    }
    let props = context::page_properties();
    if let Ok(extra) = properties.dyn_into::<Object>() {
        Object::assign(&props, &extra);
    }
    set(&msg, "properties", &props);
    enqueue(msg);
}

/// Sets the known user id and records an `identify` with `traits`.
#[wasm_bindgen]
pub fn identify(user_id: Option<String>, traits: JsValue) {
    with(|t| {
        if user_id.is_some() {
            t.user_id = user_id;
        }
    });
    let msg = message("identify");
    set(&msg, "traits", &object_or_empty(traits));
    enqueue(msg);
}

/// Sends everything queued now.
#[wasm_bindgen]
pub fn flush() {
    with(|t| t.sender.flush());
}

/// A new message with the fields every type shares, stamped now.
fn message(kind: &str) -> Object {
    let msg = Object::new();
    set(&msg, "type", &JsValue::from_str(kind));
    set(&msg, "messageId", &JsValue::from_str(&id::uuid()));
    set(&msg, "timestamp", &js_sys::Date::new_0().to_iso_string());
    set(&msg, "context", &context::context());
    with(|t| {
        set(&msg, "anonymousId", &JsValue::from_str(&t.anonymous_id));
        if let Some(uid) = &t.user_id {
            set(&msg, "userId", &JsValue::from_str(uid));
        }
    });
    msg
}

fn enqueue(msg: Object) {
    with(|t| t.sender.push(msg));
}

pub(crate) fn set(target: &Object, key: &str, value: &JsValue) {
    // Reflect::set only fails on frozen objects or proxies; ours are plain objects.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn object_or_empty(v: JsValue) -> Object {
    v.dyn_into::<Object>()
        .ok()
        .filter(|o| !Array::is_array(o))
        .unwrap_or_default()
}
