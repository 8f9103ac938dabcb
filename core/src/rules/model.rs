//! The rule document, as admins write it (JSON, camelCase) and as D1 stores it.
//!
//! Invariant: this is only the shape; a [`Rule`] that deserialized is not yet known to be valid.
//! [`super::compile()`] checks everything else, so nothing downstream sees an unchecked rule.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{RuleError, RuleErrorKind};
use super::MAX_DURATION_MS;

/// One trigger rule.
///
/// ```json
/// { "id": "cart-abandoned", "trigger": { "events": ["Added to Cart"] },
///   "absence": { "events": ["Order Completed"], "within": "30m" },
///   "cap": { "max": 1, "per": "1d" },
///   "actions": [ { "type": "message", "title": "Still thinking?", "body": "Your cart is waiting." } ] }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Stable id (`a-z 0-9 _ -`, at most 64 characters); the admin API's path segment.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Disabled rules are stored but never evaluated.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Which events start the rule, and the condition they must meet.
    pub trigger: Matcher,
    /// Fire when the trigger matched `count` times within `within`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Fire when the trigger was not followed by one of these events within `within`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absence: Option<Absence>,
    /// Fire when the trigger is followed by these steps, in order, within `within`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Sequence>,
    /// At most `max` firings per user per `per`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Cap>,
    /// What happens when the rule fires.
    pub actions: Vec<Action>,
}

fn enabled_default() -> bool {
    true
}

/// Events (by name) and an optional JSONLogic condition over the event.
///
/// Names are `track` event names, `$page`, `$screen`, `$identify`, `$group`, `$alias` for the
/// other message types, or `*` for any event. The condition sees the event as Segment JSON:
/// `{"var": "properties.price"}`, `{"var": "context.geo.country"}`, `{"var": "traits.plan"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Matcher {
    /// Event names; any of them matches.
    pub events: Vec<String>,
    /// JSONLogic; absent means always true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

/// "Trigger ≥ `count` times within `within`".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Window {
    /// How many matching events are needed (2 or more).
    pub count: u32,
    /// How close together they must be.
    pub within: Duration,
}

/// "Trigger, then none of `events` within `within`".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Absence {
    /// The cancelling events; any of them (meeting `condition`) cancels.
    pub events: Vec<String>,
    /// JSONLogic over the cancelling event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
    /// How long to wait after the (latest) trigger before firing.
    pub within: Duration,
}

/// "Trigger, then each of `then` in order, all within `within` of the trigger".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sequence {
    /// The steps after the trigger.
    pub then: Vec<Matcher>,
    /// Longest time from the trigger to the last step.
    pub within: Duration,
}

/// A frequency cap per user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cap {
    /// Most firings in any `per` period.
    pub max: u32,
    /// The period.
    pub per: Duration,
}

/// What a firing does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Action {
    /// POST a signed JSON payload (retried through a queue, dead-lettered after the last try).
    Webhook {
        /// `http` or `https` URL.
        url: String,
    },
    /// Show an in-app message to the user, through the tracker that sent the event.
    Message {
        /// Short title.
        title: String,
        /// Body text.
        body: String,
        /// Optional link (`http(s)` URL or a path starting with `/`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Send the triggering event to a named queue binding.
    Forward {
        /// The queue binding's name (e.g. `FORWARD_QUEUE`).
        queue: String,
    },
    /// A Web Push notification to every device the person subscribed (`POST
    /// /v1/push/subscriptions`), encrypted and VAPID-signed, through the actions queue.
    Push {
        /// Notification title.
        title: String,
        /// Notification body.
        body: String,
        /// Opened on click (`http(s)` URL or a path starting with `/`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// How long the push service keeps it for an offline device (default `1d`, at most `28d`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<Duration>,
        /// RFC 8030 urgency: `very-low`, `low`, `normal` (default), `high`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        urgency: Option<crate::push::Urgency>,
        /// RFC 8030 topic: a newer message with the same topic replaces an undelivered one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// An email through the deployment's provider (or `send_email` binding), through the
    /// actions queue. Every field is a minijinja template over `event`, `traits`, `vars`,
    /// `user` (see `crate::email`); `html` is HTML-escaped. Suppressed addresses are skipped.
    Email(EmailAction),
}

/// An `email` action (rules and journey action nodes):
///
/// ```json
/// { "type": "email", "subject": "Your cart, {{ traits.name }}",
///   "html": "<p>Hi {{ traits.name }}, {{ event.properties.product }} is waiting.</p>",
///   "text": "Hi {{ traits.name }}", "to": "{{ traits.email }}", "from": "Shop <shop@example.com>" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailAction {
    /// Recipient template; `{{ traits.email }}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Subject template.
    pub subject: String,
    /// HTML body template (auto-escaped). At least one of `html` and `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Plain-text body template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Sender (`addr` or `Name <addr>`, may be a template); `EMAIL_FROM` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl EmailAction {
    /// Its templates, with the default recipient filled in.
    pub fn templates(&self) -> crate::email::Templates<'_> {
        crate::email::Templates {
            to: self.to.as_deref().unwrap_or(crate::email::DEFAULT_TO),
            subject: &self.subject,
            html: self.html.as_deref(),
            text: self.text.as_deref(),
            from: self.from.as_deref(),
        }
    }
}

impl Action {
    /// The action's `type` as written.
    pub const fn kind(&self) -> &'static str {
        match self {
            Action::Webhook { .. } => "webhook",
            Action::Message { .. } => "message",
            Action::Forward { .. } => "forward",
            Action::Push { .. } => "push",
            Action::Email(_) => "email",
        }
    }
}

/// A span of time written `<digits><unit>` with unit `ms`, `s`, `m`, `h` or `d` (`"30m"`, `"7d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    ms: u64,
}

impl Duration {
    /// A duration of `ms` milliseconds.
    pub const fn from_ms(ms: u64) -> Self {
        Duration { ms }
    }

    /// Milliseconds.
    pub const fn as_ms(self) -> u64 {
        self.ms
    }

    /// Milliseconds as the signed type timestamps use (saturating; durations are bounded anyway).
    pub fn as_ms_i64(self) -> i64 {
        i64::try_from(self.ms).unwrap_or(i64::MAX)
    }

    /// Parses `"30m"`-style text. Only the grammar is checked here; ranges are checked on compile.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let bad = || {
            RuleError::new(
                RuleErrorKind::InvalidDuration,
                "",
                format!("{text:?} is not a duration; write e.g. \"500ms\", \"30s\", \"15m\", \"2h\", \"7d\""),
            )
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = text.split_at(split);
        if digits.is_empty() || digits.len() > 12 {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let per = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let ms = n.checked_mul(per).filter(|ms| *ms <= MAX_DURATION_MS);
        ms.map(Duration::from_ms).ok_or_else(|| {
            RuleError::new(
                RuleErrorKind::InvalidDuration,
                "",
                format!("{text:?} is longer than the 366 days a rule may span"),
            )
        })
    }
}

impl std::fmt::Display for Duration {
    /// The largest unit that divides evenly, so `"90m"` prints as `"90m"` and `"120m"` as `"2h"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.ms;
        for (unit, per) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms != 0 && ms.is_multiple_of(per) {
                return write!(f, "{}{unit}", ms / per);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(|e| serde::de::Error::custom(e.detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        for (text, ms, shown) in [
            ("500ms", 500, "500ms"),
            ("2s", 2_000, "2s"),
            ("90m", 5_400_000, "90m"),
            ("120m", 7_200_000, "2h"),
            ("7d", 604_800_000, "7d"),
            ("1500ms", 1_500, "1500ms"),
        ] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(d.as_ms(), ms, "{text}");
            assert_eq!(d.to_string(), shown);
        }
        for bad in [
            "",
            "m",
            "10",
            "10 m",
            "-1s",
            "1.5h",
            "10w",
            "367d",
            "9999999999999d",
        ] {
            let e = Duration::parse(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_duration", "{bad}");
        }
        assert!(Duration::parse("366d").is_ok());
    }

    #[test]
    fn a_rule_round_trips_through_json() {
        let text = r#"{"id":"r1","trigger":{"events":["A"],"condition":{"==":[{"var":"properties.x"},1]}},
            "window":{"count":3,"within":"7d"},"cap":{"max":1,"per":"1d"},
            "actions":[{"type":"webhook","url":"https://example.com/h"},{"type":"message","title":"t","body":"b"},
                       {"type":"forward","queue":"FORWARD_QUEUE"}]}"#;
        let rule: Rule = serde_json::from_str(text).unwrap();
        assert!(rule.enabled);
        let again: Rule = serde_json::from_str(&serde_json::to_string(&rule).unwrap()).unwrap();
        assert_eq!(rule, again);
        assert_eq!(rule.actions[2].kind(), "forward");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<Rule>(
            r#"{"id":"r","trigger":{"events":["A"]},"actions":[],"windw":{}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("windw"), "{e}");
    }
}
