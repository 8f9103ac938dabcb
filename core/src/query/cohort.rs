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
//!   it — the rule segments use. Profiles live in D1 only, so on ClickHouse the Worker first
//!   reads the profiles that have the trait from D1 ([`Cohort::profile_sql`], at most
//!   [`limits::MAX_COHORT_PROFILES`]) and passes them into the ClickHouse statement as literal
//!   arrays through the one encoder ([`TraitMap`]); the identify fallback is read in ClickHouse.

use serde::Deserialize;
use serde_json::Value;

use super::clickhouse::{literal, KIND_NUMBER, KIND_TEXT};
use super::field::json_path;
use super::sql::{Params, Sql, EVENTS_WITH_ALIASES, PERSON};
use super::time_range::{format_instant, TimeRange, DAY_MS};
use super::zone::ZoneTable;
use super::{limits, QueryError};
use crate::journeys::Zones;

/// `{"by": "first_seen", "period": "week"}` or `{"by": "trait", "trait": "plan"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Cohort {
    /// The period of the person's first stored event.
    FirstSeen {
        /// `week` (default, local Monday 00:00) or `day`.
        #[serde(default)]
        period: CohortPeriod,
    },
    /// A profile trait (dotted path inside the traits object).
    Trait {
        /// The trait's name, e.g. `plan` or `company.size`.
        #[serde(rename = "trait")]
        name: String,
    },
}

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

/// One profile's trait value, as read from D1 by [`Cohort::profile_sql`].
#[derive(Debug, Clone, Deserialize)]
pub struct ProfileTrait {
    /// The user id (a person id: profiles are keyed by user id).
    pub person: String,
    /// The trait's value as `json_extract` returns it.
    #[serde(default)]
    pub value: Value,
}

/// Profile trait values passed into a ClickHouse statement (profiles stay in D1).
#[derive(Debug, Clone, Default)]
pub struct TraitMap {
    rows: Vec<ProfileTrait>,
}

impl TraitMap {
    /// The map from [`Cohort::profile_sql`]'s rows; more than
    /// [`limits::MAX_COHORT_PROFILES`] is refused (the statement would be too large).
    pub fn new(rows: Vec<ProfileTrait>) -> Result<Self, QueryError> {
        if rows.len() > limits::MAX_COHORT_PROFILES {
            return Err(QueryError::value(
                "cohort",
                format!(
                    "more than {} profiles carry this trait; on ClickHouse a trait cohort \
                     reads at most that many profiles",
                    limits::MAX_COHORT_PROFILES
                ),
            ));
        }
        Ok(TraitMap { rows })
    }
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

    /// For a trait cohort on ClickHouse: the D1 statement reading the profiles that have the
    /// trait (rows [`ProfileTrait`]); `None` for a first-seen cohort. It asks for one row more
    /// than [`limits::MAX_COHORT_PROFILES`] so [`TraitMap::new`] can tell "too many".
    pub fn profile_sql(&self) -> Result<Option<Sql>, QueryError> {
        let Cohort::Trait { name } = self else {
            return Ok(None);
        };
        let path = trait_path(name)?;
        let mut p = Params::default();
        let t = p.text(&path);
        let text = format!(
            "SELECT user_id AS person, json_extract(traits, {t}) AS value FROM users \
             WHERE json_extract(traits, {t}) IS NOT NULL ORDER BY user_id LIMIT {}",
            limits::MAX_COHORT_PROFILES + 1
        );
        Ok(Some(p.finish(text)?))
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

    /// The ClickHouse pieces: a join to append to a subquery that has a `person` column, and
    /// the `bk`/`bn`/`bs` columns (the typed cohort value) over the joined row.
    pub(crate) fn clickhouse(&self, traits: &TraitMap) -> Result<(String, String), QueryError> {
        let person = format!(
            "(SELECT {} AS person, ts_ms FROM (SELECT user_id, anonymous_id, {}, ts_ms FROM events) \
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
                         (SELECT person, min(ts_ms) AS fs FROM {person} GROUP BY person)) USING person"
                    ),
                    format!("toUInt8(if(cn = 0, 0, {KIND_NUMBER})) AS bk, cn AS bn, '' AS bs"),
                ))
            }
            Plan::Trait { path } => {
                let key = literal::string(
                    super::clickhouse::field_key(super::field::JsonColumn::Traits, path).as_bytes(),
                );
                let i = format!("indexOf(f_key, {key})");
                let identify = format!(
                    "(SELECT person, argMax(tuple(tk, tn, tsv), ts_ms) AS ct FROM \
                     (SELECT {} AS person, ts_ms, tk, tn, tsv FROM \
                     (SELECT message_id, user_id, anonymous_id, {}, ts_ms, f_kind[{i}] AS tk, \
                     f_num[{i}] AS tn, f_str[{i}] AS tsv FROM events WHERE type = 'identify' \
                     AND f_kind[{i}] IN ({KIND_NUMBER}, {KIND_TEXT}) LIMIT 1 BY message_id) \
                     ANY LEFT JOIN {} USING link) GROUP BY person)",
                    super::clickhouse::PERSON,
                    super::clickhouse::LINK,
                    super::clickhouse::ALIASES
                );
                // Each profile is its id and the index of its value among the distinct values,
                // so the statement grows by about one id per profile.
                let (mut ids, mut idx, mut values): (Vec<String>, Vec<String>, Vec<Value>) =
                    (Vec::new(), Vec::new(), Vec::new());
                for r in &traits.rows {
                    if r.value.is_null() {
                        continue;
                    }
                    let i = match values.iter().position(|v| *v == r.value) {
                        Some(i) => i,
                        None => {
                            values.push(r.value.clone());
                            values.len() - 1
                        }
                    };
                    ids.push(literal::string(r.person.as_bytes()));
                    idx.push((i + 1).to_string());
                }
                let mut tuples = Vec::with_capacity(values.len());
                for v in &values {
                    let (k, n, s) = match v {
                        Value::Bool(b) => (KIND_NUMBER, f64::from(u8::from(*b)), String::new()),
                        Value::Number(n) => (KIND_NUMBER, n.as_f64().unwrap_or(0.0), String::new()),
                        Value::String(s) => (KIND_TEXT, 0.0, s.clone()),
                        other => (KIND_TEXT, 0.0, other.to_string()),
                    };
                    tuples.push(format!(
                        "(toUInt8({k}), {}, {})",
                        literal::float(n)?,
                        literal::string(s.as_bytes())
                    ));
                }
                let ck = "toUInt8(tupleElement(ct, 1))";
                let cn = "toFloat64(tupleElement(ct, 2))";
                let cs = "toString(tupleElement(ct, 3))";
                let cols = if ids.is_empty() {
                    format!("{ck} AS bk, {cn} AS bn, {cs} AS bs")
                } else {
                    format!(
                        "arrayElement([{}], indexOf([{}], person)) AS pi, \
                         arrayElement([{}], pi) AS pv, \
                         if(pi > 0, tupleElement(pv, 1), {ck}) AS bk, \
                         if(pi > 0, tupleElement(pv, 2), {cn}) AS bn, \
                         if(pi > 0, tupleElement(pv, 3), {cs}) AS bs",
                        idx.join(", "),
                        ids.join(", "),
                        tuples.join(", ")
                    )
                };
                Ok((format!(" ANY LEFT JOIN {identify} USING person"), cols))
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
    fn clickhouse_passes_profiles_through_the_encoder() {
        let q = insight(json!({"by": "trait", "trait": "plan"}));
        let traits = TraitMap::new(vec![
            ProfileTrait {
                person: "o'x".into(),
                value: json!("pro"),
            },
            ProfileTrait {
                person: "u2".into(),
                value: json!(3),
            },
        ])
        .unwrap();
        let text = q
            .plan_clickhouse(&crate::journeys::FixedZones, &traits)
            .unwrap()
            .sql
            .text;
        assert!(text.contains(r"indexOf(['o\'x', 'u2'], person)"), "{text}");
        assert!(text.contains("arrayElement([1, 2], indexOf("), "{text}");
        assert!(
            text.contains(r#"indexOf(f_key, 'traits$."plan"')"#),
            "{text}"
        );
        assert!(text.contains("type = 'identify'"), "{text}");
        let empty = q
            .plan_clickhouse(&crate::journeys::FixedZones, &TraitMap::default())
            .unwrap()
            .sql
            .text;
        assert!(!empty.contains("indexOf(["), "{empty}");
        let f = funnel(json!({"by": "first_seen"}))
            .plan_clickhouse(&crate::journeys::FixedZones, &TraitMap::default())
            .unwrap()
            .sql
            .text;
        assert!(f.contains("min(ts_ms) AS fs"), "{f}");
    }

    #[test]
    fn profile_reads_are_bounded_at_the_limit() {
        let sql = Cohort::Trait {
            name: "plan".into(),
        }
        .profile_sql()
        .unwrap()
        .unwrap();
        assert!(sql
            .text
            .ends_with(&format!("LIMIT {}", limits::MAX_COHORT_PROFILES + 1)));
        assert!(Cohort::FirstSeen {
            period: CohortPeriod::Week
        }
        .profile_sql()
        .unwrap()
        .is_none());
        let rows = |n: usize| {
            (0..n)
                .map(|i| ProfileTrait {
                    person: format!("u{i}"),
                    value: json!("pro"),
                })
                .collect::<Vec<_>>()
        };
        assert!(TraitMap::new(rows(limits::MAX_COHORT_PROFILES)).is_ok());
        let e = TraitMap::new(rows(limits::MAX_COHORT_PROFILES + 1)).unwrap_err();
        assert_eq!(e.code(), "invalid_value");
    }
}
