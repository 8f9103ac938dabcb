//! Email: an action's templates rendered over the event, the person's traits and journey
//! variables; the provider request; what a provider's answer means; the campaign events a
//! send leaves behind; the signed one-click unsubscribe token ([`token`]).
//!
//! Invariant: everything here is pure — rendering happens once, when a firing or journey step
//! is prepared, so every retry sends the same bytes; `html` is rendered with HTML
//! auto-escaping (a `<` in a trait arrives as `&lt;`), subject/text/to without; a rendered
//! email that leaves this module has one valid recipient address and no CR/LF in its subject,
//! so no template can inject a header.
//!
//! Size: minijinja 3.1 with only `fuel` (no `builtins`, `serde`, `debug`, `macros`,
//! `multi_template`, …) plus this module, the email routes and delivery grew the release
//! Worker from 1,137,110 to 1,264,468 bytes gzip -9 (+127.4 KB; with `builtins` it was
//! +201.7 KB), measured in one session on the same base (issue 12; README "Email").

pub mod token;

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::limits::{
    EMAIL_TEMPLATE_FUEL, MAX_EMAIL_ADDRESS_CHARS, MAX_EMAIL_BODY_BYTES, MAX_EMAIL_SUBJECT_CHARS,
    MAX_EMAIL_TEMPLATE_CHARS,
};
use crate::Event;

/// The `to` template when an action names none: the person's `email` trait.
pub const DEFAULT_TO: &str = "{{ traits.email }}";
/// The channel name campaign events carry.
pub const CHANNEL: &str = "email";
/// The channel name push's campaign events carry (the Worker's and `spur-sw.js`'s alike).
pub const PUSH_CHANNEL: &str = "push";
/// The event recorded when a provider (or the `send_email` binding) accepted an email.
pub const SENT_EVENT: &str = "$message_sent";
/// The event recorded when an email was not sent (failed, bounced, suppressed, undeliverable).
pub const FAILED_EVENT: &str = "$message_failed";
/// The campaign event stored when the provider (or the `send_email` binding) accepted the
/// email; recorded with `$message_sent`, under its own `messageId`.
pub const DELIVERED_EVENT: &str = "$message_delivered";

/// Why an email could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// A template does not parse (or is too long).
    #[error("{field}: {detail}")]
    InvalidTemplate {
        /// `subject`, `html`, `text`, `to` or `from`.
        field: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// A template failed while rendering (an error in a filter, out of fuel).
    #[error("{field} failed to render: {detail}")]
    Render {
        /// Which field.
        field: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The `to` template rendered empty (the person has no `email` trait).
    #[error("the email has no recipient (the `to` template rendered empty)")]
    NoRecipient,
    /// The `to` (or `from`) did not render to one valid address.
    #[error("{0:?} is not an email address")]
    InvalidAddress(String),
    /// A rendered body exceeds [`MAX_EMAIL_BODY_BYTES`].
    #[error("the rendered {0} exceeds {MAX_EMAIL_BODY_BYTES} bytes")]
    TooLarge(&'static str),
}

impl EmailError {
    /// Stable reason code.
    pub const fn code(&self) -> &'static str {
        match self {
            EmailError::InvalidTemplate { .. } => "invalid_template",
            EmailError::Render { .. } => "template_render_failed",
            EmailError::NoRecipient => "no_recipient",
            EmailError::InvalidAddress(_) => "invalid_email_address",
            EmailError::TooLarge(_) => "email_too_large",
        }
    }
}

/// An email action's templates (as written in a rule or journey).
#[derive(Debug, Clone, Copy)]
pub struct Templates<'a> {
    /// Recipient template ([`DEFAULT_TO`] when the action has none).
    pub to: &'a str,
    /// Subject template.
    pub subject: &'a str,
    /// HTML body template (auto-escaped).
    pub html: Option<&'a str>,
    /// Plain-text body template.
    pub text: Option<&'a str>,
    /// Sender template (the deployment's `EMAIL_FROM` when absent).
    pub from: Option<&'a str>,
}

impl Templates<'_> {
    fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("to", Some(self.to)),
            ("subject", Some(self.subject)),
            ("html", self.html),
            ("text", self.text),
            ("from", self.from),
        ]
        .into_iter()
        .filter_map(|(f, s)| s.map(|s| (f, s)))
    }

    /// Checks every template parses (on save), and the shape: a subject, and html or text.
    pub fn check(&self) -> Result<(), EmailError> {
        let env = environment();
        for (field, source) in self.fields() {
            if source.chars().count() > MAX_EMAIL_TEMPLATE_CHARS {
                return Err(EmailError::InvalidTemplate {
                    field,
                    detail: format!("longer than {MAX_EMAIL_TEMPLATE_CHARS} characters"),
                });
            }
            env.template_from_str(source)
                .map_err(|e| EmailError::InvalidTemplate {
                    field,
                    detail: e.to_string(),
                })?;
        }
        if self.subject.trim().is_empty() {
            return Err(EmailError::InvalidTemplate {
                field: "subject",
                detail: "an email needs a subject".into(),
            });
        }
        if self.html.is_none_or(|h| h.trim().is_empty())
            && self.text.is_none_or(|t| t.trim().is_empty())
        {
            return Err(EmailError::InvalidTemplate {
                field: "html",
                detail: "an email needs an html or a text body".into(),
            });
        }
        if let Some(from) = self.from.filter(|f| !f.contains("{{")) {
            sender_address(from).ok_or_else(|| EmailError::InvalidAddress(from.to_owned()))?;
        }
        Ok(())
    }

    /// Renders every field over `ctx` (see [`rule_context`] and [`journey_context`]).
    pub fn render(&self, ctx: &Value) -> Result<Rendered, EmailError> {
        let env = environment();
        let value = template_value(ctx);
        let one = |field: &'static str, source: &str| -> Result<String, EmailError> {
            let mut env = env.clone();
            if field == "html" {
                env.set_auto_escape_callback(|_| AutoEscape::Html);
            }
            let render_err = |e: minijinja::Error| EmailError::Render {
                field,
                detail: e.to_string(),
            };
            env.template_from_str(source)
                .map_err(render_err)?
                .render(value.clone())
                .map_err(render_err)
        };
        let to = one("to", self.to)?;
        let to = to.trim();
        if to.is_empty() {
            return Err(EmailError::NoRecipient);
        }
        let to = address(to).ok_or_else(|| EmailError::InvalidAddress(to.to_owned()))?;
        let subject: String = one("subject", self.subject)?
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_EMAIL_SUBJECT_CHARS)
            .collect();
        let body = |field: &'static str, source: Option<&str>| -> Result<_, EmailError> {
            let Some(source) = source else {
                return Ok(None);
            };
            let out = one(field, source)?;
            if out.len() > MAX_EMAIL_BODY_BYTES {
                return Err(EmailError::TooLarge(field));
            }
            Ok(Some(out))
        };
        let html = body("html", self.html)?;
        let text = body("text", self.text)?;
        let total = subject.len()
            + html.as_ref().map_or(0, String::len)
            + text.as_ref().map_or(0, String::len);
        if total > MAX_EMAIL_BODY_BYTES {
            return Err(EmailError::TooLarge("email"));
        }
        let from = match self.from {
            Some(f) => {
                let f = one("from", f)?;
                let f = f.trim();
                sender_address(f).ok_or_else(|| EmailError::InvalidAddress(f.to_owned()))?;
                Some(f.to_owned())
            }
            None => None,
        };
        Ok(Rendered {
            to,
            subject: subject.trim().to_owned(),
            html,
            text,
            from,
        })
    }
}

/// The template environment: the `default` filter, a bounded amount of work per render,
/// undefined values print empty and chain (`traits.missing.x` is empty, not an error).
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(EMAIL_TEMPLATE_FUEL));
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("default", default_filter);
    env
}

/// `{{ x | default("fallback") }}`: the fallback when `x` is undefined, null or empty text.
/// (minijinja's own filter library, its `builtins` feature, costs too much Worker size.)
fn default_filter(value: minijinja::Value, fallback: Option<minijinja::Value>) -> minijinja::Value {
    let empty = value.is_undefined() || value.is_none() || value.as_str() == Some("");
    match (empty, fallback) {
        (true, Some(f)) => f,
        (true, None) => minijinja::Value::from(""),
        (false, _) => value,
    }
}

/// JSON as a template value (without minijinja's `serde` feature, which costs Worker size):
/// `null` is undefined, so it prints empty and `default` applies.
fn template_value(v: &Value) -> minijinja::Value {
    use minijinja::Value as T;
    match v {
        Value::Null => T::UNDEFINED,
        Value::Bool(b) => T::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => T::from(i),
            (None, Some(u)) => T::from(u),
            _ => T::from(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => T::from(s.as_str()),
        Value::Array(a) => a.iter().map(template_value).collect(),
        Value::Object(m) => T::from_pairs(m.iter().map(|(k, v)| (k.as_str(), template_value(v)))),
    }
}

/// A rendered email, ready for the actions queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// The recipient (one checked address).
    pub to: String,
    /// The subject (no control characters).
    pub subject: String,
    /// HTML body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Sender (`addr` or `Name <addr>`); the deployment's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Rendered {
    /// Bytes it takes in a queue message (roughly: its text fields).
    pub fn size(&self) -> usize {
        self.to.len()
            + self.subject.len()
            + self.html.as_ref().map_or(0, String::len)
            + self.text.as_ref().map_or(0, String::len)
            + self.from.as_ref().map_or(0, String::len)
    }
}

/// `addr` trimmed, when it is one plausible address: `local@domain.tld`, at most
/// [`MAX_EMAIL_ADDRESS_CHARS`], no whitespace, control characters, or `<>(),;:"[]\`.
pub fn address(addr: &str) -> Option<String> {
    let addr = addr.trim();
    let (local, domain) = addr.split_once('@')?;
    let ok = addr.chars().count() <= MAX_EMAIL_ADDRESS_CHARS
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && addr
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>(),;:\"[]\\".contains(c));
    ok.then(|| addr.to_owned())
}

/// The address of a sender written `addr` or `Display Name <addr>`.
pub fn sender_address(from: &str) -> Option<String> {
    let from = from.trim();
    if from.chars().any(char::is_control) {
        return None;
    }
    match from.rfind('<') {
        Some(open) if from.ends_with('>') => address(from.get(open + 1..from.len() - 1)?),
        Some(_) => None,
        None => address(from),
    }
}

/// The key the suppression list uses for an address: trimmed and lower-cased.
pub fn suppression_key(addr: &str) -> String {
    addr.trim().to_lowercase()
}

/// What templates of a rule's email see: `event` (the Segment JSON of the completing event),
/// `traits` (the event's `context.traits`, overlaid by its own `traits` — an identify's), `user`
/// (the id firings are recorded under), `rule` (`id`, `name`) and an empty `vars`.
pub fn rule_context(event: Option<&Event>, user: &str, rule: &str, name: Option<&str>) -> Value {
    let mut traits = Map::new();
    if let Some(e) = event {
        if let Some(Value::Object(t)) = e.context.get("traits") {
            traits.extend(t.clone());
        }
        traits.extend(e.traits.clone());
    }
    json!({
        "event": event.and_then(|e| serde_json::to_value(e).ok()).unwrap_or(Value::Null),
        "traits": traits,
        "user": user,
        "rule": { "id": rule, "name": name },
        "vars": {},
    })
}

/// What templates of a journey step's email see: `event` (the latest waking event, else the
/// trigger), `trigger`, `traits` (the person's profile traits as journeys keep them: identify
/// traits and set-traits actions), `vars` (the run's variables), `user` and `journey` (`id`,
/// `node`, `run`).
pub fn journey_context(
    event: &Value,
    trigger: &Value,
    traits: &Map<String, Value>,
    vars: &Value,
    user: &str,
    journey: (&str, &str, u64),
) -> Value {
    let mut all = Map::new();
    if let Some(Value::Object(t)) = trigger.get("context").and_then(|c| c.get("traits")) {
        all.extend(t.clone());
    }
    all.extend(traits.clone());
    json!({
        "event": event,
        "trigger": trigger,
        "traits": all,
        "vars": vars,
        "user": user,
        "journey": { "id": journey.0, "node": journey.1, "run": journey.2 },
    })
}

/// The JSON body POSTed to an email provider's HTTP API (`EMAIL_PROVIDER_URL`), with
/// `Authorization: Bearer <EMAIL_PROVIDER_KEY>` and `Idempotency-Key: <action id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRequest {
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// HTML body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Extra headers: `List-Unsubscribe`, `List-Unsubscribe-Post`, `X-Spur-Message`.
    pub headers: BTreeMap<String, String>,
}

impl ProviderRequest {
    /// The request for a rendered email with its unsubscribe link and message id.
    pub fn new(email: &Rendered, default_from: &str, unsubscribe_url: &str, id: &str) -> Self {
        let mut headers = BTreeMap::new();
        headers.insert("List-Unsubscribe".into(), format!("<{unsubscribe_url}>"));
        headers.insert(
            "List-Unsubscribe-Post".into(),
            "List-Unsubscribe=One-Click".into(),
        );
        headers.insert("X-Spur-Message".into(), id.to_owned());
        ProviderRequest {
            from: email
                .from
                .clone()
                .unwrap_or_else(|| default_from.to_owned()),
            to: email.to.clone(),
            subject: email.subject.clone(),
            html: email.html.clone(),
            text: email.text.clone(),
            headers,
        }
    }
}

/// What a provider's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: accepted.
    Sent,
    /// 408, 429, 5xx or no answer: try again later (the actions queue's backoff).
    Retry,
    /// A 4xx whose body names the address as undeliverable (see [`HARD_BOUNCE_MARKERS`]):
    /// the address goes on the suppression list.
    HardBounce,
    /// Any other answer: our request is wrong (key, sender, body); retrying will not help.
    Rejected,
}

/// Words in a 4xx answer's body (case-insensitive) that mark a hard bounce: the provider says
/// the recipient address itself is invalid or does not exist. The common providers' error
/// codes use one of these (`invalid_address`, `hard_bounce`, SMTP `5.1.1`, `user unknown`).
pub const HARD_BOUNCE_MARKERS: [&str; 9] = [
    "hard_bounce",
    "hard bounce",
    "invalid_address",
    "invalid_recipient",
    "invalid recipient",
    "mailbox_not_found",
    "no such user",
    "user unknown",
    "5.1.1",
];

impl Answer {
    /// Classifies a provider's HTTP status and (the start of) its body.
    pub fn classify(status: u16, body: &str) -> Self {
        match status {
            200..=299 => Answer::Sent,
            408 | 429 | 500..=599 => Answer::Retry,
            400..=499 => {
                let lower = body.to_ascii_lowercase();
                if HARD_BOUNCE_MARKERS.iter().any(|m| lower.contains(m)) {
                    Answer::HardBounce
                } else {
                    Answer::Rejected
                }
            }
            _ => Answer::Rejected,
        }
    }
}

/// Who sent a message, for its campaign events: a rule or a journey's node, on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender<'a> {
    /// The channel the events carry: [`CHANNEL`] (`email`) or [`PUSH_CHANNEL`] (`push`).
    pub channel: &'a str,
    /// The firing's owner: a rule id, or `journey:<id>`.
    pub owner: &'a str,
    /// For a journey: the node id.
    pub node: Option<&'a str>,
}

/// A campaign event (`$message_sent`, `$message_delivered` or `$message_failed`) for one email
/// or push action: its `messageId` is `<action id>:<name>`, so re-recording the same outcome
/// stores it once; it is a `track` event of the person the firing belongs to, at `at_ms`, with
/// properties `channel` (the sender's), `messageId` (the action id — for push the id the
/// service worker reports back, so both sides join), `status`, `reason`, and `ruleId` or
/// `journeyId` + `journeyNode`.
pub fn campaign_event(
    name: &str,
    action_id: &str,
    sender: &Sender<'_>,
    user: &str,
    at_ms: i64,
    status: &str,
    reason: Option<&str>,
) -> Event {
    let mut props = Map::new();
    props.insert("channel".into(), sender.channel.into());
    props.insert("messageId".into(), action_id.into());
    props.insert("status".into(), status.into());
    if let Some(r) = reason {
        props.insert("reason".into(), r.into());
    }
    match sender.owner.strip_prefix("journey:") {
        Some(journey) => {
            props.insert("journeyId".into(), journey.into());
            if let Some(node) = sender.node {
                props.insert("journeyNode".into(), node.into());
            }
        }
        None => {
            props.insert("ruleId".into(), sender.owner.into());
        }
    }
    let at = crate::instant::from_ms(at_ms);
    Event {
        message_id: format!("{action_id}:{name}"),
        kind: crate::MessageType::Track,
        event: Some(name.to_owned()),
        name: None,
        category: None,
        user_id: Some(user.to_owned()),
        anonymous_id: None,
        group_id: None,
        previous_id: None,
        properties: props,
        traits: Default::default(),
        context: Default::default(),
        integrations: Default::default(),
        timestamp: at,
        original_timestamp: None,
        sent_at: None,
        received_at: at,
    }
}

/// The campaign events of a firing's email and push outcomes that closed in one attempt
/// (`before` holds the statuses before it, in the same order as `after`): `$message_sent` and
/// `$message_delivered` when the provider, binding or push service accepted it (for push: at
/// least one subscription answered 2xx), `$message_failed` otherwise (failed — no
/// subscription, gone, rejected —, skipped by the suppression list or the frequency policy,
/// dead-lettered once retries ran out) with the outcome's detail as `reason`. An action closes
/// once, and each event's `messageId` is `<action id>:<name>`, so a redelivered message or a
/// re-recorded outcome stores none twice.
pub fn outcome_events(
    rec: &crate::rules::actions::FiringRecord,
    before: &[crate::rules::actions::ActionStatus],
    after: &[crate::rules::actions::Outcome],
    at_ms: i64,
) -> Vec<Event> {
    use crate::rules::actions::ActionStatus;
    let node = rec
        .rule
        .starts_with("journey:")
        .then_some(rec.payload.rule_name.as_deref())
        .flatten();
    after
        .iter()
        .zip(before)
        .filter(|(o, was)| was.is_open() && !o.is_open())
        .filter_map(|(o, _)| {
            let channel = match o.kind.as_str() {
                "email" => CHANNEL,
                "push" => PUSH_CHANNEL,
                _ => return None,
            };
            let sender = Sender {
                channel,
                owner: &rec.rule,
                node,
            };
            let id = o.target.as_deref().unwrap_or(&rec.id);
            let (names, reason): (&[&str], _) = match o.status {
                ActionStatus::Delivered => (&[SENT_EVENT, DELIVERED_EVENT], None),
                _ => (&[FAILED_EVENT], o.detail.as_deref()),
            };
            Some(
                names
                    .iter()
                    .map(|name| {
                        campaign_event(name, id, &sender, &rec.user, at_ms, o.status.code(), reason)
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests;
