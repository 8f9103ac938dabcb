//! Campaign results in ClickHouse SQL (see [`crate::query::campaign`] for the semantics).
//!
//! Invariant: the same rows as the SQLite statement — `message` per (event, channel),
//! `reached`, and with a goal `converted` — from the same definition. 18.16 has no CTEs, so
//! the campaign events' subquery is written once per branch; each reads events through
//! `dedup_events`, so a redelivered event never counts twice.

use super::{compare, dedup_events, field, literal, ALIASES, PERSON};
use crate::query::campaign::{Goal, Sender, CAMPAIGN_EVENTS};
use crate::query::field::{Field, Filter, FilterOp};
use crate::query::time_range::TimeRange;
use crate::query::QueryError;

fn names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| literal::string(n.as_bytes()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement for a validated campaign query.
pub(crate) fn sql(
    sender: &Sender,
    range: TimeRange,
    goal: Option<&Goal>,
) -> Result<String, QueryError> {
    let (path, id) = match sender {
        Sender::Rule(id) => ("properties.ruleId", id),
        Sender::Journey(id) => ("properties.journeyId", id),
    };
    let by = Filter {
        field: path.into(),
        op: FilterOp::Eq,
        value: Some(id.as_str().into()),
    };
    let sender_cond = compare(&by, &field(&Field::parse(path)?))?;
    let channel = field(&Field::parse("properties.channel")?).s;
    let all = names(CAMPAIGN_EVENTS);
    let reached = names(["$message_sent", "$message_delivered", "$message_shown"]);
    let m = format!(
        "(SELECT {PERSON} AS person, event, {channel} AS channel, ts_ms AS t FROM {} \
         ANY LEFT JOIN {ALIASES} USING link)",
        dedup_events(
            ", event, f_key, f_kind, f_str, f_num",
            range.from,
            range.to,
            &format!("event IN ({all}) AND {sender_cond}")
        )
    );
    let mut text = format!(
        "SELECT 'message' AS kind, event, channel, toInt64(count()) AS events, \
         toInt64(uniqExact(person)) AS people FROM {m} GROUP BY event, channel \
         UNION ALL SELECT 'reached', '', '', toInt64(0), toInt64(uniqExact(person)) FROM {m} \
         WHERE event IN ({reached})"
    );
    if let Some(g) = goal {
        let within = literal::int(g.within_ms);
        let goals = dedup_events(
            ", event",
            range.from.saturating_add(1),
            range.to.saturating_add(g.within_ms).saturating_add(1),
            &format!("event IN ({})", names(g.events.iter().map(String::as_str))),
        );
        text.push_str(&format!(
            " UNION ALL SELECT 'converted', '', '', toInt64(0), toInt64(count()) FROM \
             (SELECT person FROM (SELECT person, min(t) AS t0 FROM {m} WHERE event IN ({reached}) \
             GROUP BY person) AS reach ALL INNER JOIN (SELECT {PERSON} AS person, ts_ms AS g FROM {goals} \
             ANY LEFT JOIN {ALIASES} USING link) AS goal USING person \
             WHERE g > t0 AND g <= t0 + {within} GROUP BY person)"
        ));
    }
    Ok(text)
}
