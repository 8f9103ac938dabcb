//! Admin: trigger rules — list, read, save, delete, dry-run and explain.
//!
//! Invariant: nothing is saved unless spur-core compiles it; a refused rule gets a 400 whose
//! `reason` is the rule error's stable code and whose `detail` names the field (`/trigger/condition:
//! unknown operator "equals"…`). Dry-run and explain read stored events and never change state.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use spur_core::rules::{
    self, compile, dry_run, explain, CompiledRule, Rule, RuleError, RuleErrorKind,
};
use spur_core::Event;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use crate::clock::{now, unix_ms};
use crate::http::error::ApiError;
use crate::objects::user_state;
use crate::storage::rules as rule_set;
use crate::storage::DB_BINDING;

/// Most stored events one dry run or explain reads.
pub const MAX_REPLAY_EVENTS: u32 = 20_000;
/// Default dry-run and explain look-back.
pub const DEFAULT_LOOKBACK_MS: i64 = 7 * 86_400_000;

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
    #[derive(Deserialize)]
    struct Count {
        rule_id: String,
        n: f64,
    }
    #[allow(clippy::cast_precision_loss)] // a day in ms is exact in f64
    let since = unix_ms(now()) - RECENT_FIRINGS_MS as f64;
    let counts: Vec<Count> = env
        .d1(DB_BINDING)?
        .prepare(
            "SELECT rule_id, count(*) AS n FROM rule_firings WHERE fired_ms >= ?1 GROUP BY rule_id",
        )
        .bind(&[since.into()])?
        .all()
        .await?
        .results()?;
    let rules: Vec<Value> = rule_set::list(env)
        .await?
        .iter()
        .map(|stored| {
            let mut v = shown(stored);
            let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
            let n = counts.iter().find(|c| c.rule_id == id).map_or(0.0, |c| c.n);
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
    let text = read_text(&mut req).await?;
    let rule = checked(&text, id)?;
    let compiled = compile(&spur_core::rules::condition_engine(), rule).map_err(ApiError::Rule)?;
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

/// The body as text, bounded like every request body (a rule itself is limited further, to
/// `MAX_RULE_BYTES`, when parsed).
async fn read_text(req: &mut Request) -> Result<String, ApiError> {
    let bytes = crate::http::body::read_bounded(req, spur_core::limits::MAX_BATCH_BYTES).await?;
    String::from_utf8(bytes).map_err(|_| ApiError::Invalid("body is not UTF-8".into()))
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
    let text = read_text(&mut req).await?;
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
    let to = body.to.map_or_else(|| ms(now()), ms);
    let from = body.from.map_or(to - DEFAULT_LOOKBACK_MS, ms);
    let (events, truncated) = read_events(env, &rule, from, to, None).await?;
    let result = dry_run(&engine, &rule, &events, to);
    Ok(Response::from_json(&json!({
        "rule": id,
        "from": rfc(from), "to": rfc(to),
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
    let to = ms(now());
    let from = match param("from") {
        Some(f) => ms(OffsetDateTime::parse(&f, &Rfc3339)
            .map_err(|e| ApiError::Invalid(format!("from: {e}")))?),
        None => to - lookback(&rule),
    };
    let (events, truncated) = read_events(env, &rule, from, to, Some(&user)).await?;
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
        json!({ "state": state, "alarm": pick("alarm"), "outbox": pick("outbox") })
    });
    Ok(Response::from_json(&json!({
        "rule": id, "user": user, "enabled": enabled,
        "from": rfc(from), "to": rfc(to), "truncated": truncated,
        "explanation": x,
        "live": live,
        "recorded": firings(env, id, &user).await?,
    }))?)
}

/// How far back explain looks: long enough to cover the rule's window, at least a week.
fn lookback(rule: &CompiledRule) -> i64 {
    let span = match &rule.kind {
        rules::Kind::Window { within, .. }
        | rules::Kind::Absence { within, .. }
        | rules::Kind::Sequence { within, .. } => within.as_ms_i64(),
        rules::Kind::Instant => 0,
    };
    let cap = rule.rule.cap.as_ref().map_or(0, |c| c.per.as_ms_i64());
    DEFAULT_LOOKBACK_MS.max(span.saturating_mul(2)).max(cap)
}

async fn stored_rule(env: &Env, id: &str) -> Result<Rule, ApiError> {
    let stored = rule_set::get(env, id).await?.ok_or(ApiError::NotFound)?;
    rules::parse(&stored.body).map_err(ApiError::Rule)
}

async fn firings(env: &Env, id: &str, user: &str) -> Result<Vec<Value>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        fired_at: String,
        source: String,
        capped: f64,
        message_ids: String,
        actions: String,
        attempts: f64,
    }
    let rows: Vec<Row> = env
        .d1(DB_BINDING)?
        .prepare(
            "SELECT id, fired_at, source, capped, message_ids, actions, attempts FROM rule_firings \
             WHERE rule_id = ?1 AND user_id = ?2 ORDER BY fired_ms DESC LIMIT 20",
        )
        .bind(&[id.into(), user.into()])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id, "firedAt": r.fired_at, "source": r.source, "capped": r.capped > 0.0,
                "messageIds": serde_json::from_str::<Value>(&r.message_ids).unwrap_or_default(),
                "actions": serde_json::from_str::<Value>(&r.actions).unwrap_or_default(),
                "attempts": r.attempts,
            })
        })
        .collect())
}

/// Stored events in `[from, to)` that the rule names (all of them for `*`), oldest first.
async fn read_events(
    env: &Env,
    rule: &CompiledRule,
    from: i64,
    to: i64,
    user: Option<&str>,
) -> Result<(Vec<Event>, bool), ApiError> {
    let mut sql = String::from(
        "SELECT message_id, type, event, name, user_id, anonymous_id, group_id, previous_id, timestamp, \
         received_at, sent_at, original_timestamp, properties, traits, context, integrations \
         FROM events WHERE ts_ms >= ?1 AND ts_ms < ?2",
    );
    #[allow(clippy::cast_precision_loss)]
    let mut args: Vec<JsValue> = vec![JsValue::from_f64(from as f64), JsValue::from_f64(to as f64)];
    if let Some(u) = user {
        // Explain reads everything the user did, so misspelt trigger names show up.
        args.push(u.into());
        sql.push_str(" AND (user_id = ?3 OR anonymous_id = ?3)");
    } else if !rule.event_names().any(|n| n == "*") {
        let mut clauses = Vec::new();
        for name in rule.event_names() {
            args.push(name.trim_start_matches('$').into());
            let n = args.len();
            clauses.push(if name.starts_with('$') {
                format!("type = ?{n}")
            } else {
                format!("(type = 'track' AND event = ?{n})")
            });
        }
        sql.push_str(&format!(" AND ({})", clauses.join(" OR ")));
    }
    sql.push_str(&format!(
        " ORDER BY ts_ms, message_id LIMIT {}",
        MAX_REPLAY_EVENTS + 1
    ));
    let rows: Vec<Map<String, Value>> = env
        .d1(DB_BINDING)?
        .prepare(&sql)
        .bind(&args)?
        .all()
        .await?
        .results()?;
    let truncated = rows.len() > MAX_REPLAY_EVENTS as usize;
    let events = rows
        .into_iter()
        .take(MAX_REPLAY_EVENTS as usize)
        .filter_map(row_event)
        .collect();
    Ok((events, truncated))
}

/// An `events` row back into a Segment event.
fn row_event(row: Map<String, Value>) -> Option<Event> {
    let mut out = Map::new();
    for (col, key) in [
        ("message_id", "messageId"),
        ("type", "type"),
        ("event", "event"),
        ("name", "name"),
        ("user_id", "userId"),
        ("anonymous_id", "anonymousId"),
        ("group_id", "groupId"),
        ("previous_id", "previousId"),
        ("timestamp", "timestamp"),
        ("received_at", "receivedAt"),
        ("sent_at", "sentAt"),
        ("original_timestamp", "originalTimestamp"),
    ] {
        if let Some(v) = row.get(col).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    for (col, key) in [
        ("properties", "properties"),
        ("traits", "traits"),
        ("context", "context"),
        ("integrations", "integrations"),
    ] {
        let parsed = row
            .get(col)
            .and_then(Value::as_str)
            .and_then(|t| serde_json::from_str(t).ok());
        out.insert(key.into(), parsed.unwrap_or_else(|| json!({})));
    }
    serde_json::from_value(Value::Object(out)).ok()
}

#[allow(clippy::cast_possible_truncation)]
fn ms(t: OffsetDateTime) -> i64 {
    unix_ms(t) as i64
}

fn rfc(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}
