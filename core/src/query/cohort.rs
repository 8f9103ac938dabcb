//! Engagement by cohort: an insight or funnel broken down by a property of the *person* rather
//! than of the event — the week (or day) they were first seen, or a profile trait.
//!
//! Invariant: a person's cohort is one value for the whole query, the same on both stores, and
//! nobody is dropped: a person without the trait is in the `null` group. It feeds the same
//! top-N + "other" grouping as a field breakdown (`bd` in SQLite, `bk`/`bn`/`bs` in ClickHouse),
//! so the answer's shape is the breakdown's.
//!
//! - First seen: the person's earliest stored event of any kind, over all time (not only the
//!   query range), resolved through the same identity mapping as every analysis. Its period is
//!   the local day or the local ISO week (Monday 00:00) in the query's `timezone`; the group key
//!   is that local midnight and the answer labels it with its instant (RFC 3339). Zone offsets
//!   are known from [`limits::COHORT_ZONE_LOOKBACK_DAYS`] before the range; earlier first
//!   sightings use the earliest offset known (an hour's difference at most, and none in UTC).
//! - Trait: the profile's trait (D1 `users.traits`), else the latest `identify` event carrying
//!   it — the rule segments use. On ClickHouse the profile is read from its `users` table, the
//!   consumer's mirror of D1's rows (merged traits, highest revision per user wins), so a trait
//!   cohort covers any number of profiles and gives D1's answer once the mirror has caught up
//!   (the consumer mirrors changed rows before it inserts the events of the same message).

use serde::Deserialize;
use serde_json::Value;

use super::clickhouse::{literal, KIND_NUMBER, KIND_TEXT};
use super::field::json_path;
use super::sql::{Params, EVENTS_WITH_ALIASES, PERSON};
use super::time_range::{format_instant, TimeRange, DAY_MS};
use super::zone::ZoneTable;
use super::{limits, QueryError};
use crate::journeys::Zones;

/// `{"by": "first_seen", "period": "week"}` or `{"by": "trait", "trait": "plan"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cohort {
    /// The period of the person's first stored event.
    FirstSeen {
        /// `week` (default, local Monday 00:00) or `day`.
        period: CohortPeriod,
    },
    /// A profile trait (dotted path inside the traits object).
    Trait {
        /// The trait's name (key `trait`), e.g. `plan` or `company.size`.
        name: String,
    },
}

/// Read in any key order through [`crate::any_order`] (no buffering derive), with the mirror
/// below: the variants, renames, defaults and `deny_unknown_fields` of [`Cohort`].
impl<'de> Deserialize<'de> for Cohort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::any_order::deserialize(d, "by", &[], CohortIn::deserialize)
    }
}

#[derive(Deserialize)]
#[serde(remote = "Cohort", rename_all = "snake_case", deny_unknown_fields)]
enum CohortIn {
    FirstSeen {
        #[serde(default)]
        period: CohortPeriod,
    },
    Trait {
        #[serde(rename = "trait")]
        name: String,
    },
}

/// The rank of a profile's trait among a person's candidate values on ClickHouse: above any
/// event time (ms), so the profile's value wins over every identify event.
const PROFILE_RANK: i64 = i64::MAX;

/// The period of a first-seen cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CohortPeriod {
    /// Local calendar day.
    Day,
    /// Local ISO week, from Monday 00:00.
    #[default]
    Week,
}

/// A validated cohort: what the SQL of either store needs.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    FirstSeen {
        period: CohortPeriod,
        zone: ZoneTable,
    },
    Trait {
        /// SQLite JSON path (`$."plan"`).
        path: String,
    },
}

impl Cohort {
    /// Validates the cohort; `timezone` and the scanned `range` decide first-seen periods.
    pub(crate) fn plan(
        &self,
        zones: &dyn Zones,
        timezone: Option<&str>,
        range: TimeRange,
    ) -> Result<Plan, QueryError> {
        Ok(match self {
            Cohort::FirstSeen { period } => {
                let zone = match timezone {
                    Some(z) => ZoneTable::probe(
                        zones,
                        z,
                        range
                            .from
                            .saturating_sub(limits::COHORT_ZONE_LOOKBACK_DAYS * DAY_MS),
                        range.to,
                    )?,
                    None => ZoneTable::utc(),
                };
                Plan::FirstSeen {
                    period: *period,
                    zone,
                }
            }
            Cohort::Trait { name } => Plan::Trait {
                path: trait_path(name)?,
            },
        })
    }
}

/// The SQLite JSON path of a trait name, refused as `traits.<name>` when invalid.
fn trait_path(name: &str) -> Result<String, QueryError> {
    json_path(name).map_err(|why| QueryError::Field {
        field: format!(
            "traits.{}",
            name.chars()
                .take(limits::MAX_VALUE_CHARS)
                .collect::<String>()
        ),
        why,
    })
}

/// Refuses `breakdown` and `cohort` together: one query has one grouping.
pub(crate) fn exclusive(
    breakdown: Option<&String>,
    cohort: Option<&Cohort>,
) -> Result<(), QueryError> {
    if breakdown.is_some() && cohort.is_some() {
        return Err(QueryError::value(
            "cohort",
            "give either `breakdown` (an event field) or `cohort` (a person's), not both",
        ));
    }
    Ok(())
}

/// The SQLite pieces: a CTE (`coh`), the joins that reach it from an `events e` row, and the
/// person's cohort value as an expression over them.
pub(crate) struct SqliteCohort {
    /// `coh AS MATERIALIZED (…)`, to put first in a `WITH`.
    pub cte: String,
    /// Joins after `events e LEFT JOIN aliases a …`.
    pub joins: String,
    /// The cohort value.
    pub value: String,
}

/// A period key over the local-time expression `local` (ms): the local midnight starting its
/// day or week. Times are positive, so integer division is floor on both stores.
fn period_key(local: &str, period: CohortPeriod, clickhouse: bool) -> String {
    let day = if clickhouse {
        format!("intDiv({local}, {DAY_MS})")
    } else {
        format!("({local} / {DAY_MS})")
    };
    match period {
        CohortPeriod::Day => format!("{day} * {DAY_MS}"),
        // 1970-01-01 was a Thursday: (day + 3) % 7 is the number of days since Monday.
        CohortPeriod::Week => format!("({day} - ({day} + 3) % 7) * {DAY_MS}"),
    }
}

impl Plan {
    /// The SQLite pieces (values bound in `p`).
    pub(crate) fn sqlite(&self, p: &mut Params) -> SqliteCohort {
        match self {
            Plan::FirstSeen { period, zone } => {
                let local = if zone.is_utc() {
                    "coh.v".to_string()
                } else {
                    format!("(coh.v + {})", zone.sqlite_offset("coh.v"))
                };
                SqliteCohort {
                    cte: format!(
                        "coh AS MATERIALIZED (SELECT {PERSON} AS person, MIN(e.ts_ms) AS v \
                         FROM {EVENTS_WITH_ALIASES} GROUP BY 1)"
                    ),
                    joins: format!(" LEFT JOIN coh ON coh.person = {PERSON}"),
                    value: period_key(&local, *period, false),
                }
            }
            Plan::Trait { path } => {
                let t = p.text(path);
                SqliteCohort {
                    cte: format!(
                        "coh AS MATERIALIZED (SELECT {PERSON} AS person, \
                         MAX(printf('%015d', e.ts_ms) || (e.traits -> {t})) AS tv \
                         FROM {EVENTS_WITH_ALIASES} WHERE e.type = 'identify' \
                         AND (e.traits ->> {t}) IS NOT NULL GROUP BY 1)"
                    ),
                    joins: format!(
                        " LEFT JOIN coh ON coh.person = {PERSON} \
                         LEFT JOIN users cu ON cu.user_id = {PERSON}"
                    ),
                    value: format!(
                        "COALESCE(json_extract(cu.traits, {t}), substr(coh.tv, 16) ->> '$')"
                    ),
                }
            }
        }
    }

    /// The ClickHouse pieces: a join to append to a subquery that has a `person` column (and
    /// an alias: current servers refuse joins of unnamed subqueries), and
    /// the `bk`/`bn`/`bs` columns (the typed cohort value) over the joined row.
    pub(crate) fn clickhouse(&self) -> Result<(String, String), QueryError> {
        let person = format!(
            "(SELECT {} AS person, ts_ms FROM (SELECT user_id, anonymous_id, {}, ts_ms FROM events) AS ev \
             ANY LEFT JOIN {} USING link)",
            super::clickhouse::PERSON,
            super::clickhouse::LINK,
            super::clickhouse::ALIASES
        );
        match self {
            Plan::FirstSeen { period, zone } => {
                let local = if zone.is_utc() {
                    "fs".to_string()
                } else {
                    format!("(fs + {})", zone.clickhouse_offset("fs"))
                };
                let key = period_key(&local, *period, true);
                // min() needs no dedup: a repeated message_id has the same time.
                Ok((
                    format!(
                        " ANY LEFT JOIN (SELECT person, toFloat64({key}) AS cn FROM \
                         (SELECT person, min(ts_ms) AS fs FROM {person} GROUP BY person)) AS coh USING person"
                    ),
                    format!("toUInt8(if(cn = 0, 0, {KIND_NUMBER})) AS bk, cn AS bn, '' AS bs"),
                ))
            }
            Plan::Trait { path } => {
                let key = literal::string(
                    super::clickhouse::field_key(super::field::JsonColumn::Traits, path).as_bytes(),
                );
                let i = format!("indexOf(f_key, {key})");
                // Candidates per person, ranked by `ord`: every identify event carrying the trait
                // (its time), and the profile's value (above any time), so the profile wins and
                // else the latest identify — D1's COALESCE(profile, latest identify). 18.16 joins
                // one table per SELECT, hence one UNION ALL rather than two joins.
                let identify = format!(
                    "SELECT {} AS person, ts_ms AS ord, tk, tn, tsv FROM ({}) AS ev \
                     ANY LEFT JOIN {} USING link",
                    super::clickhouse::PERSON,
                    super::clickhouse::distinct_events(
                        &format!(
                            "message_id, user_id, anonymous_id, {}, ts_ms, f_kind[{i}] AS tk, \
                             f_num[{i}] AS tn, f_str[{i}] AS tsv",
                            super::clickhouse::LINK
                        ),
                        &format!(
                            "type = 'identify' AND f_kind[{i}] IN ({KIND_NUMBER}, {KIND_TEXT})"
                        )
                    ),
                    super::clickhouse::ALIASES
                );
                let profile = format!(
                    "SELECT person, toInt64({PROFILE_RANK}) AS ord, \
                     toUInt8(tupleElement(pv, 1)) AS tk, toFloat64(tupleElement(pv, 2)) AS tn, \
                     toString(tupleElement(pv, 3)) AS tsv FROM \
                     (SELECT user_id AS person, argMax(tuple(f_kind[{i}], f_num[{i}], f_str[{i}]), rev) \
                     AS pv FROM users GROUP BY user_id) \
                     WHERE tupleElement(pv, 1) IN ({KIND_NUMBER}, {KIND_TEXT})"
                );
                Ok((
                    format!(
                        " ANY LEFT JOIN (SELECT person, argMax(tuple(tk, tn, tsv), ord) AS ct FROM \
                         ({identify} UNION ALL {profile}) GROUP BY person) AS coh USING person"
                    ),
                    "toUInt8(tupleElement(ct, 1)) AS bk, toFloat64(tupleElement(ct, 2)) AS bn, \
                     toString(tupleElement(ct, 3)) AS bs"
                        .to_string(),
                ))
            }
        }
    }

    /// The answer's label of a group key: a first-seen period's start instant (RFC 3339); a
    /// trait value as it is.
    pub(crate) fn label(&self, key: Value) -> Value {
        match self {
            Plan::FirstSeen { zone, .. } => match key.as_f64() {
                #[allow(clippy::cast_possible_truncation)] // ms keys are integral and < 2^53
                Some(k) => Value::String(format_instant(zone.utc_of_local(k as i64))),
                None => key,
            },
            Plan::Trait { .. } => key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{FunnelQuery, InsightQuery};
    use serde_json::json;

    fn insight(cohort: Value) -> InsightQuery {
        serde_json::from_value(json!({"from": "2026-11-01T00:00:00Z",
            "to": "2026-11-15T00:00:00Z", "cohort": cohort}))
        .unwrap()
    }

    fn funnel(cohort: Value) -> FunnelQuery {
        serde_json::from_value(json!({"steps": [{"event": "A"}, {"event": "B"}],
            "from": "2026-11-01T00:00:00Z", "to": "2026-11-15T00:00:00Z", "cohort": cohort}))
        .unwrap()
    }

    #[test]
    fn shapes_parse_and_unknown_ones_are_refused() {
        let c: Cohort = serde_json::from_value(json!({"by": "first_seen"})).unwrap();
        assert_eq!(
            c,
            Cohort::FirstSeen {
                period: CohortPeriod::Week
            }
        );
        let c: Cohort = serde_json::from_value(json!({"by": "trait", "trait": "plan"})).unwrap();
        assert_eq!(
            c,
            Cohort::Trait {
                name: "plan".into()
            }
        );
        for bad in [
            json!({"by": "last_seen"}),
            json!({"by": "first_seen", "period": "month"}),
            json!({"by": "first_seen", "trait": "plan"}),
            json!({"by": "trait"}),
            json!({"trait": "plan"}),
        ] {
            let body = serde_json::to_vec(&json!({"from": "2026-11-01T00:00:00Z",
                "to": "2026-11-02T00:00:00Z", "cohort": bad}))
            .unwrap();
            let e = crate::query::parse::<InsightQuery>(&body).unwrap_err();
            assert_eq!(e.code(), "invalid_query", "{bad}");
        }
    }

    #[test]
    fn refuses_breakdown_with_cohort_and_bad_trait_names() {
        let mut q = insight(json!({"by": "trait", "trait": "plan"}));
        q.breakdown = Some("properties.plan".into());
        let e = q.plan().unwrap_err();
        assert_eq!(e.code(), "invalid_value");
        assert!(e.to_string().contains("either `breakdown`"), "{e}");
        let mut f = funnel(json!({"by": "first_seen"}));
        f.breakdown = Some("properties.plan".into());
        assert_eq!(f.plan().unwrap_err().code(), "invalid_value");
        for name in ["", "a..b"] {
            let e = insight(json!({"by": "trait", "trait": name}))
                .plan()
                .unwrap_err();
            assert_eq!(e.code(), "invalid_field", "{name}");
            let e = funnel(json!({"by": "trait", "trait": name}))
                .plan()
                .unwrap_err();
            assert_eq!(e.code(), "invalid_field", "{name}");
        }
    }

    #[test]
    fn sqlite_binds_the_trait_and_groups_by_the_persons_value() {
        let plan = insight(json!({"by": "trait", "trait": "pl'an"}))
            .plan()
            .unwrap();
        let text = &plan.sql.text;
        assert!(!text.contains("pl'an"), "{text}");
        assert!(plan
            .sql
            .params
            .contains(&crate::query::SqlValue::Text("$.\"pl'an\"".into())));
        assert!(text.starts_with("WITH coh AS MATERIALIZED"), "{text}");
        assert!(
            text.contains("LEFT JOIN users cu ON cu.user_id = COALESCE("),
            "{text}"
        );
        assert!(text.contains("r AS (SELECT bd, ROW_NUMBER()"), "{text}");
        let f = funnel(json!({"by": "trait", "trait": "plan"}))
            .plan()
            .unwrap();
        assert!(f.sql.text.starts_with("WITH coh AS MATERIALIZED"));
        assert!(f.sql.text.contains("THEN COALESCE(json_extract(cu.traits"));
    }

    #[test]
    fn first_seen_weeks_start_on_local_mondays() {
        let utc = insight(json!({"by": "first_seen"})).plan().unwrap();
        assert!(
            utc.sql
                .text
                .contains("((coh.v / 86400000) - ((coh.v / 86400000) + 3) % 7) * 86400000"),
            "{}",
            utc.sql.text
        );
        let day = insight(json!({"by": "first_seen", "period": "day"}))
            .plan()
            .unwrap();
        assert!(day.sql.text.contains("(coh.v / 86400000) * 86400000"));
        // The key is a local midnight; the label is its instant. 2026-11-02 is a Monday.
        let monday = 1_793_577_600_000; // 2026-11-02T00:00:00Z
        let plan = Plan::FirstSeen {
            period: CohortPeriod::Week,
            zone: ZoneTable::from_cuts(-5 * 3_600_000, &[]),
        };
        assert_eq!(plan.label(json!(monday)), json!("2026-11-02T05:00:00Z"));
        assert_eq!(
            plan.label(json!(monday as f64)),
            json!("2026-11-02T05:00:00Z")
        );
        // Weeks are Monday-aligned: 1970-01-05 was a Monday, the Thursday epoch is 3 days in.
        let week = |d: i64| (d - (d + 3) % 7) * DAY_MS;
        assert_eq!(week(monday / DAY_MS), monday);
        assert_eq!(week(monday / DAY_MS + 6), monday);
        assert_eq!(week(monday / DAY_MS + 7), monday + 7 * DAY_MS);
        // A zone's offsets are read from before the range: first sightings predate it.
        let ny = insight(json!({"by": "first_seen"}));
        let mut ny = ny;
        ny.timezone = Some("-05:00".into());
        let text = ny.plan().unwrap().sql.text;
        assert!(text.contains("(coh.v + -18000000)"), "{text}");
    }

    #[test]
    fn clickhouse_reads_profiles_from_its_users_table() {
        let q = insight(json!({"by": "trait", "trait": "pl'an"}));
        let text = q
            .plan_clickhouse(&crate::journeys::FixedZones)
            .unwrap()
            .sql
            .text;
        // The trait name reaches the statement only through the encoder.
        assert!(
            text.contains(r#"indexOf(f_key, 'traits$."pl\'an"')"#),
            "{text}"
        );
        assert!(text.contains("FROM users GROUP BY user_id"), "{text}");
        assert!(text.contains("argMax("), "{text}");
        assert!(text.contains(&PROFILE_RANK.to_string()), "{text}");
        assert!(text.contains("type = 'identify'"), "{text}");
        let f = funnel(json!({"by": "first_seen"}))
            .plan_clickhouse(&crate::journeys::FixedZones)
            .unwrap()
            .sql
            .text;
        assert!(f.contains("min(ts_ms) AS fs"), "{f}");
        assert!(!f.contains("FROM users"), "{f}");
    }
}
