//! Developer mode: the `debug` feature's build, loaded instead of the production tracker by
//! `spur.debug(true)` or `?spur_debug=1` (see `tracker/js/loader.js`).
//!
//! Invariant: this module only observes. It logs what the tracker already decided (an event
//! queued, a batch sent, the edge's answer) and changes nothing the tracker sends except
//! asking the edge for its per-message verdicts (`/v1/batch?debug=1`); it is compiled only
//! into the debug build, so the production tracker carries none of its bytes.

use gloo_console::{error, log, warn};
use js_sys::{Array, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsValue;

#[wasm_bindgen(module = "/js/host.js")]
extern "C" {
    /// The body of the latest answer from the edge (read before the send's status is
    /// dispatched; empty when it could not be read).
    fn last_answer() -> String;
}

/// The debug build starts: panics show their message and location in the console.
pub fn started() {
    console_error_panic_hook::set_once();
    log!(
        "spur: developer mode (debug build): events, sends and the edge's verdicts are logged here"
    );
}

fn parse(json: &str) -> JsValue {
    JSON::parse(json).unwrap_or_else(|_| JsValue::from_str(json))
}

fn field(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn text(v: &JsValue, key: &str) -> String {
    field(v, key).as_string().unwrap_or_default()
}

/// An event was captured and queued (`json` is the message as it will be sent).
pub fn queued(json: &str) {
    let event = parse(json);
    let name = [text(&event, "event"), text(&event, "name")].concat();
    let label = format!("spur: queued {} {name}", text(&event, "type"));
    log!(label, event);
}

/// A batch of `n` events is on its way to `url`.
pub fn sending(url: &str, n: usize) {
    log!(format!("spur: sending {n} event(s) to {url}"));
}

/// The edge answered a send with `status`; logs each message's verdict from the answer.
pub fn answered(status: u16) {
    let answer = parse(&last_answer());
    log!(format!("spur: the edge answered {status}"), answer.clone());
    let verdicts = field(&answer, "verdicts");
    if !Array::is_array(&verdicts) {
        return;
    }
    for v in Array::from(&verdicts).iter() {
        let status = text(&v, "status");
        let who = [text(&v, "event"), text(&v, "messageId")].join(" ");
        match status.as_str() {
            "accepted" => log!(format!("spur: ✓ accepted {who}")),
            "flagged" => {
                let lines = Array::from(&field(&v, "violations"));
                let lines: Vec<String> = lines.iter().filter_map(|l| l.as_string()).collect();
                warn!(format!(
                    "spur: ⚠ tracking plan violation: {} ({who})",
                    lines.join("; ")
                ));
            }
            _ => error!(format!(
                "spur: ✗ rejected {who}: {} ({})",
                text(&v, "detail"),
                text(&v, "reason")
            )),
        }
    }
}
