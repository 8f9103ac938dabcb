//! Admin: trigger rules — list, read, save, delete, dry-run and explain.
//!
//! Invariant: nothing is saved unless spur-core compiles it; a refused rule gets a 400 whose
//! `reason` is the rule error's stable code and whose `detail` names the field (`/trigger/condition:
//! unknown operator "equals"…`). Dry-run and explain read stored events and never change state.

use serde::Deserialize;
use serde_json::{json, Value};
use spur_core::instant::{self, ms_to_rfc3339};
use spur_core::rules::replay::DEFAULT_LOOKBACK_MS;
use spur_core::rules::{self, compile, dry_run, explain, lookback, Rule, RuleError, RuleErrorKind};
use time::OffsetDateTime;
use worker::{Env, Request, Response};

use crate::clock::now_ms;
use crate::http::body;
use crate::http::error::ApiError;
use crate::objects::user_state;
use crate::storage::live_segments;
use crate::storage::rules as rule_set;
use crate::storage::{events, firings};

fn shown(stored: &rule_set::StoredRule) -> Value {
    let mut v: Value = serde_json::from_str(&stored.body).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("createdAt".into(), stored.created_at.clone().into());
        m.insert("updatedAt".into(), stored.updated_at.clone().into());
    }
    v
}

/// How far back `firings` in `GET /v1/rules` counts.
pub const RECENT_FIRINGS_MS: i64 = 86_400_000;

/// `GET /v1/rules`: every rule, each with `firings`, its firings in the last 24 hours.
pub async fn list(env: &Env) -> Result<Response, ApiError> {
    let counts = firings::counts_since(env, now_ms() - RECENT_FIRINGS_MS).await?;
    let rules: Vec<Value> = rule_set::list(env)
        .await?
        .iter()
        .map(|stored| {
            let mut v = shown(stored);
            let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
            let n = counts
                .iter()
                .find(|(r, _)| r == id)
                .map_or(0.0, |(_, n)| *n);
            if let Value::Object(m) = &mut v {
                m.insert("firings".into(), json!(n));
            }
            v
        })
        .collect();
    Ok(Response::from_json(&json!({ "rules": rules }))?)
}

/// `GET /v1/rules/{id}`.
pub async fn get(env: &Env, id: &str) -> Result<Response, ApiError> {
    let stored = rule_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Response::from_json(&shown(&stored))?)
}

/// `PUT /v1/rules/{id}`: the body is the rule (its `id` may be left out; if present it must match).
pub async fn put(mut req: Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let rule = checked(&text, id)?;
    let compiled = compile(&spur_core::rules::condition_engine(), rule).map_err(ApiError::Rule)?;
    check_segments(env, &compiled).await?;
    if rule_set::get(env, id).await?.is_none() && rule_set::count(env).await? >= rules::MAX_RULES {
        return Err(ApiError::Invalid(format!(
            "at most {} rules may be stored",
            rules::MAX_RULES
        )));
    }
    let created = rule_set::put(env, &compiled.rule).await?;
    let stored = rule_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Response::from_json(&shown(&stored))?.with_status(if created { 201 } else { 200 }))
}

/// Refuses a rule whose condition reads `segments.<id>` of a segment that is not live (unknown,
/// or saved without `live`): membership is kept for live segments only, so such a condition
/// could never hold. A live segment deleted or made non-live later reads `false`.
async fn check_segments(env: &Env, compiled: &rules::CompiledRule) -> Result<(), ApiError> {
    if !compiled.reads_segments() {
        return Ok(());
    }
    let set = live_segments::latest(env).await?;
    let Some(id) = compiled.segments().iter().find(|id| !set.contains(id)) else {
        return Ok(());
    };
    let in_trigger = compiled
        .trigger
        .condition
        .as_ref()
        .is_some_and(|c| c.segments().contains(id));
    Err(ApiError::Rule(RuleError::new(
        RuleErrorKind::UnknownSegment,
        if in_trigger { "/trigger/condition" } else { "" },
        format!(
            "segments.{id}: no live segment {id:?}; save the segment with \"live\": true first"
        ),
    )))
}

/// Parses a rule body for path `id` (filling in a missing `id`).
fn checked(text: &str, id: &str) -> Result<Rule, ApiError> {
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::Rule(RuleError::new(RuleErrorKind::Malformed, "", e.to_string())))?;
    if let Value::Object(m) = &mut value {
        for k in ["createdAt", "updatedAt"] {
            m.remove(k);
        }
        match m.get("id") {
            None => {
                m.insert("id".into(), id.into());
            }
            Some(Value::String(given)) if given == id => {}
            Some(other) => {
                return Err(ApiError::Rule(RuleError::new(
                    RuleErrorKind::IdMismatch,
                    "/id",
                    format!("body id {other} differs from the path's {id:?}"),
                )))
            }
        }
    }
    let text = value.to_string();
    rules::parse(&text).map_err(ApiError::Rule)
}

/// `DELETE /v1/rules/{id}`.
pub async fn delete(env: &Env, id: &str) -> Result<Response, ApiError> {
    if rule_set::delete(env, id).await? {
        Ok(Response::empty()?.with_status(204))
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DryRunBody {
    #[serde(default, with = "time::serde::rfc3339::option")]
    from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    to: Option<OffsetDateTime>,
    /// A draft to try instead of the stored rule.
    #[serde(default)]
    rule: Option<Value>,
}

/// `POST /v1/rules/{id}/dry-run {from?, to?, rule?}`: who would have fired, and when.
pub async fn dry_run_route(mut req: Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let text = body::read_text(&mut req).await?;
    let body: DryRunBody = if text.trim().is_empty() {
        DryRunBody::default()
    } else {
        serde_json::from_str(&text).map_err(|e| ApiError::Invalid(e.to_string()))?
    };
    let engine = spur_core::rules::condition_engine();
    let rule = match body.rule {
        Some(draft) => checked(&draft.to_string(), id)?,
        None => stored_rule(env, id).await?,
    };
    let rule = compile(&engine, rule).map_err(ApiError::Rule)?;
    let to = body.to.map_or_else(now_ms, instant::to_ms);
    let from = body.from.map_or(to - DEFAULT_LOOKBACK_MS, instant::to_ms);
    let (events, truncated) = events::for_rule(env, &rule, from, to, None).await?;
    let result = dry_run(&engine, &rule, &events, to);
    Ok(Response::from_json(&json!({
        "rule": id,
        "from": ms_to_rfc3339(from), "to": ms_to_rfc3339(to),
        "truncated": truncated,
        "result": result,
    }))?)
}

/// `GET /v1/rules/{id}/explain?user=…[&from=…]`: why the rule did or did not fire for a user.
pub async fn explain_route(req: &Request, env: &Env, id: &str) -> Result<Response, ApiError> {
    let url = req.url()?;
    let param = |k: &str| {
        url.query_pairs()
            .find(|(q, _)| q == k)
            .map(|(_, v)| v.into_owned())
    };
    let user = param("user")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::Invalid("?user= is required".into()))?;
    let stored = stored_rule(env, id).await?;
    let enabled = stored.enabled;
    let engine = spur_core::rules::condition_engine();
    let rule = compile(&engine, stored).map_err(ApiError::Rule)?;
    let to = now_ms();
    let from = match param("from") {
        Some(f) => instant::to_ms(
            instant::parse_rfc3339(&f).map_err(|e| ApiError::Invalid(format!("from: {e}")))?,
        ),
        None => to - lookback(&rule),
    };
    let (events, truncated) = events::for_rule(env, &rule, from, to, Some(&user)).await?;
    let mut x = explain(&engine, &rule, &events, to);
    if !enabled {
        x.summary = format!(
            "the rule is disabled, so it never fires; replayed as if enabled: {}",
            x.summary
        );
    }
    let live = user_state::inspect(env, &user).await.ok().map(|s| {
        let pick = |k: &str| s.get(k).cloned().unwrap_or(Value::Null);
        let state = s.get("rules").and_then(|r| r.get(id)).cloned();
        json!({ "state": state, "alarm": pick("alarm"), "outbox": pick("outbox"),
            "identity": pick("identity"), "segments": pick("live") })
    });
    Ok(Response::from_json(&json!({
        "rule": id, "user": user, "enabled": enabled,
        "from": ms_to_rfc3339(from), "to": ms_to_rfc3339(to), "truncated": truncated,
        "explanation": x,
        "live": live,
        "recorded": firings::of_user(env, id, &user).await?,
    }))?)
}

async fn stored_rule(env: &Env, id: &str) -> Result<Rule, ApiError> {
    let stored = rule_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    rules::parse(&stored.body).map_err(ApiError::Rule)
}
