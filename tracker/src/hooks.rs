//! The browser events the tracker listens to.
//!
//! Invariant: every listener and the history hook are owned by one [`Hooks`]; dropping it
//! (on opt-out) removes them all, so a denied tracker leaves nothing running on the page.

use crate::config::Config;
use crate::host::{code, listen, watch_history, Registration};

/// The installed listeners.
#[derive(Debug)]
pub struct Hooks {
    _registrations: Vec<Registration>,
}

impl Hooks {
    /// Installs delivery's lifecycle listeners and the autocapture the config asks for.
    pub fn install(config: &Config) -> Hooks {
        let mut r = Vec::new();
        let mut on = |on_document, kind, code| {
            r.push(Registration::new(listen(on_document, kind, code)));
        };
        on(false, "pagehide", code::HIDE);
        on(false, "pageshow", code::SHOW);
        on(true, "visibilitychange", code::VISIBILITY);
        on(false, "storage", code::STORAGE);
        on(false, "online", code::ONLINE);
        if config.pageviews {
            on(false, "popstate", code::NAV);
            on(false, "hashchange", code::NAV);
        }
        if config.clicks || config.tags {
            on(true, "click", code::CLICK);
        }
        if config.pageviews {
            r.push(Registration::new(watch_history(code::NAV)));
        }
        Hooks { _registrations: r }
    }
}
