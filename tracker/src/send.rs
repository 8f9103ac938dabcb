//! Batching and delivery to the edge's `/v1/batch`.
//!
//! Invariant: a message leaves the queue only when it is handed to the network in a batch;
//! on page hide the queue goes out with `sendBeacon`, so navigating away loses nothing queued.

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::{Array, Object, JSON};
use wasm_bindgen::{JsCast, JsValue};

use crate::{set, Config};

/// Send when this many messages are queued…
const BATCH_MAX: u32 = 20;
/// …or this long after the first one was queued.
const FLUSH_AFTER_MS: u32 = 1_000;

/// The outgoing queue.
pub struct Sender {
    url: String,
    write_key: Option<String>,
    queue: Array,
    timer: Option<Timeout>,
    _on_hide: Option<EventListener>,
}

impl Sender {
    /// A sender for `config.endpoint`.
    pub fn new(config: &Config) -> Sender {
        let on_hide = web_sys::window().map(|w| {
            EventListener::new(&w, "pagehide", |_| {
                crate::with(|t| t.sender.flush_beacon());
            })
        });
        Sender {
            url: format!("{}/v1/batch", config.endpoint.trim_end_matches('/')),
            write_key: config.write_key.clone(),
            queue: Array::new(),
            timer: None,
            _on_hide: on_hide,
        }
    }

    /// Queues a message and schedules a send.
    pub fn push(&mut self, msg: Object) {
        self.queue.push(&msg);
        if self.queue.length() >= BATCH_MAX {
            self.flush();
        } else if self.timer.is_none() {
            self.timer = Some(Timeout::new(FLUSH_AFTER_MS, crate::flush));
        }
    }

    /// Sends the queue now with `fetch` (keepalive).
    pub fn flush(&mut self) {
        self.timer = None;
        let Some(body) = self.take_body() else { return };
        let Some(window) = web_sys::window() else {
            return;
        };
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        // web-sys has no setter for `keepalive`; it is a plain field of the init dictionary.
        set(&init, "keepalive", &JsValue::TRUE);
        init.set_body(&JsValue::from_str(&body));
        let headers = web_sys::Headers::new().ok();
        if let Some(h) = &headers {
            let _ = h.set("Content-Type", "text/plain");
            init.set_headers(h);
        }
        let _ = window.fetch_with_str_and_init(&self.url, &init);
    }

    /// Sends the queue with `navigator.sendBeacon` (survives page unload).
    pub fn flush_beacon(&mut self) {
        self.timer = None;
        let Some(body) = self.take_body() else { return };
        if let Some(window) = web_sys::window() {
            let _ = window
                .navigator()
                .send_beacon_with_opt_str(&self.url, Some(&body));
        }
    }

    /// The queued messages as a Segment batch body, emptying the queue.
    fn take_body(&mut self) -> Option<String> {
        if self.queue.length() == 0 {
            return None;
        }
        let batch = std::mem::replace(&mut self.queue, Array::new());
        let sent_at = js_sys::Date::new_0().to_iso_string();
        for msg in batch.iter() {
            if let Ok(o) = msg.dyn_into::<Object>() {
                set(&o, "sentAt", &sent_at);
            }
        }
        let body = Object::new();
        set(&body, "batch", &batch);
        set(&body, "sentAt", &sent_at);
        if let Some(key) = &self.write_key {
            set(&body, "writeKey", &JsValue::from_str(key));
        }
        JSON::stringify(&body).ok().and_then(|s| s.as_string())
    }
}
