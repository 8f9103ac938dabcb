//! A compiled value (rule index, journey index, live set) built from D1 rows, versioned by a
//! counter in `settings`, and cached per isolate.
//!
//! Invariant: every write of the value's rows bumps its counter ([`Versioned::bump`]); a cached
//! value is handed out unchecked for at most [`CACHE_TTL_MS`], then only the counter is read and
//! the value rebuilt when it moved — so a hot path costs no D1 read, and a write is seen
//! everywhere within the TTL. A caller that knows the version it needs (a Durable Object given
//! the version its caller judged by) gets exactly that version or a rebuild.

use std::rc::Rc;
use std::thread::LocalKey;

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::Env;

use crate::clock::{now, now_ms, rfc3339};
use crate::http::error::ApiError;
use crate::storage::cache::IsolateCache;
use crate::storage::DB_BINDING;

/// How long an isolate reuses a compiled value before re-reading its version.
pub const CACHE_TTL_MS: i64 = 10_000;

/// One versioned value: its `settings` key, its per-isolate cache, and how to read the version
/// a built value carries.
pub struct Versioned<T: 'static> {
    key: &'static str,
    slot: &'static LocalKey<IsolateCache<T>>,
    version_of: fn(&T) -> u64,
}

#[derive(Deserialize)]
struct ValueRow {
    value: String,
}

impl<T: 'static> Versioned<T> {
    /// A versioned value kept under `settings(key)`, cached in `slot`.
    pub const fn new(
        key: &'static str,
        slot: &'static LocalKey<IsolateCache<T>>,
        version_of: fn(&T) -> u64,
    ) -> Self {
        Versioned {
            key,
            slot,
            version_of,
        }
    }

    /// The value: cached if younger than [`CACHE_TTL_MS`], or if its version is still the
    /// stored one; else `build(stored version)`.
    pub async fn current(
        &self,
        env: &Env,
        build: impl AsyncFnOnce(u64) -> Result<T, ApiError>,
    ) -> Result<Rc<T>, ApiError> {
        let now = now_ms();
        if let Some(v) = self.slot.with(|c| c.fresh(now, CACHE_TTL_MS)) {
            return Ok(v);
        }
        let version = self.stored(env).await?;
        if self.cached_at(version).is_some() {
            if let Some(v) = self.slot.with(|c| c.renew(now)) {
                return Ok(v);
            }
        }
        self.put(build(version).await?)
    }

    /// The value at exactly `version` if this isolate has it; else built at the stored version
    /// (which a caller that just read `version` finds at least as new).
    pub async fn at_version(
        &self,
        env: &Env,
        version: u64,
        build: impl AsyncFnOnce(u64) -> Result<T, ApiError>,
    ) -> Result<Rc<T>, ApiError> {
        match self.cached_at(version) {
            Some(v) => Ok(v),
            None => {
                let stored = self.stored(env).await?;
                self.put(build(stored).await?)
            }
        }
    }

    /// The value at the stored version (one settings read, a rebuild only when it moved): for
    /// an admin write that must see a save made a moment ago.
    pub async fn latest(
        &self,
        env: &Env,
        build: impl AsyncFnOnce(u64) -> Result<T, ApiError>,
    ) -> Result<Rc<T>, ApiError> {
        let version = self.stored(env).await?;
        self.at_version(env, version, build).await
    }

    /// The stored version (0 before the first write).
    pub async fn stored(&self, env: &Env) -> Result<u64, ApiError> {
        let row: Option<ValueRow> = env
            .d1(DB_BINDING)?
            .prepare("SELECT value FROM settings WHERE key = ?1")
            .bind(&[self.key.into()])?
            .first(None)
            .await?;
        Ok(row.and_then(|r| r.value.parse().ok()).unwrap_or(0))
    }

    /// Bumps the stored version after a write of the value's rows, and forgets this isolate's
    /// value.
    pub async fn bump(&self, env: &Env) -> Result<(), ApiError> {
        env.d1(DB_BINDING)?
            .prepare(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, '1', ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), \
                 updated_at = excluded.updated_at",
            )
            .bind(&[self.key.into(), JsValue::from_str(&rfc3339(now()))])?
            .run()
            .await?;
        self.clear();
        Ok(())
    }

    /// Forgets this isolate's value (the next read rebuilds it).
    pub fn clear(&self) {
        self.slot.with(IsolateCache::clear);
    }

    fn cached_at(&self, version: u64) -> Option<Rc<T>> {
        let version_of = self.version_of;
        self.slot
            .with(|c| c.matching(|_, v| version_of(v) == version))
    }

    fn put(&self, value: T) -> Result<Rc<T>, ApiError> {
        Ok(self.slot.with(|c| c.put(now_ms(), value)))
    }
}
