//! Where the ingest configuration comes from, and its per-isolate cache.
//!
//! Invariant: the effective configuration is, in order of precedence, what an admin saved in
//! D1 (`settings`), else the `SPUR_CONFIG` secret, else no sources (every write key refused);
//! the tracking plan likewise, falling back to the repository's `tracking-plan.json`. A
//! compiled [`Pipeline`] is reused for [`CACHE_TTL_MS`] per isolate; after that only the
//! documents' version (bumped with every save, in the same batch) is read, and the pipeline is
//! compiled again only when it moved. An admin write through this isolate refreshes it at once.
//! The frequency policy (`frequency`, see `spur_core::frequency`) is saved and cached the same
//! way, apart from the pipeline, so the Durable Objects and the actions consumer that need only
//! it never compile a tracking plan.

use std::cell::Cell;
use std::rc::Rc;

use serde::Deserialize;
use spur_core::frequency::FrequencyPolicy;
use spur_core::{CompiledPlan, Config, ConfigError, Pipeline};
use wasm_bindgen::JsValue;
use worker::Env;

use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::storage::cache::IsolateCache;
use crate::storage::DB_BINDING;

/// The secret (or var) holding the JSON configuration.
pub const CONFIG_SECRET: &str = "SPUR_CONFIG";
/// The tracking plan shipped with the repository (used until an admin saves another).
pub const BUNDLED_PLAN: &str = include_str!("../../../tracking-plan.json");
/// How long an isolate reuses a compiled pipeline before re-reading D1.
pub const CACHE_TTL_MS: i64 = 10_000;

const KEY_CONFIG: &str = "config";
const KEY_PLAN: &str = "tracking_plan";
const KEY_VERSION: &str = "config_version";
const KEY_FREQUENCY: &str = "frequency";

thread_local! {
    static CACHE: IsolateCache<Pipeline> = const { IsolateCache::new() };
    /// The documents' version the cached pipeline was compiled from.
    static VERSION: Cell<Option<u64>> = const { Cell::new(None) };
    static FREQUENCY: IsolateCache<FrequencyPolicy> = const { IsolateCache::new() };
    /// The documents' version the cached frequency policy was read at.
    static FREQUENCY_VERSION: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Whether `settings(key)` holds a value (a once-only flag such as "the bundled rules were
/// seeded").
pub async fn is_set(env: &Env, key: &str) -> Result<bool, ApiError> {
    let row: Option<Row> = env
        .d1(DB_BINDING)?
        .prepare("SELECT key, value FROM settings WHERE key = ?1")
        .bind(&[key.into()])?
        .first(None)
        .await?;
    Ok(row.is_some())
}

/// The stored documents, as JSON text.
#[derive(Debug, Default)]
pub struct Documents {
    /// The configuration (sources, gpc, optional plan).
    pub config: String,
    /// The tracking plan, when one was saved apart from the configuration.
    pub plan: Option<String>,
}

#[derive(Deserialize)]
struct Row {
    key: String,
    value: String,
}

/// The compiled pipeline for this request (cached per isolate).
pub async fn pipeline(env: &Env) -> Result<Rc<Pipeline>, ApiError> {
    let now = now_ms();
    if let Some(p) = CACHE.with(|c| c.fresh(now, CACHE_TTL_MS)) {
        return Ok(p);
    }
    let version = version(env).await?;
    if VERSION.with(Cell::get) == Some(version) {
        if let Some(p) = CACHE.with(|c| c.renew(now)) {
            return Ok(p);
        }
    }
    let docs = documents(env).await?;
    let pipeline = compile(&docs)
        .map_err(|e| ApiError::Internal(format!("stored configuration does not compile: {e}")))?;
    VERSION.with(|v| v.set(Some(version)));
    Ok(CACHE.with(|c| c.put(now, pipeline)))
}

/// Forgets the cached pipeline and frequency policy (after an admin write).
pub fn invalidate() {
    CACHE.with(IsolateCache::clear);
    VERSION.with(|v| v.set(None));
    FREQUENCY.with(IsolateCache::clear);
    FREQUENCY_VERSION.with(|v| v.set(None));
}

/// The frequency policy (cached per isolate like the pipeline); unset: the empty policy,
/// which limits nothing ([`FrequencyPolicy::is_active`] is false).
pub async fn frequency(env: &Env) -> Result<Rc<FrequencyPolicy>, ApiError> {
    let now = now_ms();
    if let Some(p) = FREQUENCY.with(|c| c.fresh(now, CACHE_TTL_MS)) {
        return Ok(p);
    }
    let version = version(env).await?;
    if FREQUENCY_VERSION.with(Cell::get) == Some(version) {
        if let Some(p) = FREQUENCY.with(|c| c.renew(now)) {
            return Ok(p);
        }
    }
    let row: Option<Row> = env
        .d1(DB_BINDING)?
        .prepare("SELECT key, value FROM settings WHERE key = ?1")
        .bind(&[KEY_FREQUENCY.into()])?
        .first(None)
        .await?;
    // Saved only after `FrequencyPolicy::from_json` accepted it.
    let policy = match row {
        Some(r) => serde_json::from_str(&r.value)
            .map_err(|e| ApiError::Internal(format!("stored frequency policy: {e}")))?,
        None => FrequencyPolicy::default(),
    };
    FREQUENCY_VERSION.with(|v| v.set(Some(version)));
    Ok(FREQUENCY.with(|c| c.put(now, policy)))
}

/// Saves a checked frequency policy (the empty policy removes every limit).
pub async fn save_frequency(env: &Env, policy: &FrequencyPolicy) -> Result<(), ApiError> {
    let json = serde_json::to_string(policy).map_err(|e| ApiError::Internal(e.to_string()))?;
    save(env, KEY_FREQUENCY, &json).await
}

/// The documents' version: 0 until the first save.
async fn version(env: &Env) -> Result<u64, ApiError> {
    let row: Option<Row> = env
        .d1(DB_BINDING)?
        .prepare("SELECT key, value FROM settings WHERE key = ?1")
        .bind(&[KEY_VERSION.into()])?
        .first(None)
        .await?;
    Ok(row.and_then(|r| r.value.parse().ok()).unwrap_or(0))
}

/// Compiles documents into a pipeline; the plan falls back to the bundled one.
pub fn compile(docs: &Documents) -> Result<Pipeline, ConfigError> {
    let mut pipeline = Pipeline::from_json(&docs.config)?;
    match &docs.plan {
        Some(plan) => pipeline.set_plan(Some(CompiledPlan::from_json(plan)?)),
        None if pipeline.plan().is_none() => {
            pipeline.set_plan(Some(CompiledPlan::from_json(BUNDLED_PLAN)?));
        }
        None => {}
    }
    Ok(pipeline)
}

/// Reads the effective documents: D1 first, then the secret.
pub async fn documents(env: &Env) -> Result<Documents, ApiError> {
    let rows: Vec<Row> = env
        .d1(DB_BINDING)?
        .prepare("SELECT key, value FROM settings WHERE key IN (?1, ?2)")
        .bind(&[KEY_CONFIG.into(), KEY_PLAN.into()])?
        .all()
        .await?
        .results()?;
    let mut docs = Documents::default();
    let mut config = None;
    for row in rows {
        match row.key.as_str() {
            KEY_CONFIG => config = Some(row.value),
            KEY_PLAN => docs.plan = Some(row.value),
            _ => {}
        }
    }
    docs.config = match config {
        Some(c) => c,
        None => env
            .secret(CONFIG_SECRET)
            .map(|s| s.to_string())
            .or_else(|_| env.var(CONFIG_SECRET).map(|v| v.to_string()))
            .unwrap_or_else(|_| r#"{"sources":{}}"#.to_owned()),
    };
    Ok(docs)
}

/// The effective configuration, parsed.
pub async fn config(env: &Env) -> Result<Config, ApiError> {
    let docs = documents(env).await?;
    serde_json::from_str(&docs.config).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Validates and saves a configuration document.
pub async fn save_config(env: &Env, config: &Config) -> Result<(), ApiError> {
    let json = serde_json::to_string(config).map_err(|e| ApiError::Internal(e.to_string()))?;
    Pipeline::from_json(&json).map_err(ApiError::Config)?;
    save(env, KEY_CONFIG, &json).await
}

/// Validates and saves a tracking plan document.
pub async fn save_plan(env: &Env, plan_json: &str) -> Result<(), ApiError> {
    CompiledPlan::from_json(plan_json).map_err(ApiError::Config)?;
    save(env, KEY_PLAN, plan_json).await
}

async fn save(env: &Env, key: &str, value: &str) -> Result<(), ApiError> {
    let now = JsValue::from_str(&crate::clock::rfc3339(crate::clock::now()));
    let db = env.d1(DB_BINDING)?;
    // One batch (a transaction): no isolate sees the new document under the old version.
    let write = db
        .prepare(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(&[key.into(), value.into(), now.clone()])?;
    let bump = db
        .prepare(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, '1', ?2) \
             ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), \
             updated_at = excluded.updated_at",
        )
        .bind(&[KEY_VERSION.into(), now])?;
    db.batch(vec![write, bump]).await?;
    invalidate();
    Ok(())
}
