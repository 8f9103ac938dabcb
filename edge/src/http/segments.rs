//! Saved segments: `GET /v1/segments`, `GET|PUT|DELETE /v1/segments/{id}` and
//! `POST /v1/segments/{id}/query`; also runs ad-hoc segment queries for `/v1/query/segment`.
//!
//! Invariant: a definition is stored only after core validated it, so a stored segment
//! always plans; the stored JSON is the validated definition re-serialized in its canonical
//! camelCase spelling (a body using an old snake_case key such as `last_seen` is stored and
//! answered as `lastSeen`); at most `MAX_LIVE_SEGMENTS` saved segments are live (a save past
//! it is refused, core decides; the D1 write of a live segment is itself conditional on the
//! count, so concurrent saves cannot race past it). Segment queries run on the events store (D1 or ClickHouse); the
//! per-person live membership (`/live`) replays D1's history and is refused on ClickHouse.

use serde::Serialize;
use spur_core::limits::MAX_LIVE_SEGMENTS;
use spur_core::query::live::{history_sql, replay, LiveSegment, NOT_LIVE};
use spur_core::query::segment::{
    check_live_count, too_many_live, valid_segment_id, SavedSegment, SegmentOptions,
};
use spur_core::query::time_range::parse_instant;
use spur_core::query::{self, QueryError, SegmentQuery};
use worker::{Env, Method, Request, Response};

use crate::clock::now_ms;
use crate::http::body::read_definition;
use crate::http::error::ApiError;
use crate::storage::segments::{self as store, Row};
use crate::storage::{profiles, queries};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    id: String,
    name: String,
    #[serde(rename = "where")]
    condition: serde_json::Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    live: bool,
    created_at: String,
    updated_at: String,
}

impl From<Row> for Saved {
    fn from(r: Row) -> Self {
        let def: serde_json::Value = serde_json::from_str(&r.definition).unwrap_or_default();
        Saved {
            id: r.id,
            name: r.name,
            condition: def.get("where").cloned().unwrap_or_default(),
            live: def
                .get("live")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Runs a segment query and pages its result.
pub async fn run(env: &Env, q: &SegmentQuery) -> Result<Response, ApiError> {
    // With events in ClickHouse, profiles are read from its `users` mirror (as trait cohorts do).
    if let Some(ch) = crate::storage::clickhouse::store(env)? {
        let plan = q.plan_clickhouse(now_ms())?;
        let rows = ch.query(&plan.sql.text).await?;
        return Ok(Response::from_json(&plan.finish_clickhouse(rows))?);
    }
    let plan = q.plan(now_ms())?;
    let rows = queries::run(env, &plan.sql).await?;
    Ok(Response::from_json(&plan.finish(rows))?)
}

/// `GET /v1/segments/{id}/live?userId=…[&asOf=…]`: the person's membership of a live
/// segment, recomputed from their stored history (the newest
/// [`spur_core::limits::MAX_LIVE_BACKFILL`] events) and profile traits exactly as the live
/// evaluator keeps it, and when it next changes without an event.
async fn live_member(req: &Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    if crate::storage::clickhouse::selected(env)? {
        return Err(QueryError::NotOnClickHouse("segment").into());
    }
    let row = store::load(env, id).await?.ok_or(ApiError::NotFound)?;
    let saved: SavedSegment = serde_json::from_str(&row.definition)
        .map_err(|e| ApiError::Internal(format!("stored segment {id}: {e}")))?;
    if !saved.live {
        return Err(ApiError::Invalid(format!(
            "{NOT_LIVE}: the segment is not marked live"
        )));
    }
    let url = req.url()?;
    let mut user = None;
    let mut as_of = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "userId" => user = Some(v.into_owned()),
            "asOf" => as_of = Some(parse_instant("asOf", &v)?),
            _ => {}
        }
    }
    let user = user
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::Invalid("`userId` is required".into()))?;
    let as_of = as_of.unwrap_or_else(now_ms);
    let seg = LiveSegment::compile(id, &saved)?;
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        queries::run(env, &history_sql(&user, as_of)?).await?;
    let events: Vec<spur_core::Event> =
        rows.iter().filter_map(spur_core::Event::from_row).collect();
    let traits = if seg.reads_traits() {
        profiles::one(env, &user).await?
    } else {
        None
    };
    let (member, next) = replay(&seg, &events, traits.as_ref(), as_of);
    Ok(Response::from_json(&serde_json::json!({
        "segmentId": id,
        "userId": user,
        "member": member,
        "asOf": spur_core::instant::ms_to_rfc3339(as_of),
        "nextChange": next.map(spur_core::instant::ms_to_rfc3339),
        "events": events.len(),
    }))?)
}

/// Routes `/v1/segments…` (the caller checked the admin token).
pub async fn handle(mut req: Request, env: &Env, path: &str) -> Result<Response, ApiError> {
    let rest = path
        .trim_start_matches("/v1/segments")
        .trim_start_matches('/');
    let (id, action) = match rest.split_once('/') {
        Some((id, action)) => (id, Some(action)),
        None => (rest, None),
    };
    if id.is_empty() {
        return match req.method() {
            Method::Get => {
                let list: Vec<Saved> = store::list(env)
                    .await?
                    .into_iter()
                    .map(Saved::from)
                    .collect();
                Ok(Response::from_json(
                    &serde_json::json!({ "segments": list }),
                )?)
            }
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    if !valid_segment_id(id) {
        return Err(ApiError::Invalid(
            "a segment id is 1..=64 of A-Z a-z 0-9 _ -".into(),
        ));
    }
    match (req.method(), action) {
        (Method::Get, None) => match store::load(env, id).await? {
            Some(row) => Ok(Response::from_json(&Saved::from(row))?),
            None => Err(ApiError::NotFound),
        },
        (Method::Put, None) => {
            let body = read_definition(&mut req).await?;
            let saved: SavedSegment = query::parse(&body)?;
            saved.validate()?;
            if saved.live {
                let live_now: Vec<String> = store::list(env)
                    .await?
                    .into_iter()
                    .map(Saved::from)
                    .filter(|s| s.live)
                    .map(|s| s.id)
                    .collect();
                check_live_count(id, &saved, live_now.iter().map(String::as_str))?;
            }
            let canonical = serde_json::to_string(&saved)
                .map_err(|e| ApiError::Internal(format!("segment {id}: {e}")))?;
            if !saved.live {
                store::save(env, id, &saved.name, &canonical).await?;
            } else if !store::save_live(env, id, &saved.name, &canonical, MAX_LIVE_SEGMENTS).await?
            {
                // Others became live since the count above (a concurrent save).
                return Err(too_many_live(MAX_LIVE_SEGMENTS).into());
            }
            crate::storage::live_segments::bump_version(env).await?;
            match store::load(env, id).await? {
                Some(row) => Ok(Response::from_json(&Saved::from(row))?),
                None => Err(ApiError::Internal("saved segment vanished".into())),
            }
        }
        (Method::Delete, None) => {
            store::delete(env, id).await?;
            crate::storage::live_segments::bump_version(env).await?;
            Ok(Response::empty()?.with_status(204))
        }
        (Method::Post, Some("query")) => {
            let row = store::load(env, id).await?.ok_or(ApiError::NotFound)?;
            let body = read_definition(&mut req).await?;
            let options: SegmentOptions = if body.is_empty() {
                SegmentOptions::default()
            } else {
                query::parse(&body)?
            };
            let saved: SavedSegment = serde_json::from_str(&row.definition)
                .map_err(|e| ApiError::Internal(format!("stored segment {id}: {e}")))?;
            run(env, &SegmentQuery::with_options(saved.condition, options)).await
        }
        (Method::Get, Some("live")) => live_member(&req, env, id).await,
        (_, None) | (_, Some("query" | "live")) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound),
    }
}
