//! The read side: `/v1/query/{insight,funnel,segment}`, the live stream
//! (`/v1/events/recent`, `/v1/events/names`) and saved segments (`/v1/segments…`).
//!
//! Invariant: every route here is admin-only, and a route only parses the request, asks
//! `spur_core::query` for validated SQL, runs it on D1 and returns what core makes of the
//! rows; no SQL is written here except fixed statements without request input.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use spur_core::query::{
    self, FunnelQuery, InsightQuery, QueryError, RecentEvent, RecentQuery, RecentRow, SegmentQuery,
    Sql, SqlValue,
};
use wasm_bindgen::JsValue;
use worker::{D1Database, Date, Env, Method, Request, Response};

use crate::http::admin::require_admin;
use crate::http::error::ApiError;
use crate::http::segments;
use crate::storage::DB_BINDING;

/// Whether `path` is one of this module's routes.
pub fn owns(path: &str) -> bool {
    path.starts_with("/v1/query/")
        || path.starts_with("/v1/events/")
        || path == "/v1/segments"
        || path.starts_with("/v1/segments/")
}

/// Handles a read-side request (admin token required).
pub async fn handle(mut req: Request, env: &Env, path: &str) -> Result<Response, ApiError> {
    require_admin(&req, env)?;
    let db = env.d1(DB_BINDING)?;
    match (req.method(), path) {
        (Method::Post, "/v1/query/insight") => {
            let q: InsightQuery = parse_body(&mut req).await?;
            let plan = q.plan().map_err(invalid)?;
            let rows = run(&db, &plan.sql).await?;
            json(&plan.finish(rows))
        }
        (Method::Post, "/v1/query/funnel") => {
            let q: FunnelQuery = parse_body(&mut req).await?;
            let plan = q.plan().map_err(invalid)?;
            let rows = run(&db, &plan.sql).await?;
            json(&plan.finish(rows))
        }
        (Method::Post, "/v1/query/segment") => {
            let q: SegmentQuery = parse_body(&mut req).await?;
            segment(&db, &q).await
        }
        (Method::Get, "/v1/events/recent") => {
            let limit = query_param(&req, "limit")?;
            let q = RecentQuery::parse(limit.as_deref()).map_err(invalid)?;
            let rows: Vec<RecentRow> = run(&db, &q.sql().map_err(invalid)?).await?;
            let events: Vec<RecentEvent> = rows.into_iter().map(RecentEvent::from).collect();
            json(&serde_json::json!({ "events": events }))
        }
        (Method::Get, "/v1/events/names") => {
            #[derive(Deserialize, Serialize)]
            struct Name {
                event: String,
                count: f64,
            }
            let rows: Vec<Name> = db
                .prepare(
                    "SELECT event, COUNT(*) AS count FROM events WHERE event IS NOT NULL \
                     GROUP BY event ORDER BY count DESC, event LIMIT 200",
                )
                .all()
                .await?
                .results()?;
            json(&serde_json::json!({ "events": rows }))
        }
        (_, p) if p == "/v1/segments" || p.starts_with("/v1/segments/") => {
            segments::handle(req, &db, p).await
        }
        _ => Err(ApiError::NotFound),
    }
}

/// Runs a segment query and pages its result.
pub async fn segment(db: &D1Database, q: &SegmentQuery) -> Result<Response, ApiError> {
    let plan = q.plan(now_ms()).map_err(invalid)?;
    let rows = run(db, &plan.sql).await?;
    json(&plan.finish(rows))
}

/// Reads and parses a JSON body with core's size bound.
pub async fn parse_body<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let body = req.bytes().await?;
    query::parse(&body).map_err(invalid)
}

/// A query error as a 400 with core's message.
pub fn invalid(e: QueryError) -> ApiError {
    ApiError::Invalid(format!("{} ({})", e, e.code()))
}

/// Runs core's statement with its bound values.
pub async fn run<T: DeserializeOwned>(db: &D1Database, sql: &Sql) -> Result<Vec<T>, ApiError> {
    let params: Vec<JsValue> = sql.params.iter().map(js_value).collect();
    let result = db.prepare(sql.text.as_str()).bind(&params)?.all().await?;
    Ok(result.results()?)
}

#[allow(clippy::cast_precision_loss)] // bound integers are ms timestamps and counts, < 2^53
fn js_value(v: &SqlValue) -> JsValue {
    match v {
        SqlValue::Null => JsValue::NULL,
        SqlValue::Int(i) => JsValue::from_f64(*i as f64),
        SqlValue::Real(f) => JsValue::from_f64(*f),
        SqlValue::Text(s) => JsValue::from_str(s),
    }
}

/// A 200 JSON answer.
pub fn json<T: Serialize>(v: &T) -> Result<Response, ApiError> {
    Ok(Response::from_json(v)?)
}

fn query_param(req: &Request, key: &str) -> Result<Option<String>, ApiError> {
    Ok(req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned()))
}

/// Now in ms since 1970 (the platform clock; core never reads one).
pub fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}
