//! The tracker: identity, sessions, consent and capture. API calls and browser events become
//! Segment messages on the queue; `delivery.rs` sends them.
//!
//! Invariant: a message gets its `messageId`, `timestamp` and context once, at capture, and
//! is never rebuilt, so every retry is the same event to the edge. Nothing is written to
//! storage unless consent is granted and cookieless mode is off; nothing is captured when
//! consent is denied.

use crate::config::Config;
use crate::consent::{self, Consent, Signals};
use crate::delivery::Delivery;
use crate::hooks::Hooks;
use crate::host::{self, code, fact, Store};
use crate::json::Obj;
use crate::limits::{MAX_EVENT_BYTES, SESSION_SAVE_MS};
use crate::queue::{self, Queue};
use crate::session::Session;

/// Storage key of the anonymous id.
pub const AID_KEY: &str = "spur.aid";
/// Storage key of the user id.
pub const UID_KEY: &str = "spur.uid";
/// Storage key of the session (`id.lastActivity`).
pub const SID_KEY: &str = "spur.sid";
/// Storage key of an explicit consent choice.
pub const CONSENT_KEY: &str = "spur.consent";
/// `context.library`.
const LIBRARY: &str = concat!(
    "{\"name\":\"spur.js\",\"version\":\"",
    env!("CARGO_PKG_VERSION"),
    "\"}"
);
/// The event that reports dropped events.
pub const DROPPED_EVENT: &str = "Spur Events Dropped";

/// The tracker's state.
#[derive(Debug)]
pub struct Tracker {
    pub(crate) config: Config,
    pub(crate) consent: Consent,
    pub(crate) queue: Queue,
    pub(crate) delivery: Delivery,
    anonymous_id: String,
    user_id: String,
    session: Option<Session>,
    /// URL of the latest page view, for "never the same URL twice in a row".
    last_url: String,
    /// `context.page.referrer`: `document.referrer`, then the previous page view's URL.
    referrer: String,
    seq: u32,
    /// The latest activity last written to storage.
    session_saved: u64,
    /// The constant members of `context` (userAgent, locale, timezone, screen).
    facts: String,
    hooks: Option<Hooks>,
}

impl Tracker {
    /// A tracker for `config`, with identity and consent read from storage.
    pub fn new(config: Config) -> Tracker {
        let stored = Store::Local
            .get(CONSENT_KEY)
            .and_then(|c| Consent::parse(&c));
        let signals = Signals {
            gpc: config.gpc && config.signals.gpc,
            dnt: config.dnt && config.signals.dnt,
        };
        let consent = consent::resolve(stored, signals, config.consent);
        let mut t = Tracker {
            delivery: Delivery::new(&config.endpoint, &config.write_key),
            consent,
            queue: Queue::new(Store::Memory),
            anonymous_id: String::new(),
            user_id: String::new(),
            session: None,
            last_url: String::new(),
            referrer: host::doc(fact::REFERRER),
            seq: 0,
            session_saved: 0,
            facts: host::doc(fact::FACTS),
            hooks: None,
            config,
        };
        if !t.config.cookieless {
            t.anonymous_id = Store::Local.get(AID_KEY).unwrap_or_default();
            t.user_id = Store::Local.get(UID_KEY).unwrap_or_default();
            t.session = Store::Local.get(SID_KEY).and_then(|s| Session::decode(&s));
        }
        if t.anonymous_id.is_empty() {
            t.anonymous_id = host::uuid();
        }
        if t.persistent() && t.save_identity() {
            t.queue = Queue::new(Store::Local);
        }
        if consent != Consent::Denied {
            t.hooks = Some(Hooks::install(&t.config));
        }
        t
    }

    /// Whether storage may be written: consent granted and not cookieless.
    pub(crate) fn persistent(&self) -> bool {
        self.consent == Consent::Granted && !self.config.cookieless
    }

    /// Writes the identity to storage; false when storage refuses writes (disabled, a
    /// sandboxed frame, full): the queue then stays in memory rather than losing events.
    fn save_identity(&self) -> bool {
        if self.user_id.is_empty() {
            Store::Local.del(UID_KEY);
        } else {
            Store::Local.put(UID_KEY, &self.user_id);
        }
        Store::Local.put(AID_KEY, &self.anonymous_id)
    }

    /// After the snippet's queued calls were replayed: the initial page view (unless one was
    /// just recorded for this URL), then delivery starts.
    pub fn ready(&mut self) {
        if self.config.pageviews {
            self.auto_page();
        }
        self.start_sending();
    }

    /// Records a custom event (Segment `track`).
    pub fn track(&mut self, event: &str, properties: &str) {
        if event.is_empty() {
            return;
        }
        let mut m = Obj::new();
        m.str("type", "track")
            .str("event", event)
            .raw("properties", object_or_empty(properties));
        let user = self.user_id.clone();
        self.capture(m, &user);
    }

    /// Records a page view (Segment `page`); `properties` extend the page facts.
    pub fn page(&mut self, name: &str, properties: &str) {
        let url = host::doc(fact::HREF);
        if url != self.last_url {
            if !self.last_url.is_empty() {
                self.referrer = std::mem::take(&mut self.last_url);
            }
            self.last_url = url;
        }
        let mut props = self.page_facts();
        props.splice(object_or_empty(properties));
        let mut m = Obj::new();
        m.str("type", "page")
            .str_opt("name", name)
            .raw("properties", &props.finish());
        let user = self.user_id.clone();
        self.capture(m, &user);
    }

    /// A page view from autocapture: skipped when the URL is the latest page view's.
    pub fn auto_page(&mut self) {
        if host::doc(fact::HREF) != self.last_url {
            self.page("", "{}");
        }
    }

    /// Sets the user id (when given) and records an `identify` with `traits`.
    pub fn identify(&mut self, user_id: &str, traits: &str) {
        if self.consent == Consent::Denied {
            return;
        }
        if !user_id.is_empty() && user_id != self.user_id {
            self.user_id = user_id.into();
            if self.persistent() {
                Store::Local.put(UID_KEY, user_id);
            }
        }
        let mut m = Obj::new();
        m.str("type", "identify")
            .raw("traits", object_or_empty(traits));
        let user = self.user_id.clone();
        self.capture(m, &user);
    }

    /// Links `user_id` to `previous_id` (by default the current user id, else the anonymous id).
    pub fn alias(&mut self, user_id: &str, previous_id: &str) {
        let previous = [previous_id, &self.user_id, &self.anonymous_id]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or_default()
            .to_owned();
        if user_id.is_empty() {
            return;
        }
        let mut m = Obj::new();
        m.str("type", "alias").str("previousId", &previous);
        self.capture(m, user_id);
    }

    /// Associates the user with a group (Segment `group`).
    pub fn group(&mut self, group_id: &str, traits: &str) {
        if group_id.is_empty() {
            return;
        }
        let mut m = Obj::new();
        m.str("type", "group")
            .str("groupId", group_id)
            .raw("traits", object_or_empty(traits));
        let user = self.user_id.clone();
        self.capture(m, &user);
    }

    /// Forgets the user: no user id, a new anonymous id and a new session.
    pub fn reset(&mut self) {
        self.user_id.clear();
        self.anonymous_id = host::uuid();
        self.session = None;
        if self.persistent() {
            let _ = self.save_identity();
            Store::Local.del(SID_KEY);
        }
    }

    /// A click, as the capture-phase listener saw it.
    pub fn click(&mut self) {
        if let Some((name, props)) = crate::capture::describe(self.config.clicks, self.config.tags)
        {
            self.track(&name, &props);
        }
    }

    /// The visitor consents: storage may be written and events sent, including those held.
    pub fn opt_in(&mut self) {
        self.consent = Consent::Granted;
        if !self.config.cookieless {
            Store::Local.put(CONSENT_KEY, Consent::Granted.as_str());
            if let Some(s) = self.session {
                Store::Local.put(SID_KEY, &s.encode());
            }
            if self.save_identity() {
                self.queue.move_to(Store::Local);
            }
        }
        if self.hooks.is_none() {
            self.hooks = Some(Hooks::install(&self.config));
        }
        self.start_sending();
    }

    /// The visitor refuses: listeners are removed, queued events and stored identifiers are
    /// deleted, nothing more is captured. The refusal itself is remembered (unless cookieless).
    pub fn opt_out(&mut self) {
        self.consent = Consent::Denied;
        self.hooks = None;
        self.stop_sending();
        self.queue.clear();
        self.queue = Queue::new(Store::Memory);
        for key in [AID_KEY, UID_KEY, SID_KEY] {
            Store::Local.del(key);
        }
        if !self.config.cookieless {
            Store::Local.put(CONSENT_KEY, Consent::Denied.as_str());
        }
    }

    /// Another tab wrote storage: follow its consent choice, and send what it queued.
    pub fn on_storage(&mut self) {
        // Only mark the index: a burst in another tab sends one storage event per write, and
        // reading the keys at each would make this tab's work quadratic.
        self.queue.stale();
        match Store::Local
            .get(CONSENT_KEY)
            .and_then(|c| Consent::parse(&c))
        {
            Some(Consent::Denied) if self.consent != Consent::Denied => self.opt_out(),
            Some(Consent::Granted) if self.consent == Consent::Pending => self.opt_in(),
            _ => {}
        }
        self.others_captured();
    }

    /// A bfcache restore: a new page view of the same URL, and this tab may send again.
    pub fn on_restore(&mut self) {
        // Storage events are not delivered to a page in the bfcache.
        self.queue.stale();
        self.last_url.clear();
        if self.config.pageviews {
            self.auto_page();
        }
        self.start_sending();
    }

    fn page_facts(&self) -> Obj {
        let mut o = Obj::new();
        o.str("path", &host::doc(fact::PATH))
            .str("referrer", &self.referrer)
            .str("search", &host::doc(fact::SEARCH))
            .str("title", &host::doc(fact::TITLE))
            .str("url", &host::doc(fact::HREF));
        o
    }

    fn context(&self, session: &Session) -> String {
        let mut c = Obj::new();
        c.raw("library", LIBRARY)
            .raw("page", &self.page_facts().finish());
        let campaign = host::doc(fact::CAMPAIGN);
        if !campaign.is_empty() {
            c.raw("campaign", &campaign);
        }
        c.num("sessionId", session.id).splice(&self.facts);
        c.finish()
    }

    /// Stamps the message `m` (its type-specific members written) and queues it.
    fn capture(&mut self, mut m: Obj, user_id: &str) {
        if self.consent == Consent::Denied {
            return;
        }
        let now = host::now();
        let session = Session::touch(self.session, now);
        let new = self.session.map(|s| s.id) != Some(session.id);
        self.session = Some(session);
        // A storage write costs more than the rest of a call: the latest activity is saved
        // at most once a second (and at pagehide), a new session at once.
        if new || session.last.abs_diff(self.session_saved) >= SESSION_SAVE_MS {
            self.save_session();
        }
        let message_id = host::uuid();
        m.str("messageId", &message_id)
            .str("timestamp", &host::iso(now))
            .str("anonymousId", &self.anonymous_id)
            .str_opt("userId", user_id)
            .raw("context", &self.context(&session));
        let json = m.finish();
        if json.len() > MAX_EVENT_BYTES {
            // The edge would reject it; dropping it here keeps it out of every batch.
            self.queue.count_dropped(1);
            return;
        }
        self.seq = self.seq.wrapping_add(1);
        let key = queue::new_key(now, self.seq, &message_id);
        #[cfg(all(feature = "debug", target_arch = "wasm32"))]
        crate::devmode::queued(&json);
        if self.queue.push(&key, &json, &self.delivery.in_flight) {
            host::later(0, code::PERSIST);
        }
        self.captured();
    }

    /// Writes the session to storage (when it may be written).
    pub(crate) fn save_session(&mut self) {
        if let Some(s) = self.session.filter(|_| self.persistent()) {
            Store::Local.put(SID_KEY, &s.encode());
            self.session_saved = s.last;
        }
    }

    /// Reports events dropped since the last report, as an event of their own.
    pub(crate) fn report_dropped(&mut self) {
        let n = self.queue.take_dropped();
        if n > 0 {
            let mut props = Obj::new();
            props.num("count", u64::from(n));
            self.track(DROPPED_EVENT, &props.finish());
        }
    }
}

/// `json` when it is a JSON object (the loader passes `JSON.stringify` of plain objects), else
/// `{}`: a bad value from a direct caller must not corrupt the message around it.
fn object_or_empty(json: &str) -> &str {
    if json.starts_with("{") && json.ends_with("}") {
        json
    } else {
        "{}"
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "tracker_tests.rs"]
mod tests;
