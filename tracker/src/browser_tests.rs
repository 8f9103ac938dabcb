//! The queue and message serialization against the real browser (localStorage, `JSON.parse`,
//! `crypto`, `Date`) through the real `tracker/js/host.js`, in headless Chromium.

use js_sys::{Reflect, JSON};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use crate::config::Config;
use crate::consent::Consent;
use crate::host::{self, Store};
use crate::limits::{MAX_BODY_BYTES, MAX_QUEUED_EVENTS};
use crate::queue::{new_key, Queue, PREFIX};
use crate::tracker::Tracker;

wasm_bindgen_test_configure!(run_in_browser);

fn clear_storage() {
    for k in crate::json::split(&Store::Local.keys("spur."), b'\n') {
        Store::Local.del(k);
    }
}

fn get(v: &JsValue, path: &str) -> JsValue {
    crate::json::split(path, b'.').fold(v.clone(), |o, k| {
        Reflect::get(&o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
    })
}

fn push(q: &mut Queue, n: u32) {
    let key = new_key(host::now(), n, &host::uuid());
    q.push(&key, &["{\"n\":", &n.to_string(), "}"].concat(), &[]);
}

#[wasm_bindgen_test]
fn storage_queue_keeps_order_caps_and_counts_drops() {
    clear_storage();
    let mut q = Queue::new(Store::Local);
    for n in 0..(MAX_QUEUED_EVENTS as u32 + 3) {
        push(&mut q, n);
    }
    assert_eq!(q.len(), MAX_QUEUED_EVENTS);
    assert_eq!(q.dropped(), 3);
    let first = q.batch(&[], usize::MAX, 2);
    assert_eq!(
        first.events, r#"{"n":3},{"n":4}"#,
        "the three oldest were dropped"
    );
    q.remove(&first.keys);
    assert_eq!(q.len(), MAX_QUEUED_EVENTS - 2);
    q.clear();
    assert_eq!(Store::Local.keys(PREFIX), "");
    assert_eq!(q.dropped(), 0);
}

#[wasm_bindgen_test]
fn a_memory_queue_moves_into_storage_in_order() {
    clear_storage();
    let mut q = Queue::new(Store::Memory);
    for n in 0..5 {
        push(&mut q, n);
    }
    assert_eq!(Store::Local.keys(PREFIX), "", "memory writes no storage");
    q.move_to(Store::Local);
    let all = q.batch(&[], usize::MAX, 100);
    assert_eq!(all.events, r#"{"n":0},{"n":1},{"n":2},{"n":3},{"n":4}"#);
    q.clear();
}

#[wasm_bindgen_test]
fn captured_messages_parse_as_segment_json_with_any_text() {
    clear_storage();
    let mut t = Tracker::new(Config {
        endpoint: "https://edge.example".into(),
        write_key: "key \"quoted\"".into(),
        pageviews: false,
        clicks: false,
        ..Config::default()
    });
    let nasty = "q\"uote \\ back\nline\ttab \u{1} ctl \u{2028} ls é 😀";
    let props =
        JSON::stringify(&JSON::parse(r#"{"s":"é😀\n","n":12.5,"a":[1,{"b":null}]}"#).unwrap())
            .unwrap()
            .as_string()
            .unwrap();
    t.track(nasty, &props);
    t.identify("user \"1\"", "{}");
    t.queue.persist();
    let stored = Queue::new(Store::Local).batch(&[], usize::MAX, 10);
    let stored = JSON::parse(&["[", &stored.events, "]"].concat()).expect("valid JSON");
    let msg = Reflect::get_u32(&stored, 0).unwrap();
    assert_eq!(get(&msg, "type").as_string().as_deref(), Some("track"));
    assert_eq!(get(&msg, "event").as_string().as_deref(), Some(nasty));
    assert_eq!(
        get(&msg, "properties.s").as_string().as_deref(),
        Some("é😀\n")
    );
    assert_eq!(get(&msg, "properties.n").as_f64(), Some(12.5));
    let id = get(&msg, "messageId").as_string().unwrap();
    let b = id.as_bytes();
    assert_eq!(
        (b.len(), b[8], b[13], b[14], b[18], b[23]),
        (36, b'-', b'-', b'4', b'-', b'-')
    );
    assert!(
        matches!(b[19], b'8' | b'9' | b'a' | b'b'),
        "variant of {id}"
    );
    assert_ne!(host::uuid(), host::uuid());
    let ts = get(&msg, "timestamp").as_string().unwrap();
    assert!(js_sys::Date::parse(&ts) > 1.7e12, "{ts}");
    assert_eq!(
        get(&msg, "context.library.name").as_string().as_deref(),
        Some("spur.js")
    );
    assert!(get(&msg, "context.userAgent")
        .as_string()
        .unwrap()
        .contains("Chrome"));
    assert!(get(&msg, "context.timezone").is_string());
    assert!(get(&msg, "context.screen.width").as_f64().unwrap() > 0.0);
    assert!(get(&msg, "context.sessionId").as_f64().unwrap() > 1.7e12);
    let identify = Reflect::get_u32(&stored, 1).unwrap();
    assert_eq!(
        get(&identify, "userId").as_string().as_deref(),
        Some("user \"1\"")
    );
    t.opt_out();
    clear_storage();
}

#[wasm_bindgen_test]
fn pending_consent_leaves_storage_untouched() {
    clear_storage();
    let mut t = Tracker::new(Config {
        consent: Consent::Pending,
        ..Config::default()
    });
    t.ready();
    t.track("A", "{}");
    assert_eq!(Store::Local.keys("spur."), "");
    t.opt_in();
    assert_eq!(Queue::new(Store::Local).len(), 2, "the page view and A");
    t.opt_out();
    assert_eq!(Store::Local.keys("spur."), "spur.consent");
    clear_storage();
}

#[wasm_bindgen_test]
fn beacon_bodies_stay_under_the_keepalive_budget() {
    clear_storage();
    let mut t = Tracker::new(Config {
        pageviews: false,
        clicks: false,
        ..Config::default()
    });
    let big = ["{\"x\":\"", &"y".repeat(9_000), "\"}"].concat();
    for _ in 0..20 {
        t.track("Big", &big);
    }
    t.queue.persist();
    let batch = Queue::new(Store::Local).batch(&[], MAX_BODY_BYTES - 200, 100);
    let (bytes, n) = (batch.events.len(), batch.keys.len());
    assert!(
        bytes < MAX_BODY_BYTES - 200 && n > 1 && n < 20,
        "{bytes} bytes, {n} events"
    );
    t.opt_out();
    clear_storage();
}
