//! Consent: whether events may be captured, stored and sent.
//!
//! Invariant: an explicit choice (`optIn`/`optOut`, remembered in storage) wins over a browser
//! privacy signal the site chose to honour (GPC, DNT), which wins over the configured default.
//! Only `Granted` sends; only `Granted` without cookieless mode writes storage.

/// The consent mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Capture, store and send (the default).
    Granted,
    /// Capture into memory only; nothing is stored or sent until `optIn`.
    Pending,
    /// Capture nothing.
    Denied,
}

impl Consent {
    /// Parses the config/storage spelling; anything unknown is `None`.
    pub fn parse(s: &str) -> Option<Consent> {
        match s {
            "granted" => Some(Consent::Granted),
            "pending" => Some(Consent::Pending),
            "denied" => Some(Consent::Denied),
            _ => None,
        }
    }

    /// The config/storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Granted => "granted",
            Consent::Pending => "pending",
            Consent::Denied => "denied",
        }
    }
}

/// Browser privacy signals: on in the browser (in `Config::signals`), or on and honoured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signals {
    /// `navigator.globalPrivacyControl` is on.
    pub gpc: bool,
    /// `navigator.doNotTrack` is `"1"`.
    pub dnt: bool,
}

/// The consent in force.
pub fn resolve(stored: Option<Consent>, signals: Signals, default: Consent) -> Consent {
    match stored {
        Some(choice) => choice,
        None if signals.gpc || signals.dnt => Consent::Denied,
        None => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Consent::*;

    const NONE: Signals = Signals {
        gpc: false,
        dnt: false,
    };
    const GPC: Signals = Signals {
        gpc: true,
        dnt: false,
    };
    const DNT: Signals = Signals {
        gpc: false,
        dnt: true,
    };

    #[test]
    fn default_applies_without_a_choice_or_signal() {
        for d in [Granted, Pending, Denied] {
            assert_eq!(resolve(None, NONE, d), d);
        }
    }

    #[test]
    fn an_honoured_signal_denies() {
        assert_eq!(resolve(None, GPC, Granted), Denied);
        assert_eq!(resolve(None, DNT, Pending), Denied);
    }

    #[test]
    fn an_explicit_choice_wins() {
        assert_eq!(resolve(Some(Granted), GPC, Denied), Granted);
        assert_eq!(resolve(Some(Denied), NONE, Granted), Denied);
    }

    #[test]
    fn spellings_round_trip() {
        for c in [Granted, Pending, Denied] {
            assert_eq!(Consent::parse(c.as_str()), Some(c));
        }
        assert_eq!(Consent::parse("yes"), None);
    }
}
