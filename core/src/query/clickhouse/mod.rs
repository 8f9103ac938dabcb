//! ClickHouse SQL for the same typed queries that `super` compiles to SQLite, plus the row
//! shape the events queue consumer inserts (`JSONEachRow`).
//!
//! Invariant: every value from a request reaches the SQL text through [`literal()`] (the single
//! seam); column names and functions are fixed text. The SQL keeps to what ClickHouse 18.16
//! (Debian's package) and current servers both run — the subset is listed in README.md, "ClickHouse".
//!
//! Storage model (`clickhouse/migrations/`): JSON columns are kept as text and also flattened
//! into parallel arrays `f_key`/`f_kind`/`f_str`/`f_num`, one entry per key path, because 18.16
//! has no `JSONExtract*` and `visitParam*` cannot address nested keys. A key is the column name
//! followed by the SQLite JSON path the query layer already validates (`properties$."plan"`),
//! so one [`super::Field`] maps to one array lookup. `f_kind` mirrors what SQLite's
//! `json_extract` returns: [`KIND_NULL`], [`KIND_NUMBER`] (booleans as 1/0), [`KIND_TEXT`]
//! (strings, and objects/arrays as their JSON text); a missing key reads as 0.
//!
//! Exactly once: the events consumer inserts only the first copy of each `messageId` — the
//! D1 ledger `message_ids` keeps the [`row_digest`] of the first copy's row, and a later copy
//! whose row differs (a client retry without `timestamp` gets a new `ts_ms`) is dropped, as
//! D1's `INSERT OR IGNORE` drops it — plus byte-identical redeliveries of it. Those have the
//! same sort key, which ends in `message_id`, so the `ReplacingMergeTree` collapses them on
//! merge; before a merge every query still reads each `message_id` once through
//! [`distinct_events`], so nothing counts twice, merged or not. A retry arriving after the
//! ledger's window (`limits::MESSAGE_ID_WINDOW_MS`) is stored, and counted, again.

pub mod campaign;
pub mod digest;
pub mod drivers;
pub mod funnel;
pub mod insight;
pub mod literal;
pub mod retention;
pub mod row;
pub mod segment;

pub use digest::row_digest;
pub use literal::literal;
pub use row::{
    alias_rows, decode_rows, event_row, user_row, AliasRootRow, AliasRow, EventRow, StoredUser,
    UserRow,
};

use serde_json::Value;

use super::field::{scalar, Column, EventMatcher, Field, Filter, FilterOp, JsonColumn};
use super::{limits, QueryError, SqlValue};

/// `f_kind` of a JSON null.
pub const KIND_NULL: u8 = 1;
/// `f_kind` of a number or boolean.
pub const KIND_NUMBER: u8 = 2;
/// `f_kind` of a string, object or array.
pub const KIND_TEXT: u8 = 3;

/// The typed parts of a field as SQL expressions over one `events` row.
pub(crate) struct Typed {
    /// Kind (0 when missing).
    pub k: String,
    /// Text value ('' unless text).
    pub s: String,
    /// Numeric value (0 unless a number).
    pub n: String,
}

impl Typed {
    /// A sort/group key ordered as SQLite orders `json_extract` values: NULL (missing or
    /// null) first, then numbers, then text.
    pub fn group_key(&self) -> String {
        format!("if({k} <= {KIND_NULL}, 0, {k})", k = self.k)
    }
}

fn column_name(c: JsonColumn) -> &'static str {
    match c {
        JsonColumn::Properties => "properties",
        JsonColumn::Context => "context",
        JsonColumn::Traits => "traits",
    }
}

/// The `f_key` of a JSON field: column name + SQLite JSON path.
pub fn field_key(column: JsonColumn, path: &str) -> String {
    format!("{}{path}", column_name(column))
}

/// The expressions reading a field.
pub(crate) fn field(f: &Field) -> Typed {
    match f {
        Field::Column(c) => {
            let col = match c {
                Column::Event => "event",
                Column::Name => "name",
                Column::Type => "type",
            };
            Typed {
                k: format!("if({col} = '', 0, {KIND_TEXT})"),
                s: col.into(),
                n: "toFloat64(0)".into(),
            }
        }
        Field::Json(c, path) => {
            let i = format!(
                "indexOf(f_key, {})",
                literal::string(field_key(*c, path).as_bytes())
            );
            Typed {
                k: format!("f_kind[{i}]"),
                s: format!("f_str[{i}]"),
                n: format!("f_num[{i}]"),
            }
        }
    }
}

/// One value compared for equality, with SQLite's typing (a text never equals a number).
fn eq(x: &Typed, v: &SqlValue) -> Result<String, QueryError> {
    Ok(match v {
        SqlValue::Text(_) => format!("({} = {KIND_TEXT} AND {} = {})", x.k, x.s, literal(v)?),
        SqlValue::Int(_) | SqlValue::Real(_) => {
            format!("({} = {KIND_NUMBER} AND {} = {})", x.k, x.n, literal(v)?)
        }
        SqlValue::Null => "0".into(),
    })
}

/// A filter's condition. Ordering follows SQLite's across types: numbers sort before text,
/// so `> 5` holds for any text and `< 'a'` for any number.
pub(crate) fn compare(f: &Filter, x: &Typed) -> Result<String, QueryError> {
    let op = f.op;
    let one = || -> Result<SqlValue, QueryError> {
        let v = f
            .value
            .as_ref()
            .ok_or_else(|| QueryError::value("value", format!("`{op:?}` needs a value")))?;
        scalar(v)
    };
    let ordered = |sym: &str, v: SqlValue| -> Result<String, QueryError> {
        let lit = literal(&v)?;
        let greater = sym.starts_with('>');
        Ok(match v {
            SqlValue::Text(_) if greater => {
                format!("({} = {KIND_TEXT} AND {} {sym} {lit})", x.k, x.s)
            }
            SqlValue::Text(_) => format!(
                "(({k} = {KIND_TEXT} AND {s} {sym} {lit}) OR {k} = {KIND_NUMBER})",
                k = x.k,
                s = x.s
            ),
            _ if greater => format!(
                "(({k} = {KIND_NUMBER} AND {n} {sym} {lit}) OR {k} = {KIND_TEXT})",
                k = x.k,
                n = x.n
            ),
            _ => format!("({} = {KIND_NUMBER} AND {} {sym} {lit})", x.k, x.n),
        })
    };
    Ok(match op {
        FilterOp::Eq => eq(x, &one()?)?,
        FilterOp::Neq => format!("NOT {}", eq(x, &one()?)?),
        FilterOp::Gt => ordered(">", one()?)?,
        FilterOp::Gte => ordered(">=", one()?)?,
        FilterOp::Lt => ordered("<", one()?)?,
        FilterOp::Lte => ordered("<=", one()?)?,
        FilterOp::Contains => match &f.value {
            Some(Value::String(s)) if !s.is_empty() => format!(
                "({} = {KIND_TEXT} AND position({}, {}) > 0)",
                x.k,
                x.s,
                literal(&scalar(&Value::String(s.clone()))?)?
            ),
            _ => {
                return Err(QueryError::value(
                    "value",
                    "`contains` needs a non-empty string",
                ))
            }
        },
        FilterOp::In => {
            let list = match &f.value {
                Some(Value::Array(list)) if !list.is_empty() => list,
                _ => return Err(QueryError::value("value", "`in` needs a non-empty list")),
            };
            if list.len() > limits::MAX_IN_VALUES {
                return Err(QueryError::value(
                    "value",
                    format!("`in` takes at most {} values", limits::MAX_IN_VALUES),
                ));
            }
            let mut parts = Vec::with_capacity(list.len());
            for v in list {
                parts.push(eq(x, &scalar(v)?)?);
            }
            format!("({})", parts.join(" OR "))
        }
        FilterOp::Exists | FilterOp::NotExists => {
            if f.value.is_some() {
                return Err(QueryError::value(
                    "value",
                    "`exists`/`not_exists` take no value",
                ));
            }
            let not = if op == FilterOp::Exists { "" } else { "NOT " };
            format!("{not}({} IN ({KIND_NUMBER}, {KIND_TEXT}))", x.k)
        }
    })
}

/// An event name plus filters, ANDed (over one `events` row).
pub(crate) fn event_cond(event: &str, filters: &[Filter]) -> Result<String, QueryError> {
    if filters.len() > limits::MAX_FILTERS {
        return Err(QueryError::value(
            "filters",
            format!("at most {} filters", limits::MAX_FILTERS),
        ));
    }
    let mut parts = vec![match EventMatcher::parse(event)? {
        EventMatcher::Any => "1".to_string(),
        EventMatcher::Track(name) => format!("event = {}", literal::string(name.as_bytes())),
        EventMatcher::Type(t) => format!("type = {}", literal::string(t.as_bytes())),
    }];
    for f in filters {
        parts.push(format!(
            "({})",
            compare(f, &field(&Field::parse(&f.field)?))?
        ));
    }
    Ok(format!("({})", parts.join(" AND ")))
}

/// The person of an event row joined with [`ALIASES`]: the root of the alias chain its own id
/// belongs to, else the user id, else the anonymous id ('' is absent: columns are not Nullable).
pub(crate) const PERSON: &str =
    "if(a_user != '', a_user, if(user_id != '', user_id, anonymous_id))";

/// The id an event row is looked up by in [`ALIASES`]: its user id, else its anonymous id
/// (`alias` links a former user id to a newer one, so user ids are looked up too).
pub(crate) const LINK: &str = "if(user_id != '', user_id, anonymous_id) AS link";

/// Alias resolution, joined `ANY LEFT JOIN … USING link` (the left side selects [`LINK`]).
/// Every subquery on either side of a join carries an alias (`roots` here, `ev` for
/// [`dedup_events`]): 18.16 accepts them, and current servers (whose analyzer is mandatory
/// since 26.x) refuse a join of unnamed subqueries.
/// `alias_roots` mirrors D1's flattened `aliases` (every id → the root of its chain); the row
/// with the highest `rev` is the current one. The older `aliases` table (links as seen, before
/// chains were flattened) still answers for ids `alias_roots` does not know, its earliest link
/// winning: `-created_ms` is negative, so any `rev` (≥ 1) outranks it.
pub(crate) const ALIASES: &str = "(SELECT link, argMax(user_id, v) AS a_user FROM \
     (SELECT anonymous_id AS link, user_id, -created_ms AS v FROM aliases \
     UNION ALL SELECT id AS link, root AS user_id, rev AS v FROM alias_roots) GROUP BY link) AS roots";

/// Whether SQL text reads the flattened JSON arrays (`f_key`, `f_kind`, `f_str`, `f_num`).
fn reads_arrays(sql: &str) -> bool {
    ["f_key", "f_kind", "f_str", "f_num"]
        .iter()
        .any(|c| sql.contains(c))
}

/// `SELECT {select} FROM events WHERE {filter}`, each `message_id` once — the one place that
/// chooses how. Copies of an id are byte-identical rows with one sort key (see the module
/// docs), so `FINAL` and `LIMIT 1 BY message_id` give the same rows; they cost differently on
/// 18.16 (1 M events, one event's range): for narrow columns `FINAL` 0.17–0.26 s against
/// 0.27–0.32 s, but with the flattened arrays `FINAL` carries them through its merge,
/// 0.68–0.84 s against 0.29 s. So a read of the arrays sorts by id, any other read uses `FINAL`.
pub(crate) fn distinct_events(select: &str, filter: &str) -> String {
    if reads_arrays(select) || reads_arrays(filter) {
        format!("SELECT {select} FROM events WHERE {filter} LIMIT 1 BY message_id")
    } else {
        format!("SELECT {select} FROM events FINAL WHERE {filter}")
    }
}

/// The events in `[from, to)` matching `cond`, each `message_id` once, with `cols` selected:
/// a subquery named `ev`, ready to be joined.
pub(crate) fn dedup_events(cols: &str, from: i64, to: i64, cond: &str) -> String {
    let select = format!("message_id, user_id, anonymous_id, {LINK}, ts_ms{cols}");
    let filter = format!(
        "ts_ms >= {} AND ts_ms < {} AND {cond}",
        literal::int(from),
        literal::int(to)
    );
    format!("({}) AS ev", distinct_events(&select, &filter))
}

/// The live stream's statement: the latest events, newest first. Its rows are
/// [`super::RecentRow`]s once `timestamp` is filled from `ts_ms` (18.16 cannot format ms).
pub fn recent_sql(q: &super::RecentQuery) -> String {
    let limit = q.limit;
    let path = literal::string(field_key(JsonColumn::Context, "$.\"page\".\"path\"").as_bytes());
    // The person is worked out a level below the `nullIf(user_id, '') AS user_id` columns:
    // ClickHouse aliases are visible to every expression of their SELECT, so `{PERSON}` beside
    // them would read the nullable aliases (and give no person for anonymous events on 18.16).
    format!(
        "SELECT message_id, type, nullIf(event, '') AS event, nullIf(name, '') AS name, \
         person, nullIf(user_id, '') AS user_id, nullIf(anonymous_id, '') AS anonymous_id, \
         '' AS timestamp, ts_ms, properties, nullIf(f_str[indexOf(f_key, {path})], '') AS path \
         FROM (SELECT *, {PERSON} AS person FROM \
         (SELECT *, {LINK} FROM events ORDER BY ts_ms DESC LIMIT 1 BY message_id LIMIT {limit}) AS ev \
         ANY LEFT JOIN {ALIASES} USING link) ORDER BY ts_ms DESC LIMIT {limit}"
    )
}

/// The most frequent track event names (rows `{event, count}`), at most `limit`.
pub fn event_names_sql(limit: u32) -> String {
    format!(
        "SELECT event, count() AS count FROM ({}) GROUP BY event ORDER BY count DESC, event \
         LIMIT {limit}",
        distinct_events("message_id, event", "event != ''")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_message_id_once_by_final_unless_the_arrays_are_read() {
        let narrow = distinct_events("message_id, ts_ms", "event = 'a'");
        assert_eq!(
            narrow,
            "SELECT message_id, ts_ms FROM events FINAL WHERE event = 'a'"
        );
        let wide = distinct_events("message_id, f_num[3] AS n", "event = 'a'");
        assert!(wide.ends_with("LIMIT 1 BY message_id"), "{wide}");
        assert!(!wide.contains("FINAL"), "{wide}");
        let filtered = distinct_events("message_id", "has(f_key, 'properties$.\"x\"')");
        assert!(filtered.ends_with("LIMIT 1 BY message_id"), "{filtered}");
    }

    #[test]
    fn filters_quote_values_through_the_encoder() {
        let f: Filter =
            serde_json::from_value(json!({"field": "properties.plan", "value": "o'x"})).unwrap();
        let sql = compare(&f, &field(&Field::parse(&f.field).unwrap())).unwrap();
        assert!(sql.contains(r"= 'o\'x'"), "{sql}");
        assert!(
            sql.contains(r#"indexOf(f_key, 'properties$."plan"')"#),
            "{sql}"
        );
        let c = event_cond("x'); DROP TABLE events; --", &[]).unwrap();
        assert_eq!(c, r"(event = 'x\'); DROP TABLE events; --')");
    }
}
