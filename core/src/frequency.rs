//! One frequency cap across channels: at most N messages per person per local day, per channel
//! and overall, and no messages in quiet hours.
//!
//! The policy is saved with `PUT /v1/frequency` (see the README, "Frequency cap"); unset or
//! empty, nothing is counted and no send pays a hop to the person's object.
//!
//! Invariant: [`admit`] is a pure function of (policy, the person's [`Tally`], channel, zone
//! offset, now); it counts a send only when it admits it, so a person's tally — kept in their
//! Durable Object, which runs one request at a time — is exact under concurrency. A refused send
//! is never dropped silently: the caller records it with [`Skip::code`] as the reason.
//!
//! Decisions:
//! - Channels counted: `in_app`, `push`, `email` — messages a person sees. Webhooks and
//!   forwards go to systems, not people, and are never capped.
//! - The day is the calendar day in the policy's `zone` (UTC by default); counts reset at local
//!   midnight.
//! - Quiet hours `from`..`to` in that zone (may span midnight, e.g. 21:00–08:00): a message due
//!   then is skipped with reason `quiet_hours` rather than deferred — a "come back" nudge or a
//!   cart reminder is about the moment, and deferring would deliver a burst at `to` that the
//!   daily cap then cuts arbitrarily. Skipped sends are not counted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::journeys::window::Zones;
use crate::limits::MAX_FREQUENCY_PER_DAY;
use crate::rules::actions::{ActionStatus, Prepared};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// A channel that reaches a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An in-app message shown by the tracker.
    InApp,
    /// A Web Push notification.
    Push,
    /// An email.
    Email,
}

impl Channel {
    /// The channel an action kind (`message`, `push`, `email`) reaches a person on; `None` for
    /// webhooks and forwards, which are never capped.
    pub fn of_action(kind: &str) -> Option<Self> {
        match kind {
            "message" => Some(Channel::InApp),
            "push" => Some(Channel::Push),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }

    /// The stable name (as in the configuration and reason details).
    pub fn code(self) -> &'static str {
        match self {
            Channel::InApp => "in_app",
            Channel::Push => "push",
            Channel::Email => "email",
        }
    }
}

/// Local-time window in which no message is sent, `HH:MM` each; `from` > `to` spans midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Start (inclusive), e.g. `"21:00"`.
    pub from: String,
    /// End (exclusive), e.g. `"08:00"`.
    pub to: String,
}

/// The operator's policy (`PUT /v1/frequency`), e.g.
/// `{"zone": "Europe/Berlin", "perDay": 5, "perChannel": {"email": 1}, "quietHours": {"from": "21:00", "to": "08:00"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FrequencyPolicy {
    /// IANA zone or fixed offset the day and quiet hours are reckoned in (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Most messages per person per day over every channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u32>,
    /// Most messages per person per day on one channel.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_channel: BTreeMap<Channel, u32>,
    /// When no message goes out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

/// Why a policy is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl PolicyError {
    /// The stable reason code an admin sees.
    pub const fn code(&self) -> &'static str {
        "invalid_frequency_policy"
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FrequencyPolicy {
    /// Whether the policy limits anything (no policy: no per-person counting at all).
    pub fn is_active(&self) -> bool {
        self.per_day.is_some() || !self.per_channel.is_empty() || self.quiet_hours.is_some()
    }

    /// The zone the day is reckoned in.
    pub fn zone(&self) -> &str {
        self.zone.as_deref().unwrap_or("UTC")
    }

    /// Parses and checks a policy document (`zones` answers for the zone).
    pub fn from_json(text: &str, zones: &dyn Zones) -> Result<Self, PolicyError> {
        let policy: FrequencyPolicy =
            serde_json::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        policy.check(zones)?;
        Ok(policy)
    }

    /// Checks bounds, the quiet hours' times and that `zones` knows the zone.
    pub fn check(&self, zones: &dyn Zones) -> Result<(), PolicyError> {
        let caps = self.per_day.iter().chain(self.per_channel.values());
        if let Some(n) = caps.copied().find(|n| *n > MAX_FREQUENCY_PER_DAY) {
            return Err(PolicyError(format!(
                "a frequency cap of {n} is over the limit {MAX_FREQUENCY_PER_DAY} per day"
            )));
        }
        if let Some(q) = &self.quiet_hours {
            let (Some(a), Some(b)) = (minute_of(&q.from), minute_of(&q.to)) else {
                return Err(PolicyError(
                    "quietHours.from and .to are local times HH:MM (00:00..23:59)".into(),
                ));
            };
            if a == b {
                return Err(PolicyError("quietHours.from equals .to".into()));
            }
        }
        if zones.offset_ms(self.zone(), 0).is_none() {
            return Err(PolicyError(format!("unknown time zone {:?}", self.zone())));
        }
        Ok(())
    }
}

/// `HH:MM` as minutes after midnight.
fn minute_of(text: &str) -> Option<i64> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// A person's sends on their current local day (stored in their Durable Object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Local day number (days since 1970-01-01 in the policy's zone).
    pub day: i64,
    /// Sends that day over every channel.
    pub total: u32,
    /// Sends that day per channel.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_channel: BTreeMap<Channel, u32>,
}

/// Why a send was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The channel's or the overall daily cap is reached.
    FrequencyCapped {
        /// The channel's own cap (else the overall one).
        channel_cap: bool,
    },
    /// Inside quiet hours.
    QuietHours,
}

impl Skip {
    /// The stable reason code recorded with the skipped send.
    pub fn code(self) -> &'static str {
        match self {
            Skip::FrequencyCapped { .. } => "frequency_capped",
            Skip::QuietHours => "quiet_hours",
        }
    }

    /// A human detail for the record.
    pub fn detail(self, policy: &FrequencyPolicy, channel: Channel) -> String {
        match self {
            Skip::FrequencyCapped { channel_cap: true } => format!(
                "{} messages per day on {} reached",
                policy.per_channel.get(&channel).copied().unwrap_or(0),
                channel.code()
            ),
            Skip::FrequencyCapped { channel_cap: false } => {
                format!("{} messages per day reached", policy.per_day.unwrap_or(0))
            }
            Skip::QuietHours => match &policy.quiet_hours {
                Some(q) => format!("quiet hours {}–{} {}", q.from, q.to, policy.zone()),
                None => "quiet hours".into(),
            },
        }
    }
}

/// The detail a skipped action is recorded with: `"<code>: <human detail>"` (the code first,
/// as other skips such as `suppressed: …` are written).
pub fn skip_record(skip: Skip, policy: &FrequencyPolicy, channel: Channel) -> String {
    format!("{}: {}", skip.code(), skip.detail(policy, channel))
}

/// Reason code of an in-app message skipped because the person's object could not be asked
/// (the cap is never exceeded by a failure: the message is not shown).
pub const UNAVAILABLE: &str = "frequency_unavailable";

/// One send the person's object is asked to admit: the action's id (its idempotency key, so a
/// redelivered ask gets the first answer and is counted once) and its channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    /// The action id (`<firing id>:<index>`, a journey step's key, an in-app message id).
    pub key: String,
    /// The channel it goes out on.
    pub channel: Channel,
}

/// The answer to one [`Ask`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The ask's key.
    pub key: String,
    /// `None`: admitted (and counted); else the skip as [`skip_record`] wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
}

/// The asks for a prepared batch's in-app messages (decided when they are made: they are
/// returned or parked at once).
pub fn in_app_asks(prepared: &Prepared) -> Vec<Ask> {
    prepared
        .messages
        .iter()
        .map(|m| Ask {
            key: m.id.clone(),
            channel: Channel::InApp,
        })
        .collect()
}

/// Applies verdicts to a prepared batch: a skipped in-app message is not shown, and its
/// outcome becomes `skipped` with the verdict's reason. Messages without a verdict stay.
pub fn apply_in_app(prepared: &mut Prepared, verdicts: &[Verdict]) {
    let skipped = |id: &str| {
        verdicts
            .iter()
            .find(|v| v.key == id)
            .and_then(|v| v.skip.clone())
    };
    prepared.messages.retain(|m| skipped(&m.id).is_none());
    for rec in &mut prepared.records {
        for o in &mut rec.actions {
            if o.kind != "message" {
                continue;
            }
            if let Some(detail) = o.target.as_deref().and_then(skipped) {
                o.status = ActionStatus::Skipped;
                o.detail = Some(detail);
            }
        }
    }
}

/// Decides one send on `channel` at `now` (UTC ms), with `offset_ms` the zone's `local - utc`
/// then. Admitted sends are counted in `tally` (moved to the new day first when the local day
/// changed); a skip leaves it as it was.
pub fn admit(
    policy: &FrequencyPolicy,
    tally: &mut Tally,
    channel: Channel,
    offset_ms: i64,
    now: i64,
) -> Result<(), Skip> {
    let local = now.saturating_add(offset_ms);
    let day = local.div_euclid(DAY_MS);
    if let Some(q) = &policy.quiet_hours {
        let minute = local.rem_euclid(DAY_MS) / MINUTE_MS;
        if let (Some(a), Some(b)) = (minute_of(&q.from), minute_of(&q.to)) {
            let quiet = if a < b {
                (a..b).contains(&minute)
            } else {
                minute >= a || minute < b
            };
            if quiet {
                return Err(Skip::QuietHours);
            }
        }
    }
    if tally.day != day {
        *tally = Tally {
            day,
            ..Tally::default()
        };
    }
    let on_channel = tally.by_channel.get(&channel).copied().unwrap_or(0);
    if policy
        .per_channel
        .get(&channel)
        .is_some_and(|cap| on_channel >= *cap)
    {
        return Err(Skip::FrequencyCapped { channel_cap: true });
    }
    if policy.per_day.is_some_and(|cap| tally.total >= cap) {
        return Err(Skip::FrequencyCapped { channel_cap: false });
    }
    tally.total = tally.total.saturating_add(1);
    tally
        .by_channel
        .insert(channel, on_channel.saturating_add(1));
    Ok(())
}

impl Tally {
    /// Takes in another person's tally when their identities merge: on the same local day the
    /// sends add up (one person received both), a later day replaces an earlier one, and an
    /// earlier day is dropped (its counts no longer cap anything).
    pub fn absorb(&mut self, other: Tally) {
        if other.day > self.day {
            *self = other;
        } else if other.day == self.day {
            self.total = self.total.saturating_add(other.total);
            for (channel, n) in other.by_channel {
                let mine = self.by_channel.entry(channel).or_insert(0);
                *mine = mine.saturating_add(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journeys::window::FixedZones;
    use serde_json::json;

    const HOUR: i64 = 3_600_000;
    /// 2024-05-01T00:00:00Z.
    const T0: i64 = 1_714_521_600_000;

    fn policy(v: serde_json::Value) -> FrequencyPolicy {
        let p: FrequencyPolicy = serde_json::from_value(v).unwrap();
        p.check(&FixedZones).unwrap();
        p
    }

    #[test]
    fn per_channel_and_overall_caps_are_separate() {
        let p = policy(json!({"perDay": 3, "perChannel": {"email": 1}}));
        let mut t = Tally::default();
        let at = T0 + 10 * HOUR;
        assert_eq!(admit(&p, &mut t, Channel::Email, 0, at), Ok(()));
        assert_eq!(
            admit(&p, &mut t, Channel::Email, 0, at),
            Err(Skip::FrequencyCapped { channel_cap: true })
        );
        assert_eq!(admit(&p, &mut t, Channel::InApp, 0, at), Ok(()));
        assert_eq!(admit(&p, &mut t, Channel::Push, 0, at), Ok(()));
        let over = admit(&p, &mut t, Channel::InApp, 0, at).unwrap_err();
        assert_eq!(over, Skip::FrequencyCapped { channel_cap: false });
        assert_eq!(over.code(), "frequency_capped");
        assert_eq!(t.total, 3, "skips are not counted");
        assert_eq!(t.by_channel[&Channel::Email], 1);
    }

    #[test]
    fn the_day_turns_at_midnight_in_the_policy_zone() {
        // +05:30: local midnight of 2024-05-02 is 2024-05-01T18:30Z.
        let p = policy(json!({"zone": "+05:30", "perDay": 1}));
        let off = 5 * HOUR + 30 * 60_000;
        let mut t = Tally::default();
        let before = T0 + 18 * HOUR + 29 * 60_000;
        let after = T0 + 18 * HOUR + 30 * 60_000;
        assert_eq!(admit(&p, &mut t, Channel::Push, off, T0 + HOUR), Ok(()));
        assert!(admit(&p, &mut t, Channel::Push, off, before).is_err());
        assert_eq!(admit(&p, &mut t, Channel::Push, off, after), Ok(()));
        // The same instants in UTC are one day: the second and third are capped.
        let mut utc = Tally::default();
        assert_eq!(admit(&p, &mut utc, Channel::Push, 0, T0 + HOUR), Ok(()));
        assert!(admit(&p, &mut utc, Channel::Push, 0, after).is_err());
    }

    #[test]
    fn quiet_hours_span_midnight_and_are_not_counted() {
        let p = policy(json!({"perDay": 10, "quietHours": {"from": "21:00", "to": "08:00"}}));
        let mut t = Tally::default();
        for (h, quiet) in [
            (20, false),
            (21, true),
            (23, true),
            (24, true),
            (31, true),
            (32, false),
        ] {
            let r = admit(&p, &mut t, Channel::InApp, 0, T0 + h * HOUR);
            assert_eq!(r.is_err(), quiet, "hour {h}");
            if quiet {
                assert_eq!(r.unwrap_err().code(), "quiet_hours");
            }
        }
        assert_eq!(t.total, 1, "the second admitted send is on a new day");
        // A window within one day.
        let p = policy(json!({"quietHours": {"from": "12:00", "to": "13:30"}}));
        let mut t = Tally::default();
        assert!(admit(&p, &mut t, Channel::Email, 0, T0 + 12 * HOUR).is_err());
        assert!(admit(&p, &mut t, Channel::Email, 0, T0 + 13 * HOUR + 29 * 60_000).is_err());
        assert!(admit(&p, &mut t, Channel::Email, 0, T0 + 13 * HOUR + 30 * 60_000).is_ok());
        // In the zone: 21:00 at +02:00 is 19:00Z.
        let p = policy(json!({"zone": "+02:00", "quietHours": {"from": "21:00", "to": "08:00"}}));
        assert!(admit(
            &p,
            &mut Tally::default(),
            Channel::Push,
            2 * HOUR,
            T0 + 19 * HOUR
        )
        .is_err());
        assert!(admit(
            &p,
            &mut Tally::default(),
            Channel::Push,
            2 * HOUR,
            T0 + 18 * HOUR
        )
        .is_ok());
    }

    #[test]
    fn bad_policies_are_refused() {
        let bad = [
            json!({"perDay": MAX_FREQUENCY_PER_DAY + 1}),
            json!({"perChannel": {"email": MAX_FREQUENCY_PER_DAY + 1}}),
            json!({"quietHours": {"from": "25:00", "to": "08:00"}}),
            json!({"quietHours": {"from": "8:00", "to": "09:00"}}),
            json!({"quietHours": {"from": "08:00", "to": "08:00"}}),
            json!({"zone": "Mars/Olympus"}),
        ];
        for b in bad {
            let p: FrequencyPolicy = serde_json::from_value(b.clone()).unwrap();
            assert!(p.check(&FixedZones).is_err(), "{b}");
        }
        let at_limit = policy(json!({"perDay": MAX_FREQUENCY_PER_DAY}));
        assert!(at_limit.is_active());
        assert!(!FrequencyPolicy::default().is_active());
        assert!(
            serde_json::from_value::<FrequencyPolicy>(json!({"perChannel": {"webhook": 1}}))
                .is_err()
        );
    }

    #[test]
    fn action_kinds_map_to_channels_and_hooks_are_never_counted() {
        assert_eq!(Channel::of_action("message"), Some(Channel::InApp));
        assert_eq!(Channel::of_action("push"), Some(Channel::Push));
        assert_eq!(Channel::of_action("email"), Some(Channel::Email));
        assert_eq!(Channel::of_action("webhook"), None);
        assert_eq!(Channel::of_action("forward"), None);
    }

    #[test]
    fn policies_parse_with_a_reason_code() {
        let ok = FrequencyPolicy::from_json(
            r#"{"perDay": 2, "perChannel": {"push": 1}, "quietHours": {"from": "21:00", "to": "08:00"}, "zone": "+03:00"}"#,
            &FixedZones,
        )
        .unwrap();
        assert_eq!(ok.per_day, Some(2));
        assert!(ok.is_active());
        for bad in [
            "not json",
            r#"{"perDay": -1}"#,
            r#"{"perday": 2}"#,
            r#"{"perDay": 1001}"#,
            r#"{"zone": "Nowhere"}"#,
        ] {
            let e = FrequencyPolicy::from_json(bad, &FixedZones).unwrap_err();
            assert_eq!(e.code(), "invalid_frequency_policy", "{bad}");
            assert!(!e.to_string().is_empty());
        }
        let empty = FrequencyPolicy::from_json("{}", &FixedZones).unwrap();
        assert!(!empty.is_active());
    }

    #[test]
    fn skips_are_recorded_code_first() {
        let p = policy(json!({"perDay": 2, "quietHours": {"from": "21:00", "to": "08:00"}}));
        let capped = skip_record(
            Skip::FrequencyCapped { channel_cap: false },
            &p,
            Channel::Push,
        );
        assert_eq!(capped, "frequency_capped: 2 messages per day reached");
        let quiet = skip_record(Skip::QuietHours, &p, Channel::InApp);
        assert!(quiet.starts_with("quiet_hours: "), "{quiet}");
    }

    #[test]
    fn skipped_in_app_messages_are_not_shown_and_their_outcome_says_why() {
        use crate::rules::actions::prepare;
        use crate::rules::{parse, Firing, RuleIndex};
        let rule = json!({"id": "r", "trigger": {"events": ["Buy"]}, "actions": [
            {"type": "webhook", "url": "https://hooks.example.com/a"},
            {"type": "message", "title": "Hi", "body": "there"}]});
        let idx = RuleIndex::build([parse(&rule.to_string()).unwrap()], 1);
        let firing = Firing {
            rule: "r".into(),
            at: T0,
            events: vec!["m1".into()],
            event: None,
            capped: false,
        };
        let mut n = 0;
        let mut ids = || {
            n += 1;
            format!("f{n}")
        };
        let mut p = prepare(
            &idx,
            vec![firing.clone(), firing],
            "u1",
            "ingest",
            true,
            &mut ids,
        );
        let asks = in_app_asks(&p);
        assert_eq!(asks.len(), 2);
        assert!(asks.iter().all(|a| a.channel == Channel::InApp));
        let verdicts = vec![
            Verdict {
                key: asks[0].key.clone(),
                skip: None,
            },
            Verdict {
                key: asks[1].key.clone(),
                skip: Some("frequency_capped: 1 messages per day reached".into()),
            },
        ];
        apply_in_app(&mut p, &verdicts);
        assert_eq!(p.messages.len(), 1);
        assert_eq!(p.messages[0].id, asks[0].key);
        let status = |r: usize, a: usize| p.records[r].actions[a].status;
        assert_eq!(status(0, 1), ActionStatus::Returned);
        assert_eq!(status(1, 1), ActionStatus::Skipped);
        assert_eq!(
            p.records[1].actions[1].detail.as_deref(),
            Some("frequency_capped: 1 messages per day reached")
        );
        assert_eq!(
            status(1, 0),
            ActionStatus::Queued,
            "webhooks are never capped"
        );
    }

    #[test]
    fn merged_tallies_add_on_the_same_day_and_the_later_day_wins() {
        let p = policy(json!({"perDay": 3, "perChannel": {"push": 1}}));
        let day = 20_000 * DAY_MS + 12 * HOUR;
        let (mut anon, mut user) = (Tally::default(), Tally::default());
        assert!(admit(&p, &mut anon, Channel::Push, 0, day).is_ok());
        assert!(admit(&p, &mut user, Channel::InApp, 0, day).is_ok());
        assert!(admit(&p, &mut user, Channel::InApp, 0, day).is_ok());
        let mut merged = user.clone();
        merged.absorb(anon.clone());
        assert_eq!(merged.total, 3);
        assert_eq!(merged.by_channel.get(&Channel::Push), Some(&1));
        assert_eq!(merged.by_channel.get(&Channel::InApp), Some(&2));
        // The anonymous push used the person's push slot and the third of three for the day.
        assert_eq!(
            admit(&p, &mut merged, Channel::Email, 0, day + HOUR),
            Err(Skip::FrequencyCapped { channel_cap: false })
        );
        // A tally from an earlier day caps nothing; a later one replaces it.
        let mut yesterday = Tally::default();
        assert!(admit(&p, &mut yesterday, Channel::Push, 0, day - DAY_MS).is_ok());
        let mut today = anon.clone();
        today.absorb(yesterday.clone());
        assert_eq!(today, anon);
        yesterday.absorb(anon.clone());
        assert_eq!(yesterday, anon);
        // Nothing to take in: unchanged.
        let mut same = user.clone();
        same.absorb(Tally::default());
        assert_eq!(same, user);
    }
}
