//! The browser tracker's queue, batching and JSON writer, driven by generated sequences of API
//! calls and browser events against the fake browser (`host::fake`).
//!
//! Invariant checked: every request and beacon body is valid JSON with a `batch` of messages
//! that each carry a `messageId`, within the tracker's body and batch limits; every queued
//! event is a JSON object within the event limit; no two queued events share a `messageId`;
//! and an event leaves the queue only when the edge answered for it (a 2xx or a final 4xx),
//! when it was beaconed from an in-memory queue at `pagehide`, on opt-out, or when it was
//! dropped *and counted* (queue cap, storage quota).

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Value};

use crate::backoff::{outcome, Outcome};
use crate::config::Config;
use crate::consent::{Consent, Signals};
use crate::host::fake::{with_fake, Fake};
use crate::host::{fact, Store};
use crate::limits::{MAX_BATCH_EVENTS, MAX_BODY_BYTES, MAX_EVENT_BYTES, MAX_QUEUED_EVENTS};
use crate::queue::{DROPPED_KEY, PREFIX};
use crate::tracker::{Tracker, DROPPED_EVENT};

const T0: f64 = 1_732_790_000_000.0;

#[derive(Debug, Arbitrary)]
enum Props {
    Empty,
    Small(Vec<(String, Small)>),
    /// A property of `n` bytes (around the 32 KiB event and 60 KiB body limits).
    Big(u16),
    /// Not an object (a direct caller's mistake; the tracker must not corrupt the message).
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Small {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<String>),
}

impl Props {
    /// What `JSON.stringify` would hand over.
    fn json(&self) -> String {
        let mut m = Map::new();
        match self {
            Props::Empty => {}
            Props::Small(items) => {
                for (k, v) in items {
                    let v = match v {
                        Small::Null => Value::Null,
                        Small::Bool(b) => Value::Bool(*b),
                        Small::Int(i) => Value::from(*i),
                        Small::Float(f) => {
                            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
                        }
                        Small::Text(s) => Value::String(s.clone()),
                        Small::List(l) => {
                            Value::Array(l.iter().cloned().map(Value::String).collect())
                        }
                    };
                    m.insert(k.clone(), v);
                }
            }
            Props::Big(n) => {
                m.insert("blob".into(), Value::String("x".repeat(usize::from(*n))));
            }
            Props::Raw(s) => return s.clone(),
        }
        Value::Object(m).to_string()
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    Track(String, Props),
    Page(String, Props),
    Identify(String, Props),
    Alias(String, String),
    Group(String, Props),
    Reset,
    Flush,
    OptIn,
    OptOut,
    Ready,
    Click {
        name: String,
        props: Props,
        tagged: bool,
    },
    Navigate(String),
    Show {
        persisted: bool,
    },
    Hide,
    Visibility {
        hidden: bool,
    },
    /// Another tab wrote storage (optionally a consent choice).
    Storage(Option<bool>),
    Online,
    Lead {
        held: bool,
    },
    /// The latest timer fires.
    Timer,
    /// The latest request is answered with this status (0: network error).
    Answer(u16),
    Advance(u32),
    Quota(u16),
    BeaconRoom(u8),
}

#[derive(Debug, Arbitrary)]
struct Script {
    consent: u8,
    cookieless: bool,
    pageviews: bool,
    clicks: bool,
    tags: bool,
    gpc: bool,
    dnt: bool,
    signals: (bool, bool),
    write_key: String,
    ops: Vec<Op>,
}

/// The queued events, by `messageId`, with their store.
fn queued() -> BTreeMap<String, Store> {
    let mut out = BTreeMap::new();
    for (store, memory) in [(Store::Local, false), (Store::Memory, true)] {
        let entries: Vec<(String, String)> = with_fake(|b| {
            let m = if memory { &b.memory } else { &b.storage };
            m.iter()
                .filter(|(k, _)| k.starts_with(PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        assert!(entries.len() <= MAX_QUEUED_EVENTS, "queue over its cap");
        for (key, json) in entries {
            assert!(json.len() <= MAX_EVENT_BYTES, "queued event over the limit");
            let v: Value = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("queued event {key} is not JSON ({e}): {json}"));
            let id = v["messageId"]
                .as_str()
                .unwrap_or_else(|| panic!("queued event without messageId: {json}"))
                .to_owned();
            assert!(
                out.insert(id, store).is_none(),
                "two queued events share a messageId"
            );
        }
    }
    out
}

fn dropped() -> u64 {
    with_fake(|b| {
        [b.storage.get(DROPPED_KEY), b.memory.get(DROPPED_KEY)]
            .into_iter()
            .flatten()
            .map(|s| s.parse::<u64>().expect("the drop count is a number"))
            .sum()
    })
}

/// Checks one body the tracker sent and returns its messages' ids.
fn check_body(body: &str) -> Vec<String> {
    assert!(body.len() <= MAX_BODY_BYTES, "body of {} bytes", body.len());
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body}"));
    let batch = v["batch"].as_array().expect("a body has a batch");
    assert!(!batch.is_empty() && batch.len() <= MAX_BATCH_EVENTS);
    batch
        .iter()
        .map(|m| {
            assert!(m["type"].is_string() && m["anonymousId"].is_string(), "{m}");
            assert!(m["context"].is_object(), "{m}");
            m["messageId"].as_str().expect("messageId").to_owned()
        })
        .collect()
}

fn go(url: &str) {
    with_fake(|b| {
        b.doc[fact::HREF as usize] = url.to_owned();
        b.doc[fact::PATH as usize] = url.split('?').next().unwrap_or("").to_owned();
        b.doc[fact::TITLE as usize] = url.to_owned();
    });
}

/// `tracker`: a generated script of API calls and browser events.
pub fn tracker(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(script) = Script::arbitrary(&mut u) else {
        return;
    };
    with_fake(|b| {
        *b = Fake::default();
        b.now = T0;
        b.seed = 7;
        b.beacon_room = 4;
        b.doc[fact::FACTS as usize] = r#"{"userAgent":"fake","locale":"en-US"}"#.into();
        b.doc[fact::VISIBILITY as usize] = "visible".into();
        b.doc[fact::CAMPAIGN as usize] = r#"{"name":"spring"}"#.into();
    });
    go("https://shop.example/");
    let config = Config {
        endpoint: "https://edge.example/".into(),
        write_key: script.write_key.clone(),
        consent: [Consent::Granted, Consent::Pending, Consent::Denied]
            [usize::from(script.consent % 3)],
        cookieless: script.cookieless,
        pageviews: script.pageviews,
        clicks: script.clicks,
        tags: script.tags,
        gpc: script.gpc,
        dnt: script.dnt,
        signals: Signals {
            gpc: script.signals.0,
            dnt: script.signals.1,
        },
    };
    let mut t = Tracker::new(config);
    for op in script.ops.iter().take(200) {
        let before = queued();
        let dropped_before = dropped();
        let (posts_before, beacons_before) = with_fake(|b| (b.posts.len(), b.beacons.len()));
        let mut answered: BTreeSet<String> = BTreeSet::new();
        match op {
            Op::Track(name, p) => t.track(name, &p.json()),
            Op::Page(name, p) => t.page(name, &p.json()),
            Op::Identify(id, p) => t.identify(id, &p.json()),
            Op::Alias(a, b) => t.alias(a, b),
            Op::Group(id, p) => t.group(id, &p.json()),
            Op::Reset => t.reset(),
            Op::Flush => t.flush(true),
            Op::OptIn => t.opt_in(),
            Op::OptOut => t.opt_out(),
            Op::Ready => t.ready(),
            Op::Click {
                name,
                props,
                tagged,
            } => {
                let name = if *tagged && !name.is_empty() && name != "Element Clicked" {
                    name.replace('\n', " ")
                } else {
                    "Element Clicked".to_owned()
                };
                let described = [props.json().replace('\n', " "), name].join("\n");
                with_fake(|b| b.click = described);
                t.click();
            }
            Op::Navigate(path) => {
                go(&["https://shop.example/", path].concat());
                t.auto_page();
            }
            Op::Show { persisted } => {
                if *persisted {
                    t.on_restore();
                }
            }
            Op::Hide => t.on_hide(),
            Op::Visibility { hidden } => {
                let v = if *hidden { "hidden" } else { "visible" };
                with_fake(|b| b.doc[fact::VISIBILITY as usize] = v.into());
                t.on_visibility();
            }
            Op::Storage(choice) => {
                if let Some(granted) = choice {
                    let c = if *granted { "granted" } else { "denied" };
                    with_fake(|b| b.storage.insert("spur.consent".into(), c.into()));
                }
                t.on_storage();
            }
            Op::Online => t.on_online(),
            Op::Lead { held } => t.on_lead(*held),
            Op::Timer => {
                if let Some((_, code)) = with_fake(|b| b.timers.last().copied()) {
                    t.on_timer(code >> 4);
                }
            }
            Op::Answer(status) => {
                if let Some((_, body, code)) = with_fake(|b| b.posts.last().cloned()) {
                    if outcome(*status) != Outcome::Retry {
                        answered = check_body(&body).into_iter().collect();
                    }
                    t.on_sent(code >> 4, *status);
                }
            }
            Op::Advance(ms) => with_fake(|b| b.now += f64::from(*ms)),
            Op::Quota(q) => with_fake(|b| b.quota = usize::from(*q) * 16),
            Op::BeaconRoom(n) => with_fake(|b| b.beacon_room = usize::from(*n % 8)),
        }

        let (posts, beacons) = with_fake(|b| {
            (
                b.posts[posts_before..].to_vec(),
                b.beacons[beacons_before..].to_vec(),
            )
        });
        for (url, body, _) in &posts {
            assert_eq!(url, "https://edge.example/v1/batch");
            check_body(body);
        }
        let mut beaconed = BTreeSet::new();
        for (_, body) in &beacons {
            beaconed.extend(check_body(body));
        }

        let after = queued();
        if t.consent == Consent::Denied {
            // Opted out (here, or in another tab: `Storage`): the queue is emptied on purpose.
            assert!(after.is_empty(), "opt-out left events queued");
            continue;
        }
        // Events reported as dropped by this op (the count was taken and sent as an event).
        let reported: u64 = with_fake(|b| {
            b.storage
                .values()
                .chain(b.memory.values())
                .filter_map(|json| serde_json::from_str::<Value>(json).ok())
                .filter(|v| {
                    v["event"] == DROPPED_EVENT
                        && v["messageId"]
                            .as_str()
                            .is_some_and(|id| !before.contains_key(id))
                })
                .filter_map(|v| v["properties"]["count"].as_u64())
                .sum()
        });
        let dropped_after = dropped();
        // Drops during the op: what the count grew by, plus what was taken from it and sent.
        let counted = (dropped_after + reported).saturating_sub(dropped_before);
        let unexplained: Vec<&String> = before
            .iter()
            .filter(|(id, store)| {
                let explained = after.contains_key(*id)
                    || answered.contains(*id)
                    || (**store == Store::Memory && beaconed.contains(*id));
                !explained
            })
            .map(|(id, _)| id)
            .collect();
        assert!(
            unexplained.len() as u64 <= counted,
            "{} events left the queue unanswered and uncounted after {op:?} (counted {counted})",
            unexplained.len()
        );
    }
}
