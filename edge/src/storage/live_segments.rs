//! The live segments in force: a per-isolate compiled [`LiveSet`], versioned like the rule
//! index.
//!
//! Invariant: every segment write or delete bumps `settings('segments_version')`; a set is
//! reused as [`Versioned`] says (unchecked for a few seconds, then only the version is read,
//! and the set rebuilt when it moved) — so the events consumer costs no D1 read per event — or
//! until a caller asks for a newer version (the consumer passes its version to the person's
//! object).

use std::rc::Rc;

use spur_core::query::live_set::LiveSet;
use spur_core::query::segment::SavedSegment;
use worker::{console_warn, Env};

use crate::http::error::ApiError;
use crate::storage::cache::IsolateCache;
use crate::storage::segments;
use crate::storage::versioned::Versioned;

thread_local! {
    static CACHE: IsolateCache<LiveSet> = const { IsolateCache::new() };
}

static LIVE: Versioned<LiveSet> = Versioned::new("segments_version", &CACHE, LiveSet::version);

/// The live set (cached per isolate; rebuilt when the version moved).
pub async fn current(env: &Env) -> Result<Rc<LiveSet>, ApiError> {
    LIVE.current(env, |v| build(env, v)).await
}

/// The live set, rebuilt unless the cached one is exactly `version` (Durable Objects).
pub async fn at_version(env: &Env, version: u64) -> Result<Rc<LiveSet>, ApiError> {
    LIVE.at_version(env, version, |v| build(env, v)).await
}

/// The live set at the stored version (one settings read; rebuilt only when it moved): what a
/// rule save checks its `segments.<id>` against, so a segment saved a moment ago counts.
pub async fn latest(env: &Env) -> Result<Rc<LiveSet>, ApiError> {
    LIVE.latest(env, |v| build(env, v)).await
}

/// Bumps the version after a segment write or delete, and forgets this isolate's set.
pub async fn bump_version(env: &Env) -> Result<(), ApiError> {
    LIVE.bump(env).await
}

async fn build(env: &Env, version: u64) -> Result<LiveSet, ApiError> {
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
    Ok(set)
}
