//! Admin: journeys — list, read, save a draft, validate, publish, delete, enter a person by
//! API, per-node stats and explain (the path one person took).
//!
//! Invariant: nothing is saved unless spur-core compiles it; a refused journey gets a 400 whose
//! `reason` is the journey error's stable code and whose `detail` names the field
//! (`/nodes/2/onTimeout: no node has id "x"`). Only a published revision runs.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use spur_core::journeys::Zones;
use spur_core::journeys::{self, compile, Journey, JourneyError, JourneyErrorKind};
use spur_core::limits::{MAX_JOURNEYS, MAX_JOURNEY_CONTEXT_BYTES};
use spur_core::query::CampaignGoalSpec;
use spur_core::rules::RuleErrorKind;
use worker::{Env, Request, Response};

use crate::http::body;
use crate::http::error::ApiError;
use crate::objects::journeys::EnterRequest;
use crate::objects::user_state::{self, Delivery};
use crate::storage::journeys as journey_set;
use crate::storage::live_segments;
use crate::storage::rules as rule_set;

fn doc(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn shown(s: &journey_set::StoredJourney) -> Value {
    json!({
        "id": s.id,
        "draft": doc(Some(&s.draft)),
        "published": doc(s.published.as_deref()),
        "revision": s.revision,
        "createdAt": s.created_at,
        "updatedAt": s.updated_at,
    })
}

/// `GET /v1/journeys`.
pub async fn list(env: &Env) -> Result<Response, ApiError> {
    let all: Vec<Value> = journey_set::list(env).await?.iter().map(shown).collect();
    Ok(Response::from_json(&json!({ "journeys": all }))?)
}

/// `GET /v1/journeys/{id}`.
pub async fn get(env: &Env, id: &str) -> Result<Response, ApiError> {
    let stored = journey_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Response::from_json(&shown(&stored))?)
}

/// A journey that compiled: the document, its longest span and the live segments it reads
/// (id, pointer).
type Checked = (Journey, i64, Vec<(String, String)>);

/// Parses and compiles a journey body for path `id` (a missing `id` is filled in).
fn checked(text: &str, id: Option<&str>) -> Result<Checked, ApiError> {
    let bad = |e: JourneyError| ApiError::Journey(e);
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        bad(JourneyError::new(
            JourneyErrorKind::Malformed,
            "",
            e.to_string(),
        ))
    })?;
    if let (Value::Object(m), Some(id)) = (&mut value, id) {
        match m.get("id") {
            None => {
                m.insert("id".into(), id.into());
            }
            Some(Value::String(given)) if given == id => {}
            Some(other) => {
                return Err(bad(JourneyError::new(
                    JourneyErrorKind::IdMismatch,
                    "/id",
                    format!("body id {other} differs from the path's {id:?}"),
                )))
            }
        }
    }
    let journey = journeys::parse(&value.to_string()).map_err(bad)?;
    let compiled = compile(&spur_core::rules::condition_engine(), journey, 0).map_err(bad)?;
    // Core checks a zone name's shape; whether the zone exists is the platform's data.
    for (i, node) in compiled.nodes.iter().enumerate() {
        if let journeys::CompiledNode::TimeWindow { zone: Some(z), .. } = node {
            if Zones::offset_ms(&crate::clock::IntlZones, z, 0).is_none() {
                return Err(bad(JourneyError::new(
                    JourneyErrorKind::InvalidWindow,
                    format!("/nodes/{i}/timezone"),
                    format!("{z:?} is not a time zone this platform knows"),
                )));
            }
        }
    }
    let span = compiled.max_span_ms;
    let segments = compiled.segments();
    Ok((compiled.journey, span, segments))
}

/// Refuses a journey whose conditions read `segments.<id>` of a segment that is not live
/// (unknown, or saved without `live`), as a rule save does: membership is kept for live
/// segments only, so such a condition could never hold. A live segment deleted or made
/// non-live later reads `false`.
async fn check_segments(env: &Env, read: &[(String, String)]) -> Result<(), ApiError> {
    if read.is_empty() {
        return Ok(());
    }
    let set = live_segments::latest(env).await?;
    match read.iter().find(|(id, _)| !set.contains(id)) {
        None => Ok(()),
        Some((id, at)) => Err(ApiError::Journey(JourneyError::new(
            JourneyErrorKind::Rule(RuleErrorKind::UnknownSegment),
            at.clone(),
            format!(
                "segments.{id}: no live segment {id:?}; save the segment with \"live\": true first"
            ),
        ))),
    }
}

/// `POST /v1/journeys/validate`: checks a document without saving it.
pub async fn validate(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let (journey, span, segments) = checked(&text, None)?;
    check_segments(env, &segments).await?;
    Ok(Response::from_json(&json!({
        "valid": true, "id": journey.id, "maxSpanMs": span,
    }))?)
}

/// `PUT /v1/journeys/{id}`: saves the draft (the live revision is unchanged until publish).
pub async fn put(mut req: Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let (journey, _, segments) = checked(&text, Some(id))?;
    check_segments(env, &segments).await?;
    if journey_set::get(env, id).await?.is_none() && journey_set::count(env).await? >= MAX_JOURNEYS
    {
        return Err(ApiError::Invalid(format!(
            "at most {MAX_JOURNEYS} journeys may be stored"
        )));
    }
    let created = journey_set::put_draft(env, &journey).await?;
    let stored = journey_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Response::from_json(&shown(&stored))?.with_status(if created { 201 } else { 200 }))
}

/// `POST /v1/journeys/{id}/publish`: the draft becomes the next live revision.
pub async fn publish(env: &Env, id: &str) -> Result<Response, ApiError> {
    let stored = journey_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    let (_, _, segments) = checked(&stored.draft, Some(id))?;
    check_segments(env, &segments).await?;
    journey_set::publish(env, id).await?;
    let stored = journey_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Response::from_json(&shown(&stored))?)
}

/// `DELETE /v1/journeys/{id}`.
pub async fn delete(env: &Env, id: &str) -> Result<Response, ApiError> {
    if journey_set::delete(env, id).await? {
        Ok(Response::empty()?.with_status(204))
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnterBody {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    anonymous_id: Option<String>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

/// `POST /v1/journeys/{id}/enter` `{userId | anonymousId, context}`: starts a run now.
/// Answers 200 `{entered: true, run}`, or 409 `{entered: false, reason}` when the entry
/// policy refuses (`already_active`, `already_entered`, `entry_too_soon`, `journey_disabled`).
pub async fn enter(mut req: Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let b: EnterBody =
        serde_json::from_str(&text).map_err(|e| ApiError::Invalid(format!("enter body: {e}")))?;
    let user = b
        .user_id
        .or(b.anonymous_id)
        .filter(|u| !u.is_empty() && u.chars().count() <= spur_core::limits::MAX_ID_CHARS)
        .ok_or_else(|| {
            ApiError::Invalid("userId or anonymousId (1..=256 characters) is required".into())
        })?;
    let context = Value::Object(b.context.unwrap_or_default());
    if context.to_string().len() > MAX_JOURNEY_CONTEXT_BYTES {
        return Err(ApiError::Journey(JourneyError::new(
            JourneyErrorKind::InvalidContext,
            "/context",
            format!("context is limited to {MAX_JOURNEY_CONTEXT_BYTES} bytes of JSON"),
        )));
    }
    let index = journey_set::current(env).await?;
    if index.get(id).is_none() {
        return Err(ApiError::NotFound);
    }
    let rules = rule_set::current(env).await?;
    let delivery = Delivery {
        user: user.clone(),
        version: rules.version(),
        events: Vec::new(),
        respond: false,
        journeys: index.version(),
        enter: Some(EnterRequest {
            journey: id.to_owned(),
            context,
        }),
        profile: None,
        hops: 0,
    };
    let answer = user_state::deliver(env, &delivery).await?;
    let entered = answer.entered.unwrap_or_default();
    let status = if entered.entered { 200 } else { 409 };
    Ok(Response::from_json(&json!({
        "journey": id, "user": user, "entered": entered.entered,
        "run": entered.run, "reason": entered.reason,
    }))?
    .with_status(status))
}

/// `GET /v1/journeys/{id}/stats`: per-node counts, and conversion vs holdout with its lift
/// (difference and 95 % interval; `null` until both groups have runs).
pub async fn stats(env: &Env, id: &str) -> Result<Response, ApiError> {
    journey_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    let rows = journey_set::stats(env, id).await?;
    let mut nodes: Map<String, Value> = Map::new();
    let mut totals: Map<String, Value> =
        ["entered", "converted", "holdoutEntered", "holdoutConverted"]
            .into_iter()
            .map(|k| (k.to_owned(), json!(0.0)))
            .collect();
    for r in &rows {
        let holdout = r.holdout > 0.0;
        if r.node.is_empty() {
            let key = match (r.what.as_str(), holdout) {
                ("entered", false) => "entered",
                ("converted", false) => "converted",
                ("entered", true) => "holdoutEntered",
                ("converted", true) => "holdoutConverted",
                _ => continue,
            };
            totals.insert(key.to_owned(), json!(r.n));
            continue;
        }
        let key = if holdout {
            format!("{}Holdout", r.what)
        } else {
            r.what.clone()
        };
        if let Value::Object(m) = nodes.entry(r.node.clone()).or_insert_with(|| json!({})) {
            m.insert(key, json!(r.n));
        }
    }
    let num = |k: &str| totals.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let rate = |c: &str, e: &str| (num(e) > 0.0).then(|| num(c) / num(e));
    let (conversion, holdout_conversion) = (
        rate("converted", "entered"),
        rate("holdoutConverted", "holdoutEntered"),
    );
    let lift = spur_core::journeys::lift::lift(
        num("converted"),
        num("entered"),
        num("holdoutConverted"),
        num("holdoutEntered"),
    );
    Ok(Response::from_json(&json!({
        "journey": id, "totals": totals, "nodes": nodes,
        "conversionRate": conversion, "holdoutConversionRate": holdout_conversion,
        "lift": lift,
    }))?)
}

/// `GET /v1/journeys/{id}/explain?user=…`: the person's active run and latest ended runs, node
/// by node, with the values each branch read.
pub async fn explain(req: &Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let url = req.url()?;
    let user = url
        .query_pairs()
        .find(|(q, _)| q == "user")
        .map(|(_, v)| v.into_owned())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::Invalid("?user= is required".into()))?;
    journey_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    let state = user_state::inspect(env, &user).await?;
    let j = state.get("journeys").cloned().unwrap_or(Value::Null);
    let runs = j
        .get("runs")
        .and_then(|r| r.get(id))
        .cloned()
        .unwrap_or(json!([]));
    let history = j.get("history").and_then(|h| h.get(id)).cloned();
    Ok(Response::from_json(&json!({
        "journey": id, "user": user,
        // The latest active run (the only one unless `entry.maxActive` > 1), and all of them.
        "active": runs.as_array().and_then(|r| r.last()).cloned(),
        "activeRuns": runs,
        "entries": history.as_ref().and_then(|h| h.get("entries")).cloned().unwrap_or(json!(0)),
        "ended": history.as_ref().and_then(|h| h.get("ended")).cloned().unwrap_or(json!([])),
        "traits": j.get("traits").cloned().unwrap_or(json!({})),
        "alarm": state.get("alarm").cloned().unwrap_or(Value::Null),
        "lastAlarm": state.get("lastAlarm").cloned().unwrap_or(Value::Null),
    }))?)
}

/// How far back a dry-run replays when no `from` is given.
pub const DEFAULT_DRY_RUN_MS: i64 = 7 * 86_400_000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DryRunBody {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// Replay the published revision instead of the draft.
    #[serde(default)]
    published: bool,
}

/// `POST /v1/journeys/{id}/dry-run {from?, to?, published?}`: replays stored events through
/// the draft (or the published revision): how many would have entered, per-node counts,
/// conversions, actions. Changes nothing.
pub async fn dry_run(mut req: Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let b: DryRunBody = if text.trim().is_empty() {
        DryRunBody::default()
    } else {
        serde_json::from_str(&text).map_err(|e| ApiError::Invalid(format!("dry-run body: {e}")))?
    };
    let stored = journey_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    let source = if b.published {
        stored
            .published
            .ok_or_else(|| ApiError::Invalid("the journey has no published revision".into()))?
    } else {
        stored.draft
    };
    let (journey, _, _) = checked(&source, Some(id))?;
    let at = |v: Option<&str>, name: &str| -> Result<Option<i64>, ApiError> {
        v.map(|t| {
            spur_core::instant::parse_rfc3339(t)
                .map(spur_core::instant::to_ms)
                .map_err(|e| ApiError::Invalid(format!("{name}: {e}")))
        })
        .transpose()
    };
    let to = at(b.to.as_deref(), "to")?.unwrap_or_else(crate::clock::now_ms);
    let from = at(b.from.as_deref(), "from")?.unwrap_or(to - DEFAULT_DRY_RUN_MS);
    let index = journeys::JourneyIndex::build([(journey, 1)], 0)
        .with_zones(Box::new(crate::clock::IntlZones));
    let compiled = index.get(id).ok_or(ApiError::NotFound)?;
    let mut names = compiled.event_names();
    names.push("$identify");
    let (events, truncated) =
        crate::storage::events::for_names(env, &names, from, to, None).await?;
    let result = journeys::replay::dry_run(&index, id, &events, to);
    Ok(Response::from_json(&json!({
        "journey": id,
        "from": spur_core::instant::ms_to_rfc3339(from),
        "to": spur_core::instant::ms_to_rfc3339(to),
        "events": events.len(), "truncated": truncated,
        "result": result,
    }))?)
}

/// The published (else draft) goal of journey `id`, as campaign results count it; `None` when
/// the journey is gone or has no goal.
pub async fn goal_of(env: &Env, id: &str) -> Result<Option<CampaignGoalSpec>, ApiError> {
    let Some(stored) = journey_set::get(env, id).await? else {
        return Ok(None);
    };
    let text = stored.published.as_deref().unwrap_or(&stored.draft);
    let journey: Option<Journey> = serde_json::from_str(text).ok();
    Ok(journey.and_then(|j| j.goal).map(|g| CampaignGoalSpec {
        events: g.events,
        within_ms: g.within.as_ms_i64(),
    }))
}
