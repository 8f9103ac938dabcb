//! Campaign results: what one rule's or one journey's messages did, read from the campaign
//! events stored like every other event — `$message_sent`, `$message_delivered`,
//! `$message_shown`, `$message_clicked`, `$message_dismissed`, `$message_failed`, whose
//! properties carry `channel` and `ruleId` or `journeyId` (sends, deliveries and failures of
//! email and push from the Worker, push's shows, clicks and dismissals from `spur-sw.js`).
//!
//! Invariant: one statement answers the whole result — per (event, channel) the events and
//! distinct people; the people *reached* (any sent, delivered or shown message); and, with a
//! goal, the reached people who did a goal event within `within` after their first reach
//! (strictly after: a conversion at the send's own instant is not one the message caused).
//! People are resolved through aliases like every other query, so a message sent to the
//! anonymous visitor and a purchase after login are one person.
//!
//! Decisions:
//! - A journey's goal is its own (`goal.events`, `goal.within`) unless the query names one;
//!   a rule has no goal of its own, so its conversions need one in the query.
//! - Only events in `[from, to)` are counted; goal events may fall up to `within` after `to`,
//!   so a send near the end of the range still has its whole window.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::field::Filter;
use super::sql::{de_int, Params, Sql, EVENTS_WITH_ALIASES, PERSON};
use super::time_range::{format_instant, TimeRange, Window};
use super::{limits, QueryError};

/// The campaign events counted, in the order results list them.
pub const CAMPAIGN_EVENTS: [&str; 6] = [
    "$message_sent",
    "$message_delivered",
    "$message_shown",
    "$message_clicked",
    "$message_dismissed",
    "$message_failed",
];

/// The events that count as having reached a person (the conversion base).
const REACHED: [&str; 3] = ["$message_sent", "$message_delivered", "$message_shown"];

/// A campaign results query as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CampaignQuery {
    /// A rule id (exactly one of `rule` and `journey`).
    #[serde(default)]
    pub rule: Option<String>,
    /// A journey id.
    #[serde(default)]
    pub journey: Option<String>,
    /// Range start, RFC 3339 (inclusive).
    pub from: String,
    /// Range end, RFC 3339 (exclusive).
    pub to: String,
    /// Conversions: a goal event done within `within` after the person was first reached.
    #[serde(default)]
    pub goal: Option<CampaignGoal>,
}

/// A conversion goal as sent: `{"events": ["Order Completed"], "within": "3d"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignGoal {
    /// Event names, any of which converts.
    pub events: Vec<String>,
    /// How long after the first reach a goal event counts (`30m`, `24h`, `7d`).
    pub within: String,
}

/// Who sent the messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Sender {
    /// A rule, by id.
    Rule(String),
    /// A journey, by id.
    Journey(String),
}

impl Sender {
    /// The campaign events' property naming this sender.
    fn property(&self) -> (&'static str, &str) {
        match self {
            Sender::Rule(id) => ("properties.ruleId", id),
            Sender::Journey(id) => ("properties.journeyId", id),
        }
    }
}

/// A validated goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Goal {
    /// Event names.
    pub events: Vec<String>,
    /// The window in ms.
    #[serde(rename = "withinMs")]
    pub within_ms: i64,
}

/// A validated campaign query with its SQL.
#[derive(Debug, Clone)]
pub struct CampaignPlan {
    /// The statement; its rows are [`CampaignRow`]s.
    pub sql: Sql,
    sender: Sender,
    range: TimeRange,
    goal: Option<Goal>,
}

/// One row: `kind` is `message` (per event and channel), `reached` or `converted`.
#[derive(Debug, Clone, Deserialize)]
pub struct CampaignRow {
    /// `message`, `reached` or `converted`.
    pub kind: String,
    /// The campaign event (`message` rows).
    #[serde(default)]
    pub event: Option<String>,
    /// The channel property (`message` rows; absent or '' when the event had none).
    #[serde(default)]
    pub channel: Option<String>,
    /// Events.
    #[serde(deserialize_with = "de_int")]
    pub events: i64,
    /// Distinct people.
    #[serde(deserialize_with = "de_int")]
    pub people: i64,
}

/// Events and distinct people of one campaign event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Events.
    pub events: i64,
    /// Distinct people.
    pub people: i64,
}

/// One channel's counts, keyed by the event's short name (`sent`, `delivered`, …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelResult {
    /// `push`, `email`, `in_app`, or `unknown` for events without a channel.
    pub channel: String,
    /// Counts per short event name, every one of [`CAMPAIGN_EVENTS`] present.
    #[serde(flatten)]
    pub counts: BTreeMap<&'static str, Count>,
    /// Clicked people / shown people (`null` before anyone was shown one).
    #[serde(rename = "clickRate")]
    pub click_rate: Option<f64>,
}

/// Conversions within the goal window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalResult {
    /// The goal's events.
    pub events: Vec<String>,
    /// Its window in ms.
    pub within_ms: i64,
    /// Reached people who converted.
    pub converted: i64,
    /// converted / reached (`null` when nobody was reached).
    pub conversion_rate: Option<f64>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignResult {
    /// Who sent the messages.
    pub sender: Sender,
    /// Range start (RFC 3339).
    pub from: String,
    /// Range end (RFC 3339).
    pub to: String,
    /// Per channel, in name order.
    pub channels: Vec<ChannelResult>,
    /// Distinct people reached (sent, delivered or shown) across channels.
    pub reached: i64,
    /// Conversions, when there is a goal.
    pub goal: Option<GoalResult>,
}

/// The short name of a campaign event (`$message_sent` → `sent`).
fn short(event: &str) -> Option<&'static str> {
    CAMPAIGN_EVENTS
        .iter()
        .find(|e| **e == event)
        .and_then(|e| e.strip_prefix("$message_"))
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl CampaignQuery {
    /// The sender, validated: exactly one of `rule` and `journey`, a non-empty id.
    pub fn sender(&self) -> Result<Sender, QueryError> {
        let sender = match (&self.rule, &self.journey) {
            (Some(r), None) => Sender::Rule(r.clone()),
            (None, Some(j)) => Sender::Journey(j.clone()),
            _ => {
                return Err(QueryError::value(
                    "rule",
                    "give exactly one of `rule` and `journey`",
                ))
            }
        };
        let (_, id) = sender.property();
        if id.is_empty() || id.chars().count() > limits::MAX_VALUE_CHARS {
            return Err(QueryError::value(
                "rule",
                format!("an id of 1 to {} characters", limits::MAX_VALUE_CHARS),
            ));
        }
        Ok(sender)
    }

    /// Validates the query and builds its SQLite statement. `default_goal` is the journey's
    /// own goal, used when the query names none.
    pub fn plan(&self, default_goal: Option<Goal>) -> Result<CampaignPlan, QueryError> {
        let (sender, range, goal) = self.validate(default_goal)?;
        let mut p = Params::default();
        let (field, id) = sender.property();
        let sender_cond = Filter {
            field: field.into(),
            op: super::FilterOp::Eq,
            value: Some(id.into()),
        }
        .sql(&mut p)?;
        let channel = super::Field::parse("properties.channel")?.sql(&mut p);
        let (from, to) = (p.int(range.from), p.int(range.to));
        let mut text = format!(
            "WITH m AS MATERIALIZED (SELECT {PERSON} AS person, e.event AS event, \
             {channel} AS channel, e.ts_ms AS t FROM {EVENTS_WITH_ALIASES} \
             WHERE e.event IN ({all}) AND {sender_cond} AND e.ts_ms >= {from} AND e.ts_ms < {to})",
            all = list(&CAMPAIGN_EVENTS),
        );
        if let Some(g) = &goal {
            let names: Vec<String> = g.events.iter().map(|e| p.text(e)).collect();
            let within = p.int(g.within_ms);
            let until = p.int(range.to.saturating_add(g.within_ms));
            text.push_str(&format!(
                ", f AS MATERIALIZED (SELECT person, MIN(t) AS t0 FROM m WHERE event IN ({reached}) \
                 GROUP BY person), \
                 g AS MATERIALIZED (SELECT {PERSON} AS person, e.ts_ms AS t FROM {EVENTS_WITH_ALIASES} \
                 WHERE e.event IN ({names}) AND e.ts_ms > {from} AND e.ts_ms <= {until})",
                reached = list(&REACHED),
                names = names.join(", "),
            ));
            text.push_str(&format!(
                " SELECT 'converted' AS kind, NULL AS event, NULL AS channel, 0 AS events, \
                 COUNT(*) AS people FROM (SELECT f.person FROM f JOIN g ON g.person = f.person \
                 AND g.t > f.t0 AND g.t <= f.t0 + {within} GROUP BY f.person) UNION ALL"
            ));
        }
        text.push_str(&format!(
            " SELECT 'message' AS kind, event, channel, COUNT(*) AS events, \
             COUNT(DISTINCT person) AS people FROM m GROUP BY event, channel \
             UNION ALL SELECT 'reached', NULL, NULL, 0, COUNT(DISTINCT person) FROM m \
             WHERE event IN ({reached})",
            reached = list(&REACHED),
        ));
        Ok(CampaignPlan {
            sql: p.finish(text)?,
            sender,
            range,
            goal,
        })
    }

    /// Validates the query (as [`CampaignQuery::plan`] does) and builds its ClickHouse SQL;
    /// its rows are the same [`CampaignRow`]s.
    pub fn plan_clickhouse(&self, default_goal: Option<Goal>) -> Result<CampaignPlan, QueryError> {
        let (sender, range, goal) = self.validate(default_goal)?;
        let text = super::clickhouse::campaign::sql(&sender, range, goal.as_ref())?;
        Ok(CampaignPlan {
            sql: Sql {
                text,
                params: Vec::new(),
            },
            sender,
            range,
            goal,
        })
    }

    fn validate(
        &self,
        default_goal: Option<Goal>,
    ) -> Result<(Sender, TimeRange, Option<Goal>), QueryError> {
        let sender = self.sender()?;
        let range = TimeRange::parse(&self.from, &self.to)?;
        let goal = match &self.goal {
            None => default_goal,
            Some(g) => {
                if g.events.is_empty() || g.events.len() > limits::MAX_GOAL_EVENTS {
                    return Err(QueryError::value(
                        "goal",
                        format!(
                            "`events` holds 1 to {} event names",
                            limits::MAX_GOAL_EVENTS
                        ),
                    ));
                }
                if g.events
                    .iter()
                    .any(|e| e.is_empty() || e.len() > limits::MAX_VALUE_CHARS)
                {
                    return Err(QueryError::value(
                        "goal",
                        format!("event names of 1 to {} bytes", limits::MAX_VALUE_CHARS),
                    ));
                }
                Some(Goal {
                    events: g.events.clone(),
                    within_ms: Window::parse("within", &g.within)?.ms,
                })
            }
        };
        Ok((sender, range, goal))
    }
}

impl CampaignPlan {
    /// The result from the statement's rows.
    pub fn finish(&self, rows: Vec<CampaignRow>) -> CampaignResult {
        let mut channels: BTreeMap<String, BTreeMap<&'static str, Count>> = BTreeMap::new();
        let (mut reached, mut converted) = (0, 0);
        for r in rows {
            match r.kind.as_str() {
                "reached" => reached = r.people,
                "converted" => converted = r.people,
                _ => {
                    let Some(name) = r.event.as_deref().and_then(short) else {
                        continue;
                    };
                    let channel = r
                        .channel
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "unknown".into());
                    let counts = channels.entry(channel).or_default();
                    let c = counts.entry(name).or_default();
                    c.events += r.events;
                    c.people += r.people;
                }
            }
        }
        let ratio = |a: i64, b: i64| {
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            (b > 0).then(|| a as f64 / b as f64)
        };
        let channels = channels
            .into_iter()
            .map(|(channel, mut counts)| {
                for e in CAMPAIGN_EVENTS.iter().filter_map(|e| short(e)) {
                    counts.entry(e).or_default();
                }
                let people = |k: &str| counts.get(k).map_or(0, |c| c.people);
                let click_rate = ratio(people("clicked"), people("shown"));
                ChannelResult {
                    channel,
                    counts,
                    click_rate,
                }
            })
            .collect();
        CampaignResult {
            sender: self.sender.clone(),
            from: format_instant(self.range.from),
            to: format_instant(self.range.to),
            channels,
            reached,
            goal: self.goal.as_ref().map(|g| GoalResult {
                events: g.events.clone(),
                within_ms: g.within_ms,
                converted,
                conversion_rate: ratio(converted, reached),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(v: serde_json::Value) -> CampaignQuery {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn exactly_one_sender_and_a_bounded_goal() {
        let base = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z"});
        let with = |extra: serde_json::Value| {
            let mut v = base.clone();
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            query(v)
        };
        for bad in [
            json!({}),
            json!({"rule": "a", "journey": "b"}),
            json!({"rule": ""}),
            json!({"rule": "a", "goal": {"events": [], "within": "1d"}}),
            json!({"rule": "a", "goal": {"events": ["x"], "within": "soon"}}),
            json!({"rule": "a", "goal": {"events": [""], "within": "1d"}}),
            json!({"rule": "a", "goal": {"events": vec!["e"; limits::MAX_GOAL_EVENTS + 1], "within": "1d"}}),
        ] {
            let q = with(bad.clone());
            assert!(
                matches!(q.plan(None), Err(QueryError::Value { .. })),
                "{bad}"
            );
            assert!(q.plan_clickhouse(None).is_err(), "{bad}");
        }
        let ok = with(
            json!({"rule": "a", "goal": {"events": vec!["e"; limits::MAX_GOAL_EVENTS], "within": "1d"}}),
        );
        assert!(ok.plan(None).is_ok());
        assert!(ok.plan_clickhouse(None).is_ok());
    }

    #[test]
    fn values_are_bound_and_the_journey_goal_is_the_default() {
        let q = query(
            json!({"journey": "j'1", "from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}),
        );
        let goal = Goal {
            events: vec!["Order Completed".into()],
            within_ms: 3_600_000,
        };
        let plan = q.plan(Some(goal.clone())).unwrap();
        assert!(!plan.sql.text.contains("j'1"), "{}", plan.sql.text);
        assert!(plan
            .sql
            .params
            .contains(&super::super::SqlValue::Text("j'1".into())));
        assert!(plan.sql.text.contains("'converted'"));
        assert_eq!(plan.goal, Some(goal));
        // Without a goal, no conversion part.
        let plan = q.plan(None).unwrap();
        assert!(!plan.sql.text.contains("'converted'"));
        // ClickHouse: the id through the literal encoder.
        let ch = q.plan_clickhouse(None).unwrap();
        assert!(ch.sql.text.contains(r"'j\'1'"), "{}", ch.sql.text);
    }

    #[test]
    fn rows_become_channels_with_every_event_and_rates() {
        let q = query(
            json!({"rule": "r", "from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z",
            "goal": {"events": ["Buy"], "within": "1d"}}),
        );
        let plan = q.plan(None).unwrap();
        let row =
            |kind: &str, event: Option<&str>, channel: Option<&str>, events, people| CampaignRow {
                kind: kind.into(),
                event: event.map(Into::into),
                channel: channel.map(Into::into),
                events,
                people,
            };
        let result = plan.finish(vec![
            row("message", Some("$message_shown"), Some("push"), 4, 4),
            row("message", Some("$message_clicked"), Some("push"), 2, 1),
            // The Worker's push events (issue 12): sends, deliveries, failures.
            row("message", Some("$message_sent"), Some("push"), 5, 5),
            row("message", Some("$message_delivered"), Some("push"), 5, 5),
            row("message", Some("$message_failed"), Some("push"), 2, 2),
            row("message", Some("$message_sent"), Some("email"), 3, 3),
            row("message", Some("$message_sent"), None, 1, 1),
            row("message", Some("$not_ours"), Some("push"), 9, 9),
            row("reached", None, None, 0, 8),
            row("converted", None, None, 0, 2),
        ]);
        let v = serde_json::to_value(&result).unwrap();
        assert_eq!(v["sender"], json!({"rule": "r"}));
        assert_eq!(v["reached"], 8);
        assert_eq!(
            v["goal"],
            json!({"events": ["Buy"], "withinMs": 86_400_000, "converted": 2, "conversionRate": 0.25})
        );
        let names: Vec<_> = result.channels.iter().map(|c| c.channel.as_str()).collect();
        assert_eq!(names, ["email", "push", "unknown"]);
        let push = &v["channels"][1];
        assert_eq!(push["shown"], json!({"events": 4, "people": 4}));
        assert_eq!(push["clicked"], json!({"events": 2, "people": 1}));
        assert_eq!(push["sent"], json!({"events": 5, "people": 5}));
        assert_eq!(push["delivered"], json!({"events": 5, "people": 5}));
        assert_eq!(push["failed"], json!({"events": 2, "people": 2}));
        assert_eq!(
            v["channels"][0]["delivered"],
            json!({"events": 0, "people": 0})
        );
        assert_eq!(push["clickRate"], 0.25);
        assert_eq!(v["channels"][0]["clickRate"], serde_json::Value::Null);
        for c in v["channels"].as_array().unwrap() {
            for e in CAMPAIGN_EVENTS {
                assert!(c.get(e.trim_start_matches("$message_")).is_some(), "{c}");
            }
        }
    }
}
