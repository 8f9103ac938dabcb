//! Where rules live (D1 `rules`, seeded from the repository's `rules.json`) and the per-isolate
//! compiled [`RuleIndex`].
//!
//! Invariant: only rules that compiled are stored (the admin API validates with spur-core before
//! writing); every write bumps `settings('rules_version')`, and an index is reused as
//! [`Versioned`] says — or until a caller asks for a newer version (the ingest request passes
//! its version to the user's Durable Object, so both judge an event by the same rule set).

use std::cell::Cell;
use std::rc::Rc;

use serde::Deserialize;
use spur_core::rules::{self, Rule, RuleIndex};
use wasm_bindgen::JsValue;
use worker::{console_warn, Env};

use crate::clock::{now, rfc3339};
use crate::http::error::ApiError;
use crate::storage::cache::IsolateCache;
use crate::storage::settings;
use crate::storage::versioned::Versioned;
use crate::storage::DB_BINDING;

/// The rules shipped with the repository, inserted once into an empty database.
pub const BUNDLED_RULES: &str = include_str!("../../../rules.json");

const KEY_SEEDED: &str = "rules_seeded";

thread_local! {
    static CACHE: IsolateCache<RuleIndex> = const { IsolateCache::new() };
    /// Whether this isolate already made sure the bundled rules were seeded.
    static SEEDED: Cell<bool> = const { Cell::new(false) };
}

static RULES: Versioned<RuleIndex> = Versioned::new("rules_version", &CACHE, RuleIndex::version);

#[derive(Deserialize)]
struct BodyRow {
    body: String,
}

/// A stored rule with its timestamps.
#[derive(Debug, Deserialize)]
pub struct StoredRule {
    /// The rule document (JSON text).
    pub body: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// The live rule index (cached per isolate for a few seconds). When that expires, only the
/// rule set's version is read: the index is rebuilt when the version moved, not every time.
pub async fn current(env: &Env) -> Result<Rc<RuleIndex>, ApiError> {
    RULES.current(env, |v| build(env, v)).await
}

/// The live index, rebuilt unless the cached one is exactly `version` (Durable Objects).
pub async fn at_version(env: &Env, version: u64) -> Result<Rc<RuleIndex>, ApiError> {
    RULES.at_version(env, version, |v| build(env, v)).await
}

/// Compiles the enabled rules; `version` is the version just read.
async fn build(env: &Env, mut version: u64) -> Result<RuleIndex, ApiError> {
    // Seeding is checked once per isolate; it may move the version just read.
    if !SEEDED.with(Cell::get) {
        seed(env).await?;
        SEEDED.with(|s| s.set(true));
        version = RULES.stored(env).await?;
    }
    let db = env.d1(DB_BINDING)?;
    let rows: Vec<BodyRow> = db
        .prepare("SELECT body FROM rules WHERE enabled = 1 ORDER BY id")
        .all()
        .await?
        .results()?;
    let parsed = rows
        .into_iter()
        .filter_map(|r| match rules::parse(&r.body) {
            Ok(rule) => Some(rule),
            Err(e) => {
                console_warn!("stored rule does not parse (skipped): {e}");
                None
            }
        });
    let index = RuleIndex::build(parsed, version);
    for (id, e) in index.skipped() {
        console_warn!(
            "stored rule {id} does not compile (skipped): {} {e}",
            e.code()
        );
    }
    Ok(index)
}

/// Inserts the bundled rules once, the first time any isolate looks (later deletes stick).
async fn seed(env: &Env) -> Result<(), ApiError> {
    let db = env.d1(DB_BINDING)?;
    if settings::is_set(env, KEY_SEEDED).await? {
        return Ok(());
    }
    let bundled: Vec<Rule> = serde_json::from_str(BUNDLED_RULES)
        .map_err(|e| ApiError::Internal(format!("rules.json: {e}")))?;
    let at = JsValue::from_str(&rfc3339(now()));
    let mut stmts = Vec::new();
    for rule in bundled {
        let body = serde_json::to_string(&rule).map_err(|e| ApiError::Internal(e.to_string()))?;
        stmts.push(
            db.prepare(
                "INSERT INTO rules (id, body, enabled, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(id) DO NOTHING",
            )
            .bind(&[
                rule.id.as_str().into(),
                body.into(),
                JsValue::from_f64(if rule.enabled { 1.0 } else { 0.0 }),
                at.clone(),
            ])?,
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
    RULES.bump(env).await
}

/// Every stored rule (enabled or not), by id.
pub async fn list(env: &Env) -> Result<Vec<StoredRule>, ApiError> {
    seed(env).await?;
    Ok(env
        .d1(DB_BINDING)?
        .prepare("SELECT id, body, created_at, updated_at FROM rules ORDER BY id")
        .all()
        .await?
        .results()?)
}

/// One stored rule.
pub async fn get(env: &Env, id: &str) -> Result<Option<StoredRule>, ApiError> {
    seed(env).await?;
    Ok(env
        .d1(DB_BINDING)?
        .prepare("SELECT id, body, created_at, updated_at FROM rules WHERE id = ?1")
        .bind(&[id.into()])?
        .first(None)
        .await?)
}

/// How many rules are stored.
pub async fn count(env: &Env) -> Result<usize, ApiError> {
    #[derive(Deserialize)]
    struct N {
        n: f64,
    }
    let n: Option<N> = env
        .d1(DB_BINDING)?
        .prepare("SELECT count(*) AS n FROM rules")
        .first(None)
        .await?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(n.map_or(0, |n| n.n as usize))
}

/// Saves a rule that already compiled. Returns whether it was new.
pub async fn put(env: &Env, rule: &Rule) -> Result<bool, ApiError> {
    let existed = get(env, &rule.id).await?.is_some();
    let body = serde_json::to_string(rule).map_err(|e| ApiError::Internal(e.to_string()))?;
    let at = JsValue::from_str(&rfc3339(now()));
    env.d1(DB_BINDING)?
        .prepare(
            "INSERT INTO rules (id, body, enabled, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) \
             ON CONFLICT(id) DO UPDATE SET body = excluded.body, enabled = excluded.enabled, \
             updated_at = excluded.updated_at",
        )
        .bind(&[
            rule.id.as_str().into(),
            body.into(),
            JsValue::from_f64(if rule.enabled { 1.0 } else { 0.0 }),
            at,
        ])?
        .run()
        .await?;
    RULES.bump(env).await?;
    Ok(!existed)
}

/// Deletes a rule. Returns whether it existed.
pub async fn delete(env: &Env, id: &str) -> Result<bool, ApiError> {
    let existed = get(env, id).await?.is_some();
    if existed {
        env.d1(DB_BINDING)?
            .prepare("DELETE FROM rules WHERE id = ?1")
            .bind(&[id.into()])?
            .run()
            .await?;
        RULES.bump(env).await?;
    }
    Ok(existed)
}
