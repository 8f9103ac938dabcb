//! Event matchers, field references (`properties.plan`, `context.page.path`, `event`) and
//! property filters, with their SQL.
//!
//! Invariant: a field's JSON path is validated segment by segment and then *bound* as a
//! parameter to `json_extract`; a column name in SQL only ever comes from [`Column`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sql::{Params, SqlValue};
use super::{limits, QueryError};

/// A plain column of `events` usable as a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `event` (track name).
    Event,
    /// `name` (page/screen name).
    Name,
    /// `type` (message type).
    Type,
}

/// A JSON column of `events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonColumn {
    /// `properties`.
    Properties,
    /// `context`.
    Context,
    /// `traits`.
    Traits,
}

impl JsonColumn {
    const fn sql(self) -> &'static str {
        match self {
            JsonColumn::Properties => "e.properties",
            JsonColumn::Context => "e.context",
            JsonColumn::Traits => "e.traits",
        }
    }
}

/// Something an event can be filtered or broken down by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A column.
    Column(Column),
    /// A value inside a JSON column; `path` is a SQLite JSON path such as `$."plan"`.
    Json(JsonColumn, String),
}

impl Field {
    /// Parses `properties.<path>`, `context.<path>`, `traits.<path>`, `event`, `name` or `type`.
    pub fn parse(s: &str) -> Result<Field, QueryError> {
        let bad = |why| QueryError::Field {
            field: s.chars().take(limits::MAX_VALUE_CHARS).collect(),
            why,
        };
        match s {
            "event" => return Ok(Field::Column(Column::Event)),
            "name" => return Ok(Field::Column(Column::Name)),
            "type" => return Ok(Field::Column(Column::Type)),
            _ => {}
        }
        let (root, rest) = s.split_once('.').ok_or_else(|| {
            bad("use properties.<key>, context.<key>, traits.<key>, event, name or type")
        })?;
        let column = match root {
            "properties" => JsonColumn::Properties,
            "context" => JsonColumn::Context,
            "traits" => JsonColumn::Traits,
            _ => {
                return Err(bad(
                    "use properties.<key>, context.<key>, traits.<key>, event, name or type",
                ))
            }
        };
        Ok(Field::Json(column, json_path(rest).map_err(bad)?))
    }

    /// The SQL expression for this field, binding the path if any.
    pub(crate) fn sql(&self, p: &mut Params) -> String {
        match self {
            Field::Column(Column::Event) => "e.event".into(),
            Field::Column(Column::Name) => "e.name".into(),
            Field::Column(Column::Type) => "e.type".into(),
            Field::Json(col, path) => format!("json_extract({}, {})", col.sql(), p.text(path)),
        }
    }
}

/// Turns `a.b.c` into the SQLite JSON path `$."a"."b"."c"`, refusing anything a quoted key
/// cannot hold.
pub fn json_path(dotted: &str) -> Result<String, &'static str> {
    let segments: Vec<&str> = dotted.split('.').collect();
    if segments.len() > limits::MAX_PATH_SEGMENTS {
        return Err("the path has too many segments");
    }
    let mut path = String::from("$");
    for seg in segments {
        if seg.is_empty() {
            return Err("a path segment is empty");
        }
        if seg.chars().count() > limits::MAX_PATH_SEGMENT_CHARS {
            return Err("a path segment is too long");
        }
        if seg
            .chars()
            .any(|c| c == '"' || c == '\\' || c == '[' || c == ']' || c.is_control())
        {
            return Err("a path segment holds a quote, backslash, bracket or control character");
        }
        path.push_str(".\"");
        path.push_str(seg);
        path.push('"');
    }
    Ok(path)
}

/// How a filter compares. Like every enumerated value of the API (reason codes too), the
/// names are snake_case strings; keys are camelCase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// Equal (same JSON type and value).
    Eq,
    /// Not equal, or missing.
    Neq,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// A string containing the value (case-sensitive).
    Contains,
    /// Equal to one of a list of values.
    In,
    /// Present and not null.
    Exists,
    /// Missing or null.
    NotExists,
}

/// A filter as sent: `{"field": "properties.plan", "op": "eq", "value": "pro"}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The field (see [`Field::parse`]).
    pub field: String,
    /// The comparison (default `eq`).
    #[serde(default = "default_op", skip_serializing_if = "FilterOp::is_eq")]
    pub op: FilterOp,
    /// The value (a list for `in`, absent for `exists`/`not_exists`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl FilterOp {
    /// Whether this is the default, `eq` (left out when a definition is written back).
    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
    pub const fn is_eq(&self) -> bool {
        matches!(self, FilterOp::Eq)
    }
}

const fn default_op() -> FilterOp {
    FilterOp::Eq
}

impl Filter {
    /// The SQL condition, over `events e`.
    pub(crate) fn sql(&self, p: &mut Params) -> Result<String, QueryError> {
        let field = Field::parse(&self.field)?;
        self.sql_on(&field, p)
    }

    /// The SQL condition for an already parsed field.
    pub(crate) fn sql_on(&self, field: &Field, p: &mut Params) -> Result<String, QueryError> {
        let x = field.sql(p);
        self.compare(&x, p)
    }

    /// The SQL condition comparing the SQL expression `x` (built from fixed text and
    /// placeholders only) with this filter's value.
    pub(crate) fn compare(&self, x: &str, p: &mut Params) -> Result<String, QueryError> {
        let op = self.op;
        let one = |p: &mut Params| -> Result<String, QueryError> {
            let v = self
                .value
                .as_ref()
                .ok_or_else(|| QueryError::value("value", format!("`{op:?}` needs a value")))?;
            Ok(p.bind(scalar(v)?))
        };
        Ok(match op {
            FilterOp::Eq => format!("{x} = {}", one(p)?),
            FilterOp::Neq => format!("{x} IS NOT {}", one(p)?),
            FilterOp::Gt => format!("{x} > {}", one(p)?),
            FilterOp::Gte => format!("{x} >= {}", one(p)?),
            FilterOp::Lt => format!("{x} < {}", one(p)?),
            FilterOp::Lte => format!("{x} <= {}", one(p)?),
            FilterOp::Contains => match &self.value {
                Some(Value::String(s)) if !s.is_empty() => {
                    format!(
                        "instr({x}, {}) > 0",
                        p.bind(scalar(&Value::String(s.clone()))?)
                    )
                }
                _ => {
                    return Err(QueryError::value(
                        "value",
                        "`contains` needs a non-empty string",
                    ))
                }
            },
            FilterOp::In => {
                let list = match &self.value {
                    Some(Value::Array(list)) if !list.is_empty() => list,
                    _ => return Err(QueryError::value("value", "`in` needs a non-empty list")),
                };
                if list.len() > limits::MAX_IN_VALUES {
                    return Err(QueryError::value(
                        "value",
                        format!("`in` takes at most {} values", limits::MAX_IN_VALUES),
                    ));
                }
                let mut marks = Vec::with_capacity(list.len());
                for v in list {
                    marks.push(p.bind(scalar(v)?));
                }
                format!("{x} IN ({})", marks.join(", "))
            }
            FilterOp::Exists | FilterOp::NotExists => {
                if self.value.is_some() {
                    return Err(QueryError::value(
                        "value",
                        "`exists`/`not_exists` take no value",
                    ));
                }
                let not = if op == FilterOp::Exists { " NOT" } else { "" };
                format!("{x} IS{not} NULL")
            }
        })
    }
}

/// A filter value: a string, number or boolean (booleans compare as 1/0, as `json_extract`
/// returns them).
pub(crate) fn scalar(v: &Value) -> Result<SqlValue, QueryError> {
    if let Value::String(s) = v {
        if s.chars().count() > limits::MAX_VALUE_CHARS {
            return Err(QueryError::value(
                "value",
                format!("longer than {} characters", limits::MAX_VALUE_CHARS),
            ));
        }
    }
    match SqlValue::from_json(v) {
        Some(SqlValue::Null) | None => Err(QueryError::value(
            "value",
            "must be a string, number or boolean (use `exists`/`not_exists` for null)",
        )),
        Some(v) => Ok(v),
    }
}

/// The SQL for a list of filters, ANDed (`1` when empty).
pub(crate) fn filters_sql(filters: &[Filter], p: &mut Params) -> Result<String, QueryError> {
    if filters.len() > limits::MAX_FILTERS {
        return Err(QueryError::value(
            "filters",
            format!("at most {} filters", limits::MAX_FILTERS),
        ));
    }
    let mut parts = Vec::with_capacity(filters.len());
    for f in filters {
        parts.push(format!("({})", f.sql(p)?));
    }
    Ok(if parts.is_empty() {
        "1".into()
    } else {
        parts.join(" AND ")
    })
}

/// Which events a step, insight or condition counts: a track event name, or one of the
/// reserved names `$pageview`, `$screen`, `$identify`, `$group`, `$alias` for other message
/// types, or `$any` for every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventMatcher {
    /// Every event.
    Any,
    /// Track events with this name.
    Track(String),
    /// Messages of this `type` (`page`, `screen`, …).
    Type(&'static str),
}

impl EventMatcher {
    /// Parses an event name as sent.
    pub fn parse(name: &str) -> Result<EventMatcher, QueryError> {
        Ok(match name {
            "$any" => EventMatcher::Any,
            "$pageview" => EventMatcher::Type("page"),
            "$screen" => EventMatcher::Type("screen"),
            "$identify" => EventMatcher::Type("identify"),
            "$group" => EventMatcher::Type("group"),
            "$alias" => EventMatcher::Type("alias"),
            n if n.starts_with('$') => {
                return Err(QueryError::value(
                    "event",
                    format!(
                        "`{n}` is not a reserved name: use $any, $pageview, $screen, $identify, \
                         $group or $alias"
                    ),
                ))
            }
            "" => return Err(QueryError::value("event", "must not be empty")),
            n if n.chars().count() > limits::MAX_VALUE_CHARS => {
                return Err(QueryError::value("event", "too long"))
            }
            n => EventMatcher::Track(n.to_owned()),
        })
    }

    /// The SQL condition over `events e`. `type` values are fixed literals, never input.
    pub(crate) fn sql(&self, p: &mut Params) -> String {
        match self {
            EventMatcher::Any => "1".into(),
            EventMatcher::Track(name) => format!("e.event = {}", p.text(name)),
            EventMatcher::Type(t) => format!("e.type = '{t}'"),
        }
    }
}

/// An event name plus filters: the matcher and filter SQL ANDed.
pub(crate) fn event_sql(
    event: &str,
    filters: &[Filter],
    p: &mut Params,
) -> Result<String, QueryError> {
    let m = EventMatcher::parse(event)?.sql(p);
    let f = filters_sql(filters, p)?;
    Ok(format!("({m} AND {f})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(v: serde_json::Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn fields_parse_and_bind_their_path() {
        assert_eq!(
            Field::parse("properties.plan").unwrap(),
            Field::Json(JsonColumn::Properties, "$.\"plan\"".into())
        );
        assert_eq!(
            Field::parse("context.page.path").unwrap(),
            Field::Json(JsonColumn::Context, "$.\"page\".\"path\"".into())
        );
        assert_eq!(Field::parse("event").unwrap(), Field::Column(Column::Event));
        let mut p = Params::default();
        let sql = Field::parse("properties.a b").unwrap().sql(&mut p);
        assert_eq!(sql, "json_extract(e.properties, ?1)");
        for bad in [
            "plan",
            "user.plan",
            "properties.",
            "properties.a..b",
            "properties.a\"b",
            "properties.a[0]",
            "properties.1.2.3.4.5.6.7.8.9",
        ] {
            assert!(Field::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_bind_values_and_check_shapes() {
        let mut p = Params::default();
        let sql = filter(json!({"field": "properties.plan", "value": "pro"}))
            .sql(&mut p)
            .unwrap();
        assert_eq!(sql, "json_extract(e.properties, ?1) = ?2");
        let sql = filter(json!({"field": "properties.n", "op": "in", "value": [1, true, "x"]}))
            .sql(&mut p)
            .unwrap();
        assert_eq!(sql, "json_extract(e.properties, ?3) IN (?4, ?5, ?6)");
        let sql = p.finish(String::new()).unwrap();
        assert_eq!(sql.params[4], SqlValue::Int(1));
        let mut p = Params::default();
        let sql = filter(json!({"field": "event", "op": "exists"}))
            .sql(&mut p)
            .unwrap();
        assert_eq!(sql, "e.event IS NOT NULL");

        for bad in [
            json!({"field": "properties.x", "op": "eq"}),
            json!({"field": "properties.x", "op": "eq", "value": null}),
            json!({"field": "properties.x", "op": "eq", "value": {"a": 1}}),
            json!({"field": "properties.x", "op": "in", "value": []}),
            json!({"field": "properties.x", "op": "contains", "value": 3}),
            json!({"field": "properties.x", "op": "exists", "value": 3}),
        ] {
            assert!(
                filter(bad.clone()).sql(&mut Params::default()).is_err(),
                "{bad}"
            );
        }
        let many: Vec<i32> = (0..=limits::MAX_IN_VALUES as i32).collect();
        let f = filter(json!({"field": "properties.x", "op": "in", "value": many}));
        assert!(f.sql(&mut Params::default()).is_err());
        assert!(serde_json::from_value::<Filter>(json!({"field": "x", "oops": 1})).is_err());
    }

    #[test]
    fn event_names_and_reserved_names() {
        assert_eq!(
            EventMatcher::parse("$pageview").unwrap(),
            EventMatcher::Type("page")
        );
        assert_eq!(
            EventMatcher::parse("Signed Up").unwrap(),
            EventMatcher::Track("Signed Up".into())
        );
        assert!(EventMatcher::parse("$pageviews").is_err());
        assert!(EventMatcher::parse("").is_err());
        let mut p = Params::default();
        assert_eq!(
            EventMatcher::parse("'; DROP TABLE events; --")
                .unwrap()
                .sql(&mut p),
            "e.event = ?1"
        );
    }
}
