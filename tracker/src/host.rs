//! The browser, as the tracker sees it: `tracker/js/host.js` on wasm, an in-memory fake natively.
//!
//! Invariant: every side effect the tracker has (storage, network, timers, listeners, locks)
//! goes through this module, and nothing here calls back into the tracker synchronously:
//! listeners, timers, responses and lock grants arrive later through the loader's
//! `on_event(code, arg)`. Only numbers and strings cross the boundary (no JS objects: no
//! externref table, less glue); registrations are numbered handles kept by `host.js`.
//! Native unit tests swap the browser for [`fake`].

/// Dispatch codes: the low four bits name the source; timers and sends carry a sequence
/// number in the bits above (`code | n << 4`).
pub mod code {
    /// A click anywhere in the document (capture phase).
    pub const CLICK: u32 = 1;
    /// `popstate`, `hashchange`, or a `pushState`/`replaceState` call.
    pub const NAV: u32 = 2;
    /// `pageshow` (a bfcache restore when `persisted`).
    pub const SHOW: u32 = 3;
    /// `pagehide`.
    pub const HIDE: u32 = 4;
    /// `visibilitychange`.
    pub const VISIBILITY: u32 = 5;
    /// Another tab wrote storage.
    pub const STORAGE: u32 = 6;
    /// The browser came back online.
    pub const ONLINE: u32 = 7;
    /// The Web Lock's answer: the argument is [`HELD`] when this tab holds it (and sends),
    /// 0 when another tab does (this one waits in line, and gets `LEAD` again with `HELD`).
    pub const LEAD: u32 = 8;
    /// See [`LEAD`].
    pub const HELD: f64 = 1.0;
    /// The flush timer `n` fired.
    pub const TIMER: u32 = 9;
    /// Send `n` finished; the argument is the HTTP status, 0 for a network error.
    pub const SENT: u32 = 10;
    /// Write the events captured in the previous task to storage.
    pub const PERSIST: u32 = 11;
    /// `pageshow`/`pagehide` pass 1 as the argument when the page is (or was) in the bfcache.
    pub const PERSISTED: f64 = 1.0;
}

/// How [`post`] sends a body (bits).
pub mod send {
    /// Gzip the body (`Content-Encoding: gzip`) if the browser has `CompressionStream`.
    pub const GZIP: u32 = 1;
    /// The page is hidden and may be gone soon: ask for `keepalive`, which the host grants
    /// only within the browser's in-flight budget (64 KiB, shared with beacons).
    pub const LEAVING: u32 = 2;
}

/// Which document fact [`doc`] reads.
pub mod fact {
    /// `location.href`.
    pub const HREF: u32 = 0;
    /// `location.pathname`.
    pub const PATH: u32 = 1;
    /// `location.search`.
    pub const SEARCH: u32 = 2;
    /// `document.title`.
    pub const TITLE: u32 = 3;
    /// `document.referrer`.
    pub const REFERRER: u32 = 4;
    /// `document.visibilityState`.
    pub const VISIBILITY: u32 = 5;
    /// `context.campaign` as JSON: the page URL's `utm_*` parameters under Segment's names
    /// (`utm_campaign` is `name`), or `""` when there are none.
    pub const CAMPAIGN: u32 = 6;
    /// The members of `context` that never change during a page's life (userAgent, locale,
    /// timezone, screen), as a JSON object.
    pub const FACTS: u32 = 7;
}

#[cfg(target_arch = "wasm32")]
pub use wasm::*;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use wasm_bindgen::prelude::*;

    /// A registration's number in `host.js`, for [`undo`].
    pub type Handle = u32;

    #[wasm_bindgen]
    extern "C" {
        /// `Date.now()`.
        #[wasm_bindgen(js_namespace = Date)]
        pub fn now() -> f64;
    }

    #[wasm_bindgen(module = "/js/host.js")]
    extern "C" {
        /// Adds a listener on `window` (or `document`) that dispatches `code`.
        pub fn listen(on_document: bool, kind: &str, code: u32) -> Handle;
        /// Dispatches `code` after every `pushState`/`replaceState`.
        pub fn watch_history(code: u32) -> Handle;
        /// Undoes what `listen`, `watch_history` or `lead` registered.
        pub fn undo(handle: Handle);
        /// Dispatches `code` after `ms`.
        pub fn later(ms: u32, code: u32);
        /// POSTs `body` as `text/plain`, as [`super::send`] bits `how` say; dispatches `code`
        /// with the status (0: network error). A refusal of keepalive by the browser (its
        /// budget) is retried at once without it, never reported as a failure.
        pub fn post(url: &str, body: &str, code: u32, how: u32);
        /// `navigator.sendBeacon` (text/plain); false when the browser refused it.
        pub fn beacon(url: &str, body: &str) -> bool;
        /// Requests the Web Lock `name`: dispatches `code` with 1 once it is held, or first with
        /// 0 when another tab holds it; undo releases it (or stops waiting).
        pub fn lead(name: &str, code: u32) -> Handle;
        /// `getItem` on `localStorage` (or the in-page memory store); `None` when absent or
        /// storage is unavailable.
        pub fn get(memory: bool, key: &str) -> Option<String>;
        /// `setItem`; false when it failed (quota, disabled storage).
        pub fn put(memory: bool, key: &str, value: &str) -> bool;
        /// `removeItem`.
        pub fn del(memory: bool, key: &str);
        /// The keys starting with `prefix`, sorted, joined by `\n`.
        pub fn keys(memory: bool, prefix: &str) -> String;
        /// A random version 4 UUID from `crypto` (`randomUUID`, else `getRandomValues`: plain
        /// HTTP pages have only the latter).
        pub fn uuid() -> String;
        /// A uniformly random integer in `0..=max` from `crypto.getRandomValues`.
        pub fn random(max: u32) -> u32;
        /// `new Date(ms).toISOString()`.
        pub fn iso(ms: f64) -> String;
        /// A document fact (see [`super::fact`]).
        pub fn doc(which: u32) -> String;
        /// Describes the click being dispatched (see `capture::describe`):
        /// `{properties}\nname`, or `""`.
        pub fn describe(clicks: bool, tags: bool, max_text: usize, max_classes: u32) -> String;
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use fake::*;

/// An in-memory browser for native unit tests: storage is a map, the network and timers
/// record what was asked of them.
#[cfg(not(target_arch = "wasm32"))]
pub mod fake {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    /// A registration's number in [`Fake::live`].
    pub type Handle = u32;

    /// The fake browser's state.
    #[derive(Debug, Default)]
    pub struct Fake {
        /// `localStorage`.
        pub storage: BTreeMap<String, String>,
        /// The in-page memory store.
        pub memory: BTreeMap<String, String>,
        /// Most bytes (keys + values) storage holds; 0 for no limit. A `put` past it fails.
        pub quota: usize,
        /// Registrations not yet undone: (handle, what).
        pub live: BTreeSet<(Handle, String)>,
        /// Requests sent: (url, body, code).
        pub posts: Vec<(String, String, u32)>,
        /// How each request was sent ([`super::send`] bits), in step with `posts`.
        pub hows: Vec<u32>,
        /// Beacons sent: (url, body).
        pub beacons: Vec<(String, String)>,
        /// Beacons accepted before `sendBeacon` starts refusing.
        pub beacon_room: usize,
        /// Timers set: (ms, code).
        pub timers: Vec<(u32, u32)>,
        /// Lock requests: (name, code).
        pub locks: Vec<(String, u32)>,
        /// The clock, ms since 1970.
        pub now: f64,
        /// The random source's state.
        pub seed: u32,
        /// `doc()` answers, by [`super::fact`] index.
        pub doc: [String; 8],
        /// The click `describe()` reports.
        pub click: String,
        /// How many times a store's keys were listed (each a walk over the whole store).
        pub listings: usize,
        /// How many `localStorage` writes were made.
        pub writes: usize,
        next: Handle,
    }

    thread_local! {
        static FAKE: RefCell<Fake> = RefCell::new(Fake::default());
    }

    /// Runs `f` on the fake browser.
    pub fn with_fake<R>(f: impl FnOnce(&mut Fake) -> R) -> R {
        FAKE.with(|b| f(&mut b.borrow_mut()))
    }

    fn register(what: String) -> Handle {
        with_fake(|b| {
            b.next += 1;
            b.live.insert((b.next, what));
            b.next
        })
    }

    /// See the wasm binding of the same name.
    pub fn listen(on_document: bool, kind: &str, code: u32) -> Handle {
        let target = if on_document { "document" } else { "window" };
        register([target, ":", kind, ":", &code.to_string()].concat())
    }
    /// See the wasm binding of the same name.
    pub fn watch_history(code: u32) -> Handle {
        register(["history:", &code.to_string()].concat())
    }
    /// See the wasm binding of the same name.
    pub fn undo(handle: Handle) {
        with_fake(|b| b.live.retain(|(h, _)| *h != handle));
    }
    /// See the wasm binding of the same name.
    pub fn later(ms: u32, code: u32) {
        with_fake(|b| b.timers.push((ms, code)));
    }
    /// See the wasm binding of the same name.
    pub fn post(url: &str, body: &str, code: u32, how: u32) {
        with_fake(|b| {
            b.posts.push((url.into(), body.into(), code));
            b.hows.push(how);
        });
    }
    /// See the wasm binding of the same name.
    pub fn beacon(url: &str, body: &str) -> bool {
        with_fake(|b| {
            if b.beacon_room == 0 {
                return false;
            }
            b.beacon_room -= 1;
            b.beacons.push((url.into(), body.into()));
            true
        })
    }
    /// See the wasm binding of the same name.
    pub fn lead(name: &str, code: u32) -> Handle {
        with_fake(|b| b.locks.push((name.into(), code)));
        register(["lock:", name].concat())
    }
    fn map<R>(memory: bool, f: impl FnOnce(&mut BTreeMap<String, String>, usize) -> R) -> R {
        with_fake(|b| {
            let quota = if memory { 0 } else { b.quota };
            f(
                if memory {
                    &mut b.memory
                } else {
                    &mut b.storage
                },
                quota,
            )
        })
    }
    /// See the wasm binding of the same name.
    pub fn get(memory: bool, key: &str) -> Option<String> {
        map(memory, |m, _| m.get(key).cloned())
    }
    /// See the wasm binding of the same name; fails past [`Fake::quota`] (storage only).
    pub fn put(memory: bool, key: &str, value: &str) -> bool {
        with_fake(|b| b.writes += usize::from(!memory));
        map(memory, |m, quota| {
            let others: usize = m
                .iter()
                .filter(|(k, _)| *k != key)
                .map(|(k, v)| k.len() + v.len())
                .sum();
            if quota > 0 && others + key.len() + value.len() > quota {
                return false;
            }
            m.insert(key.into(), value.into());
            true
        })
    }
    /// See the wasm binding of the same name.
    pub fn del(memory: bool, key: &str) {
        map(memory, |m, _| m.remove(key));
    }
    /// See the wasm binding of the same name.
    pub fn keys(memory: bool, prefix: &str) -> String {
        with_fake(|b| b.listings += 1);
        map(memory, |m, _| {
            let keys: Vec<&str> = m
                .keys()
                .filter(|k| k.starts_with(prefix))
                .map(String::as_str)
                .collect();
            keys.join("\n")
        })
    }
    fn next_random() -> u32 {
        with_fake(|b| {
            let mut x = b.seed.max(1);
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b.seed = x;
            x
        })
    }
    /// See the wasm binding of the same name (a xorshift here: tests need repeatability).
    pub fn random(max: u32) -> u32 {
        next_random() % max.saturating_add(1).max(1)
    }
    /// See the wasm binding of the same name (repeatable, from the same xorshift).
    pub fn uuid() -> String {
        let hex: String = (0..4).map(|_| format!("{:08x}", next_random())).collect();
        let (a, rest) = hex.split_at(8);
        let (b, rest) = rest.split_at(4);
        let (c, rest) = rest.split_at(4);
        let (d, e) = rest.split_at(4);
        format!("{a}-{b}-4{}-8{}-{e}", &c[1..], &d[1..])
    }
    /// See the wasm binding of the same name.
    pub fn now() -> f64 {
        with_fake(|b| b.now)
    }
    /// `toISOString`: `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, years 1970–9999), so what the fake
    /// browser sends is what a real one would, and the edge's core accepts it (the wire-format
    /// contract test, `tracker/tests/contract.rs`).
    pub fn iso(ms: f64) -> String {
        let ms = ms.max(0.0) as u64;
        let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
        // Days since 1970-01-01 to a civil date (Howard Hinnant's `civil_from_days`).
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rest / 3_600_000,
            rest / 60_000 % 60,
            rest / 1_000 % 60,
            rest % 1_000
        )
    }
    /// See the wasm binding of the same name.
    pub fn doc(which: u32) -> String {
        with_fake(|b| b.doc.get(which as usize).cloned().unwrap_or_default())
    }
    /// See the wasm binding of the same name: answers [`Fake::click`] when its kind is on.
    pub fn describe(clicks: bool, tags: bool, _max_text: usize, _max_classes: u32) -> String {
        with_fake(|b| {
            let tagged = !b.click.ends_with("\nElement Clicked");
            if (tagged && tags) || (!tagged && clicks) {
                b.click.clone()
            } else {
                String::new()
            }
        })
    }
}

/// Where keys live: `localStorage`, or the host's in-page memory store (a `Map`, gone with
/// the page; used while consent is pending and in cookieless mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `localStorage`: shared by the site's tabs, kept across reloads.
    Local,
    /// This page only.
    Memory,
}

impl Store {
    fn memory(self) -> bool {
        self == Store::Memory
    }
    /// The value of `key`.
    pub fn get(self, key: &str) -> Option<String> {
        get(self.memory(), key)
    }
    /// Sets `key`; false when the store refused (quota, disabled storage).
    pub fn put(self, key: &str, value: &str) -> bool {
        put(self.memory(), key, value)
    }
    /// Removes `key`.
    pub fn del(self, key: &str) {
        del(self.memory(), key);
    }
    /// The keys starting with `prefix`, sorted, joined by `\n`.
    pub fn keys(self, prefix: &str) -> String {
        keys(self.memory(), prefix)
    }
}

/// A JS-side registration (listener, history hook, held lock), undone when dropped.
#[derive(Debug)]
pub struct Registration(Handle);

impl Registration {
    /// Takes ownership of what `listen`, `watch_history` or `lead` returned.
    pub fn new(handle: Handle) -> Registration {
        Registration(handle)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        undo(self.0);
    }
}
