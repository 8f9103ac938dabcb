//! Every bound on analysis queries, named in one place.
//!
//! Invariant: a definition at a limit is accepted and one past it is refused with a
//! [`super::QueryError`] naming the key; nothing else in `query` hard-codes a size.

/// Largest query definition body.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// D1 binds at most 100 parameters per statement.
pub const MAX_SQL_PARAMS: usize = 100;
/// Longest time range a query may cover, in days.
pub const MAX_RANGE_DAYS: i64 = 400;
/// Most time buckets an insight may return.
pub const MAX_BUCKETS: i64 = 1_000;
/// Most periods (days or weeks) a retention table covers: the triangle then has at most
/// 90 × 91 / 2 cells, still one screen of a heat table, and one period more than a quarter
/// of days.
pub const MAX_RETENTION_PERIODS: usize = 90;
/// Fewest and most funnel steps.
pub const MIN_FUNNEL_STEPS: usize = 2;
/// Most funnel steps.
pub const MAX_FUNNEL_STEPS: usize = 10;
/// Longest funnel conversion window or segment `within`, in days.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// Most breakdown groups shown before the rest is summed into "other".
pub const MAX_BREAKDOWN_LIMIT: usize = 25;
/// Default breakdown groups.
pub const DEFAULT_BREAKDOWN_LIMIT: usize = 5;
/// Most event names in a campaign results goal.
pub const MAX_GOAL_EVENTS: usize = 10;
/// Most property filters on one step or condition.
pub const MAX_FILTERS: usize = 10;
/// Most values in an `in` filter.
pub const MAX_IN_VALUES: usize = 20;
/// Most leaf conditions (did, last seen, trait) in a segment.
pub const MAX_CONDITIONS: usize = 16;
/// Deepest nesting of and/or/not in a segment.
pub const MAX_CONDITION_DEPTH: usize = 8;
/// Most user ids in one segment page.
pub const MAX_PAGE: usize = 1_000;
/// Default user ids in one segment page.
pub const DEFAULT_PAGE: usize = 100;
/// Most events the live stream returns at once.
pub const MAX_RECENT: usize = 200;
/// Most events one live-stream push carries (the newest of a stored batch; the dashboard
/// shows 25).
pub const MAX_LIVE_PUSH: usize = 50;
/// Most dashboards connected to the live stream at once (one Durable Object holds them all).
pub const MAX_LIVE_SOCKETS: usize = 64;
/// How long a live-stream socket may stay open without sending the admin token.
pub const LIVE_AUTH_WINDOW_MS: i64 = 10_000;
/// Longest field path (after the `properties.` prefix), in segments.
pub const MAX_PATH_SEGMENTS: usize = 8;
/// Longest path segment, in characters.
pub const MAX_PATH_SEGMENT_CHARS: usize = 128;
/// Longest string used as a filter value or event name, in characters.
pub const MAX_VALUE_CHARS: usize = 1_024;
/// Most properties a conversion-drivers query compares by value.
pub const MAX_DRIVER_PROPERTIES: usize = 5;
/// Most candidate values per driver list (track event names, and each property's values):
/// the ones the most entrants have, ties by value; the rest are not compared.
pub const MAX_DRIVER_VALUES: usize = 50;
/// Default number of drivers returned.
pub const DEFAULT_DRIVERS: usize = 20;
/// Most drivers returned.
pub const MAX_DRIVERS: usize = 100;
/// How often a query's zone offset is sampled while its changes are looked for (6 h: no zone
/// changes its offset twice within that; each change is then bisected to the ms).
pub const ZONE_PROBE_MS: i64 = 6 * 3_600_000;
/// Most offset changes of a zone within one query's range (real zones: about 2 a year).
pub const MAX_ZONE_CHANGES: usize = 16;
/// How far before a query's range the zone offsets of first-seen cohorts are looked up, in
/// days: a year covers every recent DST change; earlier first sightings use the earliest
/// offset known.
pub const COHORT_ZONE_LOOKBACK_DAYS: i64 = 366;
