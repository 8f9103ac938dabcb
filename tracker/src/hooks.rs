//! The browser events the tracker listens to.
//!
//! Invariant: every listener and the history hook are owned by one [`Hooks`]; dropping it
//! (on opt-out) removes them all, so a denied tracker leaves nothing running on the page.

use crate::host::{code, listen, watch_history, Registration};
use crate::tracker::Config;

/// The installed listeners.
#[derive(Debug)]
pub struct Hooks {
    _registrations: Vec<Registration>,
}

impl Hooks {
    /// Installs delivery's lifecycle listeners and the autocapture the config asks for.
    pub fn install(config: &Config) -> Hooks {
        let mut r = vec![
            listen(false, "pagehide", code::HIDE),
            listen(false, "pageshow", code::SHOW),
            listen(true, "visibilitychange", code::VISIBILITY),
            listen(false, "storage", code::STORAGE),
            listen(false, "online", code::ONLINE),
        ];
        if config.pageviews {
            r.push(listen(false, "popstate", code::NAV));
            r.push(listen(false, "hashchange", code::NAV));
            r.push(watch_history(code::NAV));
        }
        if config.clicks || config.tags {
            r.push(listen(true, "click", code::CLICK));
        }
        Hooks {
            _registrations: r.into_iter().map(Registration::new).collect(),
        }
    }
}
