//! Where journeys live (D1 `journeys`: a draft and the published revision each) and the
//! per-isolate compiled [`JourneyIndex`] of published ones; per-node stats (`journey_stats`).
//!
//! Invariant: only journeys that compiled are stored (the admin API validates with spur-core
//! before writing); every publish or delete bumps `settings('journeys_version')`, and an index
//! is reused as [`Versioned`] says: unchecked for a few seconds, then while that version stands,
//! or until a caller asks for a newer version (the ingest request passes its version to the
//! person's Durable Object).

use std::rc::Rc;

use serde::Deserialize;
use spur_core::journeys::{self, Journey, JourneyIndex, Tick};
use wasm_bindgen::JsValue;
use worker::{console_warn, Env};

use crate::clock::{now, rfc3339};
use crate::http::error::ApiError;
use crate::storage::cache::IsolateCache;
use crate::storage::settings;
use crate::storage::versioned::Versioned;
use crate::storage::DB_BINDING;

/// The journeys shipped with the repository (the demo shop's cart abandonment), saved once as
/// unpublished drafts into an empty database: nothing runs until an operator publishes.
pub const BUNDLED_JOURNEYS: &str = include_str!("../../../journeys.json");

const KEY_SEEDED: &str = "journeys_seeded";

thread_local! {
    static CACHE: IsolateCache<JourneyIndex> = const { IsolateCache::new() };
}

static JOURNEYS: Versioned<JourneyIndex> =
    Versioned::new("journeys_version", &CACHE, JourneyIndex::version);

/// A stored journey.
#[derive(Debug, Deserialize)]
pub struct StoredJourney {
    /// Id.
    pub id: String,
    /// The draft document (JSON text).
    pub draft: String,
    /// The published document, if any.
    pub published: Option<String>,
    /// The published revision (0: never).
    pub revision: f64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// The live index (cached per isolate; rebuilt only when the version moved).
pub async fn current(env: &Env) -> Result<Rc<JourneyIndex>, ApiError> {
    JOURNEYS.current(env, |v| build(env, v)).await
}

/// The live index, rebuilt unless the cached one is exactly `version`.
pub async fn at_version(env: &Env, version: u64) -> Result<Rc<JourneyIndex>, ApiError> {
    JOURNEYS.at_version(env, version, |v| build(env, v)).await
}

async fn build(env: &Env, version: u64) -> Result<JourneyIndex, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        published: String,
        revision: f64,
    }
    let rows: Vec<Row> = env
        .d1(DB_BINDING)?
        .prepare("SELECT published, revision FROM journeys WHERE published IS NOT NULL ORDER BY id")
        .all()
        .await?
        .results()?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let parsed = rows
        .into_iter()
        .filter_map(|r| match journeys::parse(&r.published) {
            Ok(j) => Some((j, r.revision as u64)),
            Err(e) => {
                console_warn!("stored journey does not parse (skipped): {e}");
                None
            }
        });
    let index = JourneyIndex::build(parsed, version).with_zones(Box::new(crate::clock::IntlZones));
    for (id, e) in index.skipped() {
        console_warn!(
            "stored journey {id} does not compile (skipped): {} {e}",
            e.code()
        );
    }
    Ok(index)
}

const COLUMNS: &str = "id, draft, published, revision, created_at, updated_at";

/// Saves the bundled journeys as drafts once, the first time the list is read (later deletes
/// stick).
async fn seed(env: &Env) -> Result<(), ApiError> {
    let db = env.d1(DB_BINDING)?;
    if settings::is_set(env, KEY_SEEDED).await? {
        return Ok(());
    }
    let bundled: Vec<Journey> = serde_json::from_str(BUNDLED_JOURNEYS)
        .map_err(|e| ApiError::Internal(format!("journeys.json: {e}")))?;
    let at = JsValue::from_str(&rfc3339(now()));
    let mut stmts = Vec::new();
    for j in bundled {
        let body = serde_json::to_string(&j).map_err(|e| ApiError::Internal(e.to_string()))?;
        stmts.push(
            db.prepare(
                "INSERT INTO journeys (id, draft, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) \
                 ON CONFLICT(id) DO NOTHING",
            )
            .bind(&[j.id.as_str().into(), body.into(), at.clone()])?,
        );
    }
    stmts.push(
        db.prepare(
            "INSERT INTO settings (key, value, updated_at) VALUES (?1, 'true', ?2) \
             ON CONFLICT(key) DO NOTHING",
        )
        .bind(&[KEY_SEEDED.into(), at])?,
    );
    db.batch(stmts).await?;
    Ok(())
}

/// Every stored journey, by id.
pub async fn list(env: &Env) -> Result<Vec<StoredJourney>, ApiError> {
    seed(env).await?;
    Ok(env
        .d1(DB_BINDING)?
        .prepare(format!("SELECT {COLUMNS} FROM journeys ORDER BY id"))
        .all()
        .await?
        .results()?)
}

/// One stored journey.
pub async fn get(env: &Env, id: &str) -> Result<Option<StoredJourney>, ApiError> {
    Ok(env
        .d1(DB_BINDING)?
        .prepare(format!("SELECT {COLUMNS} FROM journeys WHERE id = ?1"))
        .bind(&[id.into()])?
        .first(None)
        .await?)
}

/// How many journeys are stored.
pub async fn count(env: &Env) -> Result<usize, ApiError> {
    #[derive(Deserialize)]
    struct N {
        n: f64,
    }
    let n: Option<N> = env
        .d1(DB_BINDING)?
        .prepare("SELECT count(*) AS n FROM journeys")
        .first(None)
        .await?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(n.map_or(0, |n| n.n as usize))
}

/// Saves a draft that already compiled. Returns whether the journey was new.
pub async fn put_draft(env: &Env, journey: &Journey) -> Result<bool, ApiError> {
    let existed = get(env, &journey.id).await?.is_some();
    let body = serde_json::to_string(journey).map_err(|e| ApiError::Internal(e.to_string()))?;
    env.d1(DB_BINDING)?
        .prepare(
            "INSERT INTO journeys (id, draft, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) \
             ON CONFLICT(id) DO UPDATE SET draft = excluded.draft, updated_at = excluded.updated_at",
        )
        .bind(&[
            journey.id.as_str().into(),
            body.into(),
            JsValue::from_str(&rfc3339(now())),
        ])?
        .run()
        .await?;
    Ok(!existed)
}

/// Publishes the draft as the next revision (the draft compiled when it was saved).
pub async fn publish(env: &Env, id: &str) -> Result<(), ApiError> {
    env.d1(DB_BINDING)?
        .prepare(
            "UPDATE journeys SET published = draft, revision = revision + 1, updated_at = ?2 \
             WHERE id = ?1",
        )
        .bind(&[id.into(), JsValue::from_str(&rfc3339(now()))])?
        .run()
        .await?;
    JOURNEYS.bump(env).await
}

/// Deletes a journey (its waiting runs end with `journey_removed`). Returns whether it existed.
pub async fn delete(env: &Env, id: &str) -> Result<bool, ApiError> {
    let existed = get(env, id).await?.is_some();
    if existed {
        let db = env.d1(DB_BINDING)?;
        db.batch(vec![
            db.prepare("DELETE FROM journeys WHERE id = ?1")
                .bind(&[id.into()])?,
            db.prepare("DELETE FROM journey_stats WHERE journey_id = ?1")
                .bind(&[id.into()])?,
        ])
        .await?;
        JOURNEYS.bump(env).await?;
    }
    Ok(existed)
}

/// Adds a transition's ticks to the per-node counts.
pub async fn add_ticks(env: &Env, ticks: &[Tick]) -> Result<(), ApiError> {
    if ticks.is_empty() {
        return Ok(());
    }
    let db = env.d1(DB_BINDING)?;
    let mut stmts = Vec::new();
    for t in ticks {
        stmts.push(
            db.prepare(
                "INSERT INTO journey_stats (journey_id, node, what, holdout, n) VALUES (?1, ?2, ?3, ?4, 1) \
                 ON CONFLICT(journey_id, node, what, holdout) DO UPDATE SET n = n + 1",
            )
            .bind(&[
                t.journey.as_str().into(),
                t.node.as_str().into(),
                t.what.into(),
                JsValue::from_f64(if t.holdout { 1.0 } else { 0.0 }),
            ])?,
        );
    }
    db.batch(stmts).await?;
    Ok(())
}

/// One stats row.
#[derive(Debug, Deserialize)]
pub struct StatRow {
    /// Node id (`""`: journey level).
    pub node: String,
    /// `entered`, `visited`, `exited`, `converted`.
    pub what: String,
    /// 1 for holdout runs.
    pub holdout: f64,
    /// Count.
    pub n: f64,
}

/// A journey's counts.
pub async fn stats(env: &Env, id: &str) -> Result<Vec<StatRow>, ApiError> {
    Ok(env
        .d1(DB_BINDING)?
        .prepare("SELECT node, what, holdout, n FROM journey_stats WHERE journey_id = ?1 ORDER BY node, what, holdout")
        .bind(&[id.into()])?
        .all()
        .await?
        .results()?)
}
