//! What happens to a rule firing's actions: the actions-queue message, each action's typed
//! outcome and its transitions, and the webhook retry backoff.
//!
//! Invariant: an action's [`ActionStatus`] only moves along the transitions here — `queued` and
//! `retrying` are the only *open* states; an attempt moves an open action to `delivered`,
//! `forwarded`, `retrying`, `skipped` or `failed`; the queue giving up moves every open action to
//! `dead_lettered`; a closed action never changes again. [`ActionStatus::code`] is the stable
//! string stored in `rule_firings.actions` (and is what serde writes).

use serde::{Deserialize, Deserializer, Serialize};

use super::model::Action;
use super::payload::{messages, InAppMessage, WebhookBody};
use super::state::Firing;
use super::RuleIndex;
use crate::Event;

/// Longest webhook retry delay (seconds).
pub const MAX_RETRY_DELAY_SECS: u32 = 3_600;
/// First webhook retry delay (seconds) when none is configured.
pub const DEFAULT_RETRY_BASE_SECS: u32 = 10;

/// One action's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// A webhook or forward waiting for its first attempt.
    Queued,
    /// An in-app message returned in the ingest response.
    Returned,
    /// An in-app message waiting in the user's object for the tracker's next request.
    PendingPickup,
    /// Suppressed by the rule's frequency cap; never runs.
    Capped,
    /// A webhook answered 2xx.
    Delivered,
    /// An attempt failed in a way worth retrying.
    Retrying,
    /// A forward reached its queue.
    Forwarded,
    /// An attempt failed in a way no retry fixes (no secret, no such binding, a hard bounce).
    Failed,
    /// Never sent: an email to a suppressed address (unsubscribed or hard-bounced), or a
    /// message the person's frequency cap or quiet hours refused (`crate::frequency`); the
    /// detail starts with the reason code.
    Skipped,
    /// The queue gave up while the action was still open.
    DeadLettered,
}

impl ActionStatus {
    /// The stable code stored in `rule_firings`.
    pub const fn code(self) -> &'static str {
        match self {
            ActionStatus::Queued => "queued",
            ActionStatus::Returned => "returned",
            ActionStatus::PendingPickup => "pending_pickup",
            ActionStatus::Capped => "capped",
            ActionStatus::Delivered => "delivered",
            ActionStatus::Retrying => "retrying",
            ActionStatus::Forwarded => "forwarded",
            ActionStatus::Failed => "failed",
            ActionStatus::Skipped => "skipped",
            ActionStatus::DeadLettered => "dead_lettered",
        }
    }

    /// Whether an attempt may still change it (`queued`, `retrying`).
    pub const fn is_open(self) -> bool {
        matches!(self, ActionStatus::Queued | ActionStatus::Retrying)
    }

    /// The state a fresh firing gives an action of `action`'s kind.
    pub fn initial(action: &Action, capped: bool, returned: bool) -> Self {
        match (capped, action) {
            (true, _) => ActionStatus::Capped,
            (
                false,
                Action::Webhook { .. }
                | Action::Forward { .. }
                | Action::Push { .. }
                | Action::Email(_),
            ) => ActionStatus::Queued,
            (false, Action::Message { .. }) if returned => ActionStatus::Returned,
            (false, Action::Message { .. }) => ActionStatus::PendingPickup,
        }
    }
}

/// What one delivery attempt of a webhook or forward came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The webhook answered with this HTTP status.
    Answered(u16),
    /// The webhook request failed before an answer (network, DNS, …).
    RequestFailed(String),
    /// No signing secret is configured: webhooks are never sent unsigned.
    NoSecret,
    /// The forward reached the named queue.
    Forwarded(String),
    /// No queue binding has the forward's name.
    NoBinding(String),
    /// Sending to the forward's queue failed.
    SendFailed(String),
    /// A push went to each of the person's subscriptions not yet done; the tally of answers.
    Pushed(PushTally),
    /// `VAPID_PRIVATE_KEY` / `VAPID_SUBJECT` are not configured (or the key is invalid).
    NoVapid,
    /// An email went to the provider (or binding); what its answer means, and the detail.
    Emailed(crate::email::Answer, String),
    /// The address is on the suppression list; the reason it was put there.
    EmailSuppressed(String),
    /// The email could not be built (its render error code) or no transport is configured.
    EmailUnsendable(String),
    /// The person's frequency cap or quiet hours refused the send (the detail, reason code
    /// first: `frequency_capped: …`, `quiet_hours: …`).
    NotAdmitted(String),
}

/// What the push service answered for each subscription in one attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushTally {
    /// 2xx.
    pub delivered: u32,
    /// 404/410: the subscription was deleted.
    pub gone: u32,
    /// 429/5xx or no answer: tried again later.
    pub retry: u32,
    /// Any other answer, or a payload that could not be built.
    pub rejected: u32,
    /// The last non-2xx answer or error, for the detail.
    pub last: Option<String>,
}

impl PushTally {
    /// Adds one subscription's result; returns whether that subscription is done (no retry).
    pub fn add(&mut self, answer: crate::push::Answer, what: String) -> bool {
        use crate::push::Answer;
        match answer {
            Answer::Delivered => self.delivered += 1,
            Answer::Gone => self.gone += 1,
            Answer::Retry => self.retry += 1,
            Answer::Rejected => self.rejected += 1,
        }
        if answer != Answer::Delivered {
            self.last = Some(what);
        }
        answer != Answer::Retry
    }
}

impl Attempt {
    /// The status and detail this attempt leaves the action in.
    pub fn outcome(&self) -> (ActionStatus, String) {
        match self {
            Attempt::Answered(code) if (200..300).contains(code) => {
                (ActionStatus::Delivered, format!("HTTP {code}"))
            }
            Attempt::Answered(code) => (ActionStatus::Retrying, format!("HTTP {code}")),
            Attempt::RequestFailed(e) => (ActionStatus::Retrying, format!("request failed: {e}")),
            Attempt::NoSecret => (
                ActionStatus::Failed,
                "no WEBHOOK_SECRET is configured; webhooks are never sent unsigned".into(),
            ),
            Attempt::Forwarded(binding) => (ActionStatus::Forwarded, format!("sent to {binding}")),
            Attempt::NoBinding(binding) => (
                ActionStatus::Failed,
                format!("no queue binding named {binding}"),
            ),
            Attempt::SendFailed(e) => (ActionStatus::Retrying, format!("send failed: {e}")),
            Attempt::NoVapid => (
                ActionStatus::Failed,
                "no valid VAPID_PRIVATE_KEY and VAPID_SUBJECT are configured".into(),
            ),
            Attempt::Emailed(answer, detail) => {
                use crate::email::Answer;
                match answer {
                    Answer::Sent => (ActionStatus::Delivered, detail.clone()),
                    Answer::Retry => (ActionStatus::Retrying, detail.clone()),
                    Answer::HardBounce => (
                        ActionStatus::Failed,
                        format!("hard_bounce: address suppressed ({detail})"),
                    ),
                    Answer::Rejected => (ActionStatus::Failed, format!("rejected: {detail}")),
                }
            }
            Attempt::EmailSuppressed(reason) => {
                (ActionStatus::Skipped, format!("suppressed: {reason}"))
            }
            Attempt::EmailUnsendable(code) => (ActionStatus::Failed, code.clone()),
            Attempt::NotAdmitted(detail) => (ActionStatus::Skipped, detail.clone()),
            Attempt::Pushed(t) => {
                let detail = format!(
                    "delivered {}, gone {}, retrying {}, rejected {}{}",
                    t.delivered,
                    t.gone,
                    t.retry,
                    t.rejected,
                    t.last
                        .as_ref()
                        .map(|l| format!(" (last: {l})"))
                        .unwrap_or_default()
                );
                let status = if t.retry > 0 {
                    ActionStatus::Retrying
                } else if t.delivered > 0 {
                    ActionStatus::Delivered
                } else {
                    ActionStatus::Failed
                };
                let detail = if t.delivered + t.gone + t.retry + t.rejected == 0 {
                    "no push subscription for this person".to_owned()
                } else {
                    detail
                };
                (status, detail)
            }
        }
    }
}

/// One action's outcome, as stored in `rule_firings.actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `webhook`, `message`, `forward`.
    #[serde(rename = "type")]
    pub kind: String,
    /// URL, queue binding or message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where the action stands.
    pub status: ActionStatus,
    /// What happened last (HTTP status, error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Push: the subscription endpoints already answered for good (delivered, gone, rejected),
    /// skipped when the action is retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<String>,
    /// Push: how many subscriptions accepted it, over all attempts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delivered: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Outcome {
    /// Whether an attempt may still change it.
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// Whether this is a webhook, forward, push or email the consumer should attempt now.
    pub fn attemptable(&self) -> bool {
        self.is_open() && matches!(self.kind.as_str(), "webhook" | "forward" | "push" | "email")
    }

    /// Records an attempt; a closed outcome is left as it is. A push that reached some
    /// subscription earlier counts as delivered once nothing is left to retry.
    pub fn record(&mut self, attempt: &Attempt) {
        if self.is_open() {
            let (mut status, detail) = attempt.outcome();
            if let Attempt::Pushed(t) = attempt {
                self.delivered = self.delivered.saturating_add(t.delivered);
                if status == ActionStatus::Failed && self.delivered > 0 {
                    status = ActionStatus::Delivered;
                }
            }
            self.status = status;
            self.detail = Some(detail);
        }
    }
}

/// Whether processing these outcomes counts as a webhook delivery attempt (for the backoff).
pub fn counts_attempt(outcomes: &[Outcome]) -> bool {
    outcomes
        .iter()
        .any(|o| o.is_open() && matches!(o.kind.as_str(), "webhook" | "push" | "email"))
}

/// Whether any outcome asks for the message to be retried.
pub fn wants_retry(outcomes: &[Outcome]) -> bool {
    outcomes.iter().any(|o| o.status == ActionStatus::Retrying)
}

/// The queue gave up: every still-open action becomes `dead_lettered`.
pub fn dead_letter(outcomes: &mut [Outcome]) {
    for o in outcomes.iter_mut().filter(|o| o.is_open()) {
        o.status = ActionStatus::DeadLettered;
    }
}

/// The delay before retry number `attempts`: `base · 2^(attempts − 1)` seconds, at most
/// [`MAX_RETRY_DELAY_SECS`].
pub fn backoff(base_secs: u32, attempts: u32) -> u32 {
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base_secs.saturating_mul(factor).min(MAX_RETRY_DELAY_SECS)
}

/// One unit of work on the actions queue. Read tag-first ([`crate::tag_first`]): a message
/// whose `kind` is not its first key is refused.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionWork {
    /// Record a firing and run its queued actions.
    Fired(Box<FiringRecord>),
    /// Events for a user's Durable Object that the ingest request did not hand over itself
    /// (too many users in one batch, or the object was unreachable).
    UserEvents {
        /// userId, else anonymousId.
        user: String,
        /// The rule set version the events were judged with.
        version: u64,
        /// The events.
        events: Vec<Event>,
    },
    /// An identity merge (`identify` with both ids, or `alias`) the ingest request could not
    /// perform itself; performing it again is a no-op (see [`crate::merge`]).
    Merge(crate::merge::Link),
    /// Stored events for a person's live segment upkeep that the events consumer could not
    /// hand to their object itself; the object observes each `messageId` once, so handing
    /// them over again is a no-op.
    Live {
        /// userId, else anonymousId.
        user: String,
        /// The live segment set version the sender used.
        version: u64,
        /// `user` is an anonymousId (the events carry no userId).
        anonymous: bool,
        /// The events (already stored).
        events: Vec<Event>,
    },
}

impl crate::tag_first::TagFirst for ActionWork {
    const TAG: &'static str = "kind";
    const VARIANTS: &'static [&'static str] = &["fired", "user_events", "merge", "live"];

    fn variant<'de, D: Deserializer<'de>>(index: usize, rest: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct UserEvents {
            user: String,
            version: u64,
            events: Vec<Event>,
        }
        #[derive(Deserialize)]
        struct Live {
            user: String,
            version: u64,
            anonymous: bool,
            events: Vec<Event>,
        }
        Ok(match index {
            0 => ActionWork::Fired(Box::new(FiringRecord::deserialize(rest)?)),
            1 => {
                let UserEvents {
                    user,
                    version,
                    events,
                } = UserEvents::deserialize(rest)?;
                ActionWork::UserEvents {
                    user,
                    version,
                    events,
                }
            }
            2 => ActionWork::Merge(crate::merge::Link::deserialize(rest)?),
            _ => {
                let Live {
                    user,
                    version,
                    anonymous,
                    events,
                } = Live::deserialize(rest)?;
                ActionWork::Live {
                    user,
                    version,
                    anonymous,
                    events,
                }
            }
        })
    }
}

impl<'de> Deserialize<'de> for ActionWork {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::tag_first::deserialize(d)
    }
}

/// A firing as stored in `rule_firings`, plus the payload its webhooks and forwards send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FiringRecord {
    /// Firing id (also the webhook's `id` and `Spur-Delivery` header).
    pub id: String,
    /// Rule id.
    pub rule: String,
    /// userId, else anonymousId.
    pub user: String,
    /// When it fired (ms since 1970).
    pub at_ms: i64,
    /// The events that made it fire.
    pub message_ids: Vec<String>,
    /// `ingest`, `state` or `alarm`.
    pub source: String,
    /// Suppressed by the cap: recorded, no action runs.
    pub capped: bool,
    /// Each action's outcome so far.
    pub actions: Vec<Outcome>,
    /// What webhooks and forwards send.
    pub payload: WebhookBody,
    /// What each push action sends (matched to its outcome by `target` = [`PushSpec::id`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushes: Vec<PushSpec>,
    /// What each email action sends (matched to its outcome by `target` = [`EmailSpec::id`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<EmailSpec>,
}

/// One email action of a firing, rendered when the firing was prepared (so every retry sends
/// the same bytes): the email, or why it could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailSpec {
    /// `<firing id>:<action index>` (a journey step: its idempotency key): the provider's
    /// `Idempotency-Key` and the campaign events' `messageId`.
    pub id: String,
    /// The rendered email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<crate::email::Rendered>,
    /// Why it could not be rendered (a `crate::email::EmailError` code and detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl EmailSpec {
    /// Takes its size from `budget` (the bytes a firing's emails may still take); beyond it,
    /// the email is replaced by an `email_too_large` error, so a firing's queue message stays
    /// within the limit however many email actions its rule has.
    pub fn within(mut self, budget: &mut usize) -> Self {
        let size = self.email.as_ref().map_or(0, crate::email::Rendered::size);
        match budget.checked_sub(size) {
            Some(left) => *budget = left,
            None => {
                self.email = None;
                self.error = Some(format!(
                    "email_too_large: this firing's emails exceed {} bytes together",
                    crate::limits::MAX_EMAIL_BODY_BYTES
                ));
            }
        }
        self
    }

    /// Renders an email action over `ctx` (`None` for other actions).
    pub fn from_action(action: &Action, id: String, ctx: &serde_json::Value) -> Option<Self> {
        let Action::Email(email) = action else {
            return None;
        };
        Some(match email.templates().render(ctx) {
            Ok(email) => EmailSpec {
                id,
                email: Some(email),
                error: None,
            },
            Err(e) => EmailSpec {
                id,
                email: None,
                error: Some(format!("{}: {e}", e.code())),
            },
        })
    }
}

/// One push action of a firing, resolved: everything the consumer needs to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSpec {
    /// `<firing id>:<action index>`: the notification's id, reported back by the service worker.
    pub id: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `TTL` seconds.
    pub ttl: u32,
    /// `Urgency`.
    pub urgency: crate::push::Urgency,
    /// `Topic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

impl PushSpec {
    /// The spec for a push action (`None` for other actions).
    pub fn from_action(action: &Action, id: String) -> Option<Self> {
        match action {
            Action::Push {
                title,
                body,
                url,
                ttl,
                urgency,
                topic,
            } => Some(PushSpec {
                id,
                title: title.clone(),
                body: body.clone(),
                url: url.clone(),
                ttl: super::compile::ttl_secs(*ttl),
                urgency: urgency.unwrap_or_default(),
                topic: topic.clone(),
            }),
            _ => None,
        }
    }

    /// The JSON the service worker decrypts, for a subscription stored under these ids.
    pub fn payload(
        &self,
        rule: &str,
        user_id: Option<&str>,
        anonymous_id: Option<&str>,
    ) -> Result<Vec<u8>, crate::push::PushError> {
        let p = crate::push::Payload {
            id: self.id.clone(),
            rule: rule.to_owned(),
            title: self.title.clone(),
            body: self.body.clone(),
            url: self.url.clone(),
            user_id: user_id.map(str::to_owned),
            anonymous_id: anonymous_id.map(str::to_owned),
        };
        let bytes = serde_json::to_vec(&p).map_err(|_| crate::push::PushError::Crypto)?;
        if bytes.len() > crate::limits::MAX_PUSH_PAYLOAD_BYTES {
            return Err(crate::push::PushError::PayloadTooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// The RFC 8030 delivery options.
    pub fn options(&self) -> crate::push::Options {
        crate::push::Options {
            ttl: self.ttl,
            urgency: self.urgency,
            topic: self.topic.clone(),
        }
    }
}

/// Firings of one user, made ready: records for the queue and the messages they show.
#[derive(Debug, Default)]
pub struct Prepared {
    /// For the actions queue.
    pub records: Vec<FiringRecord>,
    /// In-app messages.
    pub messages: Vec<InAppMessage>,
}

/// Builds records and messages; `new_id` gives each firing a fresh id. `returned` says whether
/// the messages go back in this response (else they wait in the user's object for the
/// tracker's next request). Firings of rules no longer in the index are dropped.
pub fn prepare(
    index: &RuleIndex,
    firings: Vec<Firing>,
    user: &str,
    source: &str,
    returned: bool,
    new_id: &mut dyn FnMut() -> String,
) -> Prepared {
    let mut out = Prepared::default();
    for f in firings {
        let Some(rule) = index.get(&f.rule) else {
            continue;
        };
        let id = new_id();
        let shown = if f.capped {
            Vec::new()
        } else {
            messages(&rule.rule, &id, user)
        };
        let mut shown_ids = shown.iter().map(|m| m.id.clone());
        let mut pushes = Vec::new();
        let mut emails = Vec::new();
        let mut email_budget = crate::limits::MAX_EMAIL_BODY_BYTES;
        let actions = rule
            .rule
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| Outcome {
                kind: a.kind().to_owned(),
                target: match a {
                    Action::Webhook { url } => Some(url.clone()),
                    Action::Forward { queue } => Some(queue.clone()),
                    Action::Message { .. } => shown_ids.next(),
                    Action::Push { .. } => {
                        let push_id = format!("{id}:{i}");
                        pushes.extend(PushSpec::from_action(a, push_id.clone()));
                        Some(push_id)
                    }
                    Action::Email(_) => {
                        let email_id = format!("{id}:{i}");
                        if !f.capped {
                            let ctx = crate::email::rule_context(
                                f.event.as_ref(),
                                user,
                                &rule.rule.id,
                                rule.rule.name.as_deref(),
                            );
                            let spec = EmailSpec::from_action(a, email_id.clone(), &ctx)
                                .map(|s| s.within(&mut email_budget));
                            emails.extend(spec);
                        }
                        Some(email_id)
                    }
                },
                status: ActionStatus::initial(a, f.capped, returned),
                detail: None,
                done: Vec::new(),
                delivered: 0,
            })
            .collect();
        let payload = WebhookBody::new(&rule.rule, &f, &id, user);
        out.messages.extend(shown);
        out.records.push(FiringRecord {
            id,
            rule: f.rule,
            user: user.to_owned(),
            at_ms: f.at,
            message_ids: f.events,
            source: source.to_owned(),
            capped: f.capped,
            actions,
            payload,
            pushes: if f.capped { Vec::new() } else { pushes },
            emails,
        });
    }
    out
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
