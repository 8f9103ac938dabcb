//! Native tests of the tracker's state machine against the fake browser in `host::fake`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::host::fake::{with_fake, Fake};
use crate::host::{code, send};
use crate::limits::{MAX_BATCH_EVENTS, MAX_BODY_BYTES};
use serde_json::Value;

const T0: f64 = 1_732_790_000_000.0;
const URL: &str = "https://shop.example/p?utm_source=news&utm_campaign=spring";

fn browser() {
    with_fake(|b| {
        *b = Fake::default();
        b.now = T0;
        b.seed = 42;
        b.beacon_room = 100;
        b.doc[fact::FACTS as usize] = r#"{"userAgent":"fake","locale":"en-US"}"#.into();
        b.doc[fact::REFERRER as usize] = "https://search.example/".into();
        b.doc[fact::VISIBILITY as usize] = "visible".into();
    });
    go(URL);
}

/// Points the fake location at `url` (path and search split naively).
fn go(url: &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path_and_query = rest.find('/').map_or("/", |i| &rest[i..]);
    let (path, search) = match path_and_query.find('?') {
        Some(i) => (&path_and_query[..i], &path_and_query[i..]),
        None => (path_and_query, ""),
    };
    let campaign = if search.contains("utm_") {
        r#"{"name":"spring","source":"news"}"#
    } else {
        ""
    };
    with_fake(|b| {
        b.doc[fact::CAMPAIGN as usize] = campaign.into();
        b.doc[fact::HREF as usize] = url.into();
        b.doc[fact::PATH as usize] = path.into();
        b.doc[fact::SEARCH as usize] = search.into();
        b.doc[fact::TITLE as usize] = ["Title of ", path].concat();
    });
}

fn config() -> Config {
    Config {
        endpoint: "https://edge.example/".into(),
        write_key: "spur_demo_write_key".into(),
        ..Config::default()
    }
}

fn storage_keys() -> Vec<String> {
    with_fake(|b| b.storage.keys().cloned().collect())
}

fn queued() -> usize {
    storage_keys()
        .iter()
        .filter(|k| k.starts_with(queue::PREFIX))
        .count()
}

fn posts() -> Vec<(String, Value, u32)> {
    with_fake(|b| {
        b.posts
            .iter()
            .map(|(url, body, code)| (url.clone(), serde_json::from_str(body).unwrap(), *code))
            .collect()
    })
}

fn batch(body: &Value) -> Vec<Value> {
    body["batch"].as_array().unwrap().clone()
}

/// The latest flush timer (not a persist one).
fn last_timer() -> (u32, u32) {
    with_fake(|b| {
        *b.timers
            .iter()
            .rev()
            .find(|t| t.1 & 0xf == code::TIMER)
            .unwrap()
    })
}

/// A granted tracker that holds the lock and has recorded the initial page view.
fn sender() -> Tracker {
    let mut t = Tracker::new(config());
    t.ready();
    t.on_lead(true);
    t
}

/// Every message sent from now on, answering each request with 200 until the queue is empty.
fn drain(t: &mut Tracker) -> Vec<Value> {
    let before = posts().len();
    t.flush(true);
    while let Some((_, _, code)) = with_fake(|b| b.posts.last().cloned()) {
        t.on_sent(code >> 4, 200);
        if t.queue.len() == 0 {
            break;
        }
    }
    posts()
        .iter()
        .skip(before.saturating_sub(1))
        .flat_map(|p| batch(&p.1))
        .collect()
}

/// The 0 ms timer that writes the events captured in a task fires.
fn on_event_persist(t: &mut Tracker) {
    t.queue.persist();
}

/// Answers the latest post with `status`.
fn answer(t: &mut Tracker, status: u16) {
    let (_, _, code) = posts().pop().unwrap();
    t.on_sent(code >> 4, status);
}

#[test]
fn messages_are_segment_spec_with_full_context() {
    browser();
    let mut t = Tracker::new(config());
    t.ready();
    t.identify("u1", r#"{"email":"a@example.com"}"#);
    t.track("Signed Up", r#"{"plan":"pro"}"#);
    t.on_lead(true);
    let (url, body, _) = posts().pop().unwrap();
    assert_eq!(url, "https://edge.example/v1/batch");
    assert_eq!(body["writeKey"], "spur_demo_write_key");
    assert_eq!(body["sentAt"], "2024-11-28T10:33:20.000Z");
    let msgs = batch(&body);
    assert_eq!(msgs.len(), 3);
    let (page, identify, track) = (&msgs[0], &msgs[1], &msgs[2]);

    assert_eq!(page["type"], "page");
    assert_eq!(page["properties"]["path"], "/p");
    assert_eq!(page["properties"]["url"], URL);
    assert_eq!(page["properties"]["referrer"], "https://search.example/");
    assert_eq!(page["properties"]["title"], "Title of /p");
    assert_eq!(page.get("userId"), None);

    assert_eq!(identify["traits"]["email"], "a@example.com");
    assert_eq!(identify["userId"], "u1");
    assert_eq!(track["event"], "Signed Up");
    assert_eq!(track["properties"], serde_json::json!({"plan": "pro"}));
    assert_eq!(track["userId"], "u1");

    let ids: std::collections::BTreeSet<String> = msgs
        .iter()
        .map(|m| m["messageId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    for m in &msgs {
        assert_eq!(m["anonymousId"], page["anonymousId"]);
        assert_eq!(m["timestamp"], "2024-11-28T10:33:20.000Z");
        let ctx = &m["context"];
        assert_eq!(ctx["library"]["name"], "spur.js");
        assert_eq!(ctx["page"]["url"], URL);
        assert_eq!(
            ctx["campaign"],
            serde_json::json!({"source": "news", "name": "spring"})
        );
        assert_eq!(ctx["sessionId"], T0 as u64);
        assert_eq!(ctx["userAgent"], "fake");
        assert_eq!(ctx["locale"], "en-US");
    }
}

#[test]
fn granted_persists_identity_and_queue_and_only_the_lock_holder_sends() {
    browser();
    let mut t = Tracker::new(config());
    t.ready();
    t.track("A", "{}");
    let aid = with_fake(|b| b.storage.get(AID_KEY).cloned()).unwrap();
    assert_eq!(aid.len(), 36);
    assert_eq!(queued(), 0, "written after this task");
    assert!(
        with_fake(|b| b.timers.contains(&(0, code::PERSIST))),
        "which a 0 ms timer starts"
    );
    on_event_persist(&mut t);
    assert_eq!(queued(), 2, "page view and A are in storage");
    assert_eq!(
        with_fake(|b| b.locks.clone()),
        vec![(crate::delivery::LOCK_NAME.into(), code::LEAD)]
    );
    assert!(posts().is_empty(), "no lock, no send");
    t.on_lead(true);
    assert_eq!(batch(&posts()[0].1).len(), 2);
    answer(&mut t, 200);
    assert_eq!(queued(), 0);
    // A reload keeps the identity.
    let t2 = Tracker::new(config());
    assert_eq!(t2.anonymous_id, aid);
}

#[test]
fn pending_consent_writes_nothing_until_opt_in() {
    browser();
    let mut t = Tracker::new(Config {
        consent: Consent::Pending,
        ..config()
    });
    t.ready();
    t.track("A", "{}");
    t.identify("u1", "{}");
    t.flush(true);
    t.on_hide();
    assert!(storage_keys().is_empty(), "{:?}", storage_keys());
    assert!(posts().is_empty() && with_fake(|b| b.beacons.is_empty() && b.locks.is_empty()));

    t.opt_in();
    assert_eq!(queued(), 3, "held events moved to storage");
    for k in [AID_KEY, UID_KEY, SID_KEY, CONSENT_KEY] {
        assert!(storage_keys().contains(&k.to_string()), "{k}");
    }
    t.on_lead(true);
    let sent = batch(&posts()[0].1);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2]["userId"], "u1");
}

#[test]
fn pending_opt_out_drops_held_events() {
    browser();
    let mut t = Tracker::new(Config {
        consent: Consent::Pending,
        ..config()
    });
    t.ready();
    t.opt_out();
    assert_eq!(storage_keys(), vec![CONSENT_KEY.to_string()]);
    t.track("A", "{}");
    assert_eq!(t.queue.len(), 0);
}

#[test]
fn gpc_denies_by_default_without_storing_or_listening() {
    browser();
    let gpc = Signals {
        gpc: true,
        dnt: false,
    };
    let mut t = Tracker::new(Config {
        signals: gpc,
        ..config()
    });
    t.ready();
    t.track("A", "{}");
    t.flush(true);
    assert!(storage_keys().is_empty());
    assert!(posts().is_empty() && with_fake(|b| b.live.is_empty() && b.locks.is_empty()));

    // An explicit opt-in wins over the signal.
    t.opt_in();
    t.track("B", "{}");
    t.on_lead(true);
    assert_eq!(batch(&posts()[0].1)[0]["event"], "B");
}

#[test]
fn privacy_signals_are_honoured_only_as_configured() {
    browser();
    let both = Signals {
        gpc: true,
        dnt: true,
    };
    let t = Tracker::new(Config {
        gpc: false,
        signals: both,
        ..config()
    });
    assert_eq!(
        t.consent,
        Consent::Granted,
        "GPC ignored, DNT off by default"
    );
    let t = Tracker::new(Config {
        gpc: false,
        dnt: true,
        signals: both,
        ..config()
    });
    assert_eq!(t.consent, Consent::Denied);
}

#[test]
fn opt_out_removes_listeners_and_stored_data() {
    browser();
    let mut t = sender();
    t.track("A", "{}");
    assert!(with_fake(|b| b.live.len()) > 5);
    t.opt_out();
    assert!(
        with_fake(|b| b.live.is_empty()),
        "listeners, history hook and lock undone"
    );
    assert_eq!(storage_keys(), vec![CONSENT_KEY.to_string()]);
    assert_eq!(with_fake(|b| b.storage[CONSENT_KEY].clone()), "denied");
    t.track("B", "{}");
    t.flush(true);
    assert_eq!(
        posts().len(),
        1,
        "only the initial page view, sent before the opt-out"
    );
    // A reload remembers the refusal.
    assert_eq!(Tracker::new(config()).consent, Consent::Denied);
}

#[test]
fn another_tabs_opt_out_stops_this_tab() {
    browser();
    let mut t = sender();
    with_fake(|b| b.storage.insert(CONSENT_KEY.into(), "denied".into()));
    t.on_storage();
    assert_eq!(t.consent, Consent::Denied);
    assert!(with_fake(|b| b.live.is_empty()));
}

#[test]
fn cookieless_never_touches_storage_and_sends_without_the_lock() {
    browser();
    with_fake(|b| b.storage.insert(AID_KEY.into(), "old-id".into()));
    let mut t = Tracker::new(Config {
        cookieless: true,
        ..config()
    });
    t.ready();
    t.identify("u1", "{}");
    t.track("A", "{}");
    t.reset();
    t.opt_in();
    t.flush(true);
    assert_eq!(
        storage_keys(),
        vec![AID_KEY.to_string()],
        "only what was there"
    );
    assert!(with_fake(|b| b.locks.is_empty()));
    let sent = batch(&posts()[0].1);
    assert_eq!(sent.len(), 3);
    assert_ne!(sent[0]["anonymousId"], "old-id");
}

#[test]
fn page_views_are_never_repeated_for_the_same_url() {
    browser();
    let mut t = sender();
    t.auto_page();
    go("https://shop.example/cart");
    t.auto_page();
    t.auto_page();
    go("https://shop.example/cart#reviews");
    t.auto_page();
    t.page("Cart", r#"{"title":"mine"}"#);
    t.on_restore();
    let views = drain(&mut t);
    let urls: Vec<&str> = views
        .iter()
        .map(|v| v["properties"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            URL,
            "https://shop.example/cart",
            "https://shop.example/cart#reviews",
            "https://shop.example/cart#reviews",
            "https://shop.example/cart#reviews"
        ]
    );
    // SPA views refer to the previous view; a manual page() call is always recorded and its
    // properties override the facts.
    assert_eq!(views[1]["properties"]["referrer"], URL);
    assert_eq!(views[1]["context"]["page"]["referrer"], URL);
    assert_eq!(
        views[2]["properties"]["referrer"],
        "https://shop.example/cart"
    );
    assert_eq!(views[3]["name"], "Cart");
    assert_eq!(views[3]["properties"]["title"], "mine");
}

#[test]
fn manual_page_in_the_snippet_queue_replaces_the_initial_autocapture() {
    browser();
    let mut t = Tracker::new(config());
    t.page("Home", "{}");
    t.ready();
    t.on_lead(true);
    let views = batch(&posts()[0].1);
    assert_eq!(views.len(), 1);
    assert_eq!(views[0]["name"], "Home");
}

#[test]
fn alias_group_and_reset() {
    browser();
    let mut t = sender();
    let anon = t.anonymous_id.clone();
    t.alias("u2", "");
    t.identify("u1", "{}");
    t.alias("u3", "");
    t.group("g1", r#"{"plan":"team"}"#);
    t.reset();
    t.track("After", "{}");
    let m = drain(&mut t);
    assert_eq!(
        (m[1]["type"].as_str(), &m[1]["userId"], &m[1]["previousId"]),
        (
            Some("alias"),
            &Value::from("u2"),
            &Value::from(anon.clone())
        )
    );
    assert_eq!(
        (&m[3]["userId"], &m[3]["previousId"]),
        (&Value::from("u3"), &Value::from("u1"))
    );
    assert_eq!(
        (&m[4]["groupId"], &m[4]["traits"]["plan"]),
        (&Value::from("g1"), &Value::from("team"))
    );
    assert_eq!(m[5].get("userId"), None);
    assert_ne!(m[5]["anonymousId"], Value::from(anon));
    assert!(!storage_keys().contains(&UID_KEY.to_string()));
}

#[test]
fn delivered_batches_leave_the_queue_failed_ones_back_off_refused_ones_are_counted() {
    browser();
    let mut t = sender();
    assert_eq!(posts().len(), 1);
    t.flush(true);
    assert_eq!(posts().len(), 1, "one request in flight at a time");

    answer(&mut t, 503);
    assert_eq!(queued(), 1, "kept for a retry");
    let (delay, timer) = last_timer();
    assert!(delay <= 1_000, "first backoff ceiling is 1 s: {delay}");
    with_fake(|b| b.now = T0 + f64::from(delay) - 1.0);
    t.flush(false);
    assert_eq!(posts().len(), 1, "no send before the backoff delay");
    with_fake(|b| b.now = T0 + f64::from(delay));
    t.on_timer(timer >> 4);
    assert_eq!(posts().len(), 2);
    let first = posts()[0].1["batch"][0]["messageId"].clone();
    assert_eq!(
        posts()[1].1["batch"][0]["messageId"],
        first,
        "same messageId on retry"
    );

    answer(&mut t, 400);
    assert_eq!(queued(), 0, "a 4xx is not retried");
    assert_eq!(t.queue.dropped(), 1);
    t.track("A", "{}");
    t.flush(true);
    answer(&mut t, 200);
    // The drop is reported once the edge takes events again.
    t.flush(true);
    let report = &batch(&posts().last().unwrap().1)[0];
    assert_eq!(report["event"], DROPPED_EVENT);
    assert_eq!(report["properties"]["count"], 1);
    assert_eq!(t.queue.dropped(), 0);
}

#[test]
fn stale_answers_and_timers_are_ignored() {
    browser();
    let mut t = sender();
    let (_, _, code) = posts()[0].clone();
    t.on_sent((code >> 4) + 1, 200);
    assert_eq!(queued(), 1);
    t.on_timer(9_999);
    assert_eq!(posts().len(), 1);
    t.on_sent(code >> 4, 200);
    assert_eq!(queued(), 0);
}

#[test]
fn network_errors_retry_and_coming_online_retries_at_once() {
    browser();
    let mut t = sender();
    answer(&mut t, 0);
    assert_eq!(queued(), 1);
    t.on_online();
    assert_eq!(posts().len(), 2);
}

#[test]
fn batches_stay_within_event_and_byte_limits() {
    browser();
    let mut t = sender();
    answer(&mut t, 200);
    for _ in 0..150 {
        t.track("E", "{}");
    }
    let first = batch(&posts()[1].1).len();
    assert!(first <= MAX_BATCH_EVENTS);
    let big = ["{\"x\":\"", &"y".repeat(20_000), "\"}"].concat();
    for _ in 0..4 {
        t.track("Big", &big);
    }
    while let Some((_, _, code)) = with_fake(|b| b.posts.last().cloned()) {
        t.on_sent(code >> 4, 200);
        if queued() == 0 {
            break;
        }
    }
    let sizes: Vec<usize> = with_fake(|b| b.posts.iter().map(|p| p.1.len()).collect());
    assert!(sizes.iter().all(|s| *s < MAX_BODY_BYTES), "{sizes:?}");
    let events: usize = posts().iter().map(|p| batch(&p.1).len()).sum();
    assert_eq!(events, 1 + 150 + 4);
}

#[test]
fn oversized_events_are_dropped_at_capture_and_counted() {
    browser();
    let mut t = sender();
    t.track(
        "Huge",
        &["{\"x\":\"", &"y".repeat(MAX_EVENT_BYTES), "\"}"].concat(),
    );
    assert_eq!(queued(), 1, "only the page view");
    assert_eq!(t.queue.dropped(), 1);
}

#[test]
fn pagehide_beacons_everything_including_what_is_in_flight_and_releases_the_lock() {
    browser();
    let mut t = sender();
    t.track("A", "{}");
    t.track("B", "{}");
    t.on_hide();
    let beacons = with_fake(|b| b.beacons.clone());
    assert_eq!(beacons.len(), 1);
    let body: Value = serde_json::from_str(&beacons[0].1).unwrap();
    let names: Vec<_> = batch(&body).iter().map(|m| m["type"].clone()).collect();
    assert_eq!(
        names,
        [
            Value::from("page"),
            Value::from("track"),
            Value::from("track")
        ],
        "the page view, in flight, is beaconed too: its fetch may never leave"
    );
    assert_eq!(queued(), 3, "beaconed events stay until an answer is seen");
    assert!(with_fake(|b| b
        .live
        .iter()
        .all(|(_, w)| !w.starts_with("lock:"))));
    t.track("C", "{}");
    assert_eq!(posts().len(), 1, "no longer the sender");
    t.on_restore();
    assert_eq!(with_fake(|b| b.locks.len()), 2, "asks for the lock again");
}

#[test]
fn pagehide_stops_when_the_browser_refuses_more_beacons() {
    browser();
    with_fake(|b| b.beacon_room = 0);
    let mut t = sender();
    answer(&mut t, 200);
    t.track("A", "{}");
    t.on_hide();
    assert!(with_fake(|b| b.beacons.is_empty()));
    assert_eq!(queued(), 1);
}

#[test]
fn hidden_tab_flushes_at_once() {
    browser();
    let mut t = sender();
    answer(&mut t, 200);
    t.track("A", "{}");
    assert_eq!(posts().len(), 1);
    with_fake(|b| b.doc[fact::VISIBILITY as usize] = "hidden".into());
    t.on_visibility();
    assert_eq!(posts().len(), 2);
}

#[test]
fn a_full_batch_goes_out_without_waiting_for_the_timer() {
    browser();
    let mut t = sender();
    answer(&mut t, 200);
    for _ in 0..crate::limits::BATCH_EVENTS {
        t.track("E", "{}");
    }
    assert_eq!(batch(&posts()[1].1).len(), crate::limits::BATCH_EVENTS);
}

#[test]
fn bad_property_json_from_a_direct_caller_becomes_an_empty_object() {
    browser();
    let mut t = sender();
    answer(&mut t, 200);
    t.track("A", "[1,2]");
    t.flush(true);
    assert_eq!(batch(&posts()[1].1)[0]["properties"], serde_json::json!({}));
}

#[test]
fn a_tab_waiting_for_another_sender_stays_quiet_at_pagehide() {
    browser();
    let mut t = Tracker::new(config());
    t.ready();
    t.on_lead(false);
    t.track("A", "{}");
    t.flush(true);
    t.on_hide();
    assert!(posts().is_empty() && with_fake(|b| b.beacons.is_empty()));
    assert_eq!(queued(), 2, "the sender tab will send them");
}

#[test]
fn a_page_left_before_the_lock_answers_beacons_anyway() {
    browser();
    let mut t = Tracker::new(config());
    t.ready();
    t.track("A", "{}");
    t.on_hide();
    let beacons = with_fake(|b| b.beacons.clone());
    let body: Value = serde_json::from_str(&beacons[0].1).unwrap();
    assert_eq!(batch(&body).len(), 2);
    assert!(posts().is_empty());
}

#[test]
fn storage_that_refuses_writes_keeps_events_in_memory() {
    browser();
    with_fake(|b| b.quota = 1);
    let mut t = Tracker::new(config());
    t.ready();
    t.track("A", "{}");
    assert_eq!(t.queue.store, Store::Memory);
    assert!(
        with_fake(|b| b.locks.is_empty()),
        "no shared queue, no lock needed"
    );
    let sent = drain(&mut t);
    assert_eq!(sent.len(), 2);
}

/// Issue 14: a call costs the same at any queue depth. The queue's keys are listed once at
/// start; this tab's writes keep the index, and only another tab's writes (storage events,
/// lock grants) make it list them again, once, when next needed.
#[test]
fn storage_keys_are_listed_once_not_per_call() {
    browser();
    let mut t = sender();
    answer(&mut t, 200);
    let start = with_fake(|b| b.listings);
    for i in 0..crate::limits::MAX_QUEUED_EVENTS + 50 {
        t.track("Burst", &["{\"i\":", &i.to_string(), "}"].concat());
    }
    assert_eq!(with_fake(|b| b.listings), start, "no listing per call");
    on_event_persist(&mut t);
    assert_eq!(queued(), crate::limits::MAX_QUEUED_EVENTS, "the cap holds");
    let sent = drain(&mut t);
    assert_eq!(queued(), 0);
    assert_eq!(with_fake(|b| b.listings), start, "nor per batch");
    // 1,050 tracked; 51 dropped at the cap (the page view still waited), reported once.
    assert!(sent.iter().any(|m| m["event"] == "Spur Events Dropped"));
    // Another tab queues two events: storage events only mark the index.
    for k in [
        "spur.q.zzzzzzzzz0000aaaaaaaa",
        "spur.q.zzzzzzzzz0001aaaaaaaa",
    ] {
        with_fake(|b| b.storage.insert(k.into(), r#"{"other":1}"#.into()));
        t.on_storage();
    }
    assert_eq!(with_fake(|b| b.listings), start);
    let (_, timer) = last_timer();
    t.on_timer(timer >> 4);
    assert_eq!(
        with_fake(|b| b.listings),
        start + 1,
        "read once, when sending"
    );
    assert_eq!(batch(&posts().last().unwrap().1).len(), 2);
    answer(&mut t, 200);
    assert_eq!(queued(), 0);
}

/// Issue 14: keepalive only for a page being left; gzip from `GZIP_MIN_BYTES` on.
#[test]
fn requests_ask_for_gzip_when_large_and_keepalive_only_when_hidden() {
    browser();
    let mut t = sender();
    answer(&mut t, 200);
    let big = [
        "{\"x\":\"",
        &"y".repeat(crate::limits::GZIP_MIN_BYTES),
        "\"}",
    ]
    .concat();
    t.track("Big", &big);
    t.flush(true);
    answer(&mut t, 200);
    t.track("Small", "{}");
    t.flush(true);
    answer(&mut t, 200);
    t.track("Hidden", "{}");
    with_fake(|b| b.doc[fact::VISIBILITY as usize] = "hidden".into());
    t.on_visibility();
    let sizes = with_fake(|b| b.posts.iter().map(|p| p.1.len()).collect::<Vec<_>>());
    assert!(sizes[1] >= crate::limits::GZIP_MIN_BYTES && sizes[2] < crate::limits::GZIP_MIN_BYTES);
    assert_eq!(
        with_fake(|b| b.hows.clone())[1..],
        [send::GZIP, 0, send::LEAVING]
    );
}

/// Issue 14: one storage write per call (the event), not two: the session's latest activity
/// is saved at most once a second, and at pagehide.
#[test]
fn the_session_is_saved_at_most_once_a_second() {
    browser();
    let mut t = sender();
    let writes = || with_fake(|b| b.writes);
    let before = writes();
    for _ in 0..100 {
        t.track("A", "{}");
    }
    on_event_persist(&mut t);
    assert_eq!(writes() - before, 100, "the events only");
    with_fake(|b| b.now += 1_000.0);
    t.track("B", "{}");
    on_event_persist(&mut t);
    assert_eq!(writes() - before, 102, "B and the session");
    with_fake(|b| b.now += 10.0);
    t.track("C", "{}");
    t.on_hide();
    let stored = with_fake(|b| b.storage.get(SID_KEY).cloned()).unwrap();
    assert!(
        stored.ends_with(&(T0 as u64 + 1_010).to_string()),
        "{stored}"
    );
}
