//! The snippet's options, as the tracker reads them once at start.
//!
//! Invariant: nothing here changes after `start`; the modules that act on the options
//! (`tracker`, `hooks`) read them from here, so none of them depends on another for them.

use crate::consent::{Consent, Signals};

/// The snippet's options, read once at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The edge's origin (`""` for this page's origin).
    pub endpoint: String,
    /// Sent as `writeKey` in every batch body.
    pub write_key: String,
    /// The consent mode when the visitor made no choice yet.
    pub consent: Consent,
    /// Keep identifiers and the queue in memory only; never write storage.
    pub cookieless: bool,
    /// Capture page views (load, history changes, bfcache restores).
    pub pageviews: bool,
    /// Capture clicks on interactive elements as `Element Clicked`.
    pub clicks: bool,
    /// Capture clicks on `[data-spur-event]` elements as the named event.
    pub tags: bool,
    /// Honour `navigator.globalPrivacyControl` (deny unless the visitor opts in).
    pub gpc: bool,
    /// Honour `navigator.doNotTrack` (deny unless the visitor opts in).
    pub dnt: bool,
    /// The privacy signals the browser sends (whether honoured or not).
    pub signals: Signals,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            endpoint: String::new(),
            write_key: String::new(),
            consent: Consent::Granted,
            cookieless: false,
            pageviews: true,
            clicks: true,
            tags: true,
            gpc: true,
            dnt: false,
            signals: Signals::default(),
        }
    }
}
