//! The live segments in force: a per-isolate compiled [`LiveSet`], versioned like the rule
//! index.
//!
//! Invariant: every segment write or delete bumps `settings('segments_version')`; a set is
//! reused for at most [`CACHE_TTL_MS`] (then only the version is read, and the set rebuilt
//! when it moved) — so the events consumer costs no D1 read per event — or until a caller
//! asks for a newer version (the consumer passes its version to the person's object).

use std::rc::Rc;

use serde::Deserialize;
use spur_core::query::live_set::LiveSet;
use spur_core::query::segment::SavedSegment;
use wasm_bindgen::JsValue;
use worker::{console_warn, Env};

use crate::clock::{now, now_ms, rfc3339};
use crate::http::error::ApiError;
use crate::storage::cache::IsolateCache;
use crate::storage::{segments, DB_BINDING};

/// How long an isolate reuses a compiled live set before re-reading the version.
pub const CACHE_TTL_MS: i64 = 10_000;

const KEY_VERSION: &str = "segments_version";

thread_local! {
    static CACHE: IsolateCache<LiveSet> = const { IsolateCache::new() };
}

#[derive(Deserialize)]
struct ValueRow {
    value: String,
}

/// The live set (cached per isolate; rebuilt when the version moved).
pub async fn current(env: &Env) -> Result<Rc<LiveSet>, ApiError> {
    let now = now_ms();
    if let Some(s) = CACHE.with(|c| c.fresh(now, CACHE_TTL_MS)) {
        return Ok(s);
    }
    let version = version(env).await?;
    if CACHE.with(|c| c.matching(|_, s| s.version() == version).is_some()) {
        if let Some(s) = CACHE.with(|c| c.renew(now)) {
            return Ok(s);
        }
    }
    reload(env, version).await
}

/// The live set, reloaded unless the cached one is exactly `version` (Durable Objects).
pub async fn at_version(env: &Env, version: u64) -> Result<Rc<LiveSet>, ApiError> {
    match CACHE.with(|c| c.matching(|_, s| s.version() == version)) {
        Some(s) => Ok(s),
        None => {
            let v = self::version(env).await?;
            reload(env, v).await
        }
    }
}

async fn reload(env: &Env, version: u64) -> Result<Rc<LiveSet>, ApiError> {
    let rows = segments::list(env).await?;
    let saved = rows.into_iter().filter_map(|r| {
        match serde_json::from_str::<SavedSegment>(&r.definition) {
            Ok(s) => Some((r.id, s)),
            Err(e) => {
                console_warn!("stored segment {} does not parse (skipped): {e}", r.id);
                None
            }
        }
    });
    let (set, skipped) = LiveSet::build(version, saved);
    for (id, e) in skipped {
        console_warn!("live segment {id} does not compile (skipped): {e}");
    }
    Ok(CACHE.with(|c| c.put(now_ms(), set)))
}

/// The live set at the stored version (one settings read; rebuilt only when it moved): what a
/// rule save checks its `segments.<id>` against, so a segment saved a moment ago counts.
pub async fn latest(env: &Env) -> Result<Rc<LiveSet>, ApiError> {
    let v = version(env).await?;
    at_version(env, v).await
}

async fn version(env: &Env) -> Result<u64, ApiError> {
    let row: Option<ValueRow> = env
        .d1(DB_BINDING)?
        .prepare("SELECT value FROM settings WHERE key = ?1")
        .bind(&[KEY_VERSION.into()])?
        .first(None)
        .await?;
    Ok(row.and_then(|r| r.value.parse().ok()).unwrap_or(0))
}

/// Bumps the version after a segment write or delete, and forgets this isolate's set.
pub async fn bump_version(env: &Env) -> Result<(), ApiError> {
    env.d1(DB_BINDING)?
        .prepare(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, '1', ?2) \
             ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), \
             updated_at = excluded.updated_at",
        )
        .bind(&[KEY_VERSION.into(), JsValue::from_str(&rfc3339(now()))])?
        .run()
        .await?;
    CACHE.with(IsolateCache::clear);
    Ok(())
}
