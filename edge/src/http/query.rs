//! The read side: `/v1/query/{insight,funnel,drivers,retention,segment,campaign}`, the live stream
//! (`/v1/events/recent`, `/v1/events/names`) and saved segments (`/v1/segments…`).
//!
//! Invariant: every route here is admin-only, and a route only parses the request, asks
//! `spur_core::query` for validated SQL, has [`crate::storage::queries`] run it and returns
//! what core makes of the rows — from D1, or from ClickHouse when the deployment keeps its
//! events there (`EVENTS_STORE`); a refused definition answers with its own
//! [`spur_core::query::QueryError`] code. A trait cohort on ClickHouse reads profiles from
//! ClickHouse's `users`, the events consumer's mirror of D1's profiles.

use serde::de::DeserializeOwned;
use serde::Serialize;
use spur_core::query::{
    self, CampaignGoalSpec, CampaignQuery, DriversQuery, FunnelQuery, InsightQuery, RecentEvent,
    RecentQuery, RecentRow, RetentionQuery, SegmentQuery,
};
use worker::{Env, Method, Request, Response};

use crate::clock::IntlZones;
use crate::http::admin::require_admin;
use crate::http::error::ApiError;
use crate::http::{body, segments};
use crate::storage::clickhouse;
use crate::storage::queries::{event_names, run, MAX_EVENT_NAMES};

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
    if let Some(ch) = clickhouse::store(env)? {
        match (req.method(), path) {
            (Method::Post, "/v1/query/insight") => {
                let q: InsightQuery = parse_body(&mut req).await?;
                let plan = q.plan_clickhouse(&IntlZones)?;
                return json(&plan.finish(ch.query(&plan.sql.text).await?));
            }
            (Method::Post, "/v1/query/funnel") => {
                let q: FunnelQuery = parse_body(&mut req).await?;
                let plan = q.plan_clickhouse(&IntlZones)?;
                return json(&plan.finish_clickhouse(ch.query(&plan.sql.text).await?));
            }
            (Method::Post, "/v1/query/drivers") => {
                let q: DriversQuery = parse_body(&mut req).await?;
                let plan = q.plan_clickhouse()?;
                return json(&plan.finish(ch.query(&plan.sql.text).await?));
            }
            (Method::Post, "/v1/query/retention") => {
                let q: RetentionQuery = parse_body(&mut req).await?;
                let plan = q.plan_clickhouse(&IntlZones)?;
                return json(&plan.finish(ch.query(&plan.sql.text).await?));
            }
            (Method::Post, "/v1/query/campaign") => {
                let q: CampaignQuery = parse_body(&mut req).await?;
                let plan = q.plan_clickhouse(default_goal(env, &q).await?)?;
                return json(&plan.finish(ch.query(&plan.sql.text).await?));
            }
            (Method::Get, "/v1/events/recent") => {
                let limit = query_param(&req, "limit")?;
                let q = RecentQuery::parse(limit.as_deref())?;
                let rows: Vec<RecentRow> = ch.query(&query::clickhouse::recent_sql(&q)).await?;
                let events: Vec<RecentEvent> = rows
                    .into_iter()
                    .map(|mut r| {
                        r.timestamp = spur_core::instant::ms_to_rfc3339(r.ts_ms);
                        RecentEvent::from(r)
                    })
                    .collect();
                return json(&serde_json::json!({ "events": events }));
            }
            (Method::Get, "/v1/events/names") => {
                let names: Vec<crate::storage::queries::NameCount> = ch
                    .query(&query::clickhouse::event_names_sql(MAX_EVENT_NAMES))
                    .await?;
                return json(&serde_json::json!({ "events": names }));
            }
            _ => {}
        }
    }
    match (req.method(), path) {
        (Method::Post, "/v1/query/insight") => {
            let q: InsightQuery = parse_body(&mut req).await?;
            let plan = q.plan_in(&IntlZones)?;
            let rows = run(env, &plan.sql).await?;
            json(&plan.finish(rows))
        }
        (Method::Post, "/v1/query/funnel") => {
            let q: FunnelQuery = parse_body(&mut req).await?;
            let plan = q.plan_in(&IntlZones)?;
            let rows = run(env, &plan.sql).await?;
            json(&plan.finish(rows))
        }
        (Method::Post, "/v1/query/drivers") => {
            let q: DriversQuery = parse_body(&mut req).await?;
            let plan = q.plan()?;
            let rows = run(env, &plan.sql).await?;
            json(&plan.finish(rows))
        }
        (Method::Post, "/v1/query/retention") => {
            let q: RetentionQuery = parse_body(&mut req).await?;
            let plan = q.plan_in(&IntlZones)?;
            let rows = run(env, &plan.sql).await?;
            json(&plan.finish(rows))
        }
        (Method::Post, "/v1/query/campaign") => {
            let q: CampaignQuery = parse_body(&mut req).await?;
            let plan = q.plan(default_goal(env, &q).await?)?;
            let rows = run(env, &plan.sql).await?;
            json(&plan.finish(rows))
        }
        (Method::Post, "/v1/query/segment") => {
            let q: SegmentQuery = parse_body(&mut req).await?;
            segments::run(env, &q).await
        }
        (Method::Get, "/v1/events/recent") => {
            let limit = query_param(&req, "limit")?;
            let q = RecentQuery::parse(limit.as_deref())?;
            let rows: Vec<RecentRow> = run(env, &q.sql()?).await?;
            let events: Vec<RecentEvent> = rows.into_iter().map(RecentEvent::from).collect();
            json(&serde_json::json!({ "events": events }))
        }
        (Method::Get, "/v1/events/names") => {
            json(&serde_json::json!({ "events": event_names(env).await? }))
        }
        (_, p) if p == "/v1/segments" || p.starts_with("/v1/segments/") => {
            segments::handle(req, env, p).await
        }
        _ => Err(ApiError::NotFound),
    }
}

/// A journey's own goal for its campaign results, when the query names none (checked first,
/// so a bad query is refused before any read).
async fn default_goal(env: &Env, q: &CampaignQuery) -> Result<Option<CampaignGoalSpec>, ApiError> {
    q.sender()?;
    match (&q.journey, &q.goal) {
        (Some(id), None) => crate::http::journeys::goal_of(env, id).await,
        _ => Ok(None),
    }
}

/// Reads a JSON definition through the bounded reader and parses it with core's size bound.
pub async fn parse_body<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let body = body::read_definition(req).await?;
    Ok(query::parse(&body)?)
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
