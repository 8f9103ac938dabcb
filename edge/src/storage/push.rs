//! D1 `push_subscriptions`: the browsers each person subscribed.
//!
//! Invariant: an endpoint is stored once (saving it again moves it to the new owner and keys);
//! a person keeps at most [`MAX_PUSH_SUBSCRIPTIONS_PER_PERSON`] subscriptions, the oldest
//! going first.

use serde::Deserialize;
use spur_core::limits::MAX_PUSH_SUBSCRIPTIONS_PER_PERSON;
use spur_core::push::{Subscription, SubscriptionKeys};
use wasm_bindgen::JsValue;
use worker::Env;

use crate::clock::{now, rfc3339};
use crate::http::error::ApiError;
use crate::storage::DB_BINDING;

/// A stored subscription and its owner.
#[derive(Debug, Clone, Deserialize)]
pub struct Stored {
    /// The endpoint.
    pub endpoint: String,
    /// userId, if known when subscribing.
    pub user_id: Option<String>,
    /// anonymousId, if known when subscribing.
    pub anonymous_id: Option<String>,
    /// Key.
    pub p256dh: String,
    /// Secret.
    pub auth: String,
}

impl Stored {
    /// As the core type.
    pub fn subscription(&self) -> Subscription {
        Subscription {
            endpoint: self.endpoint.clone(),
            keys: SubscriptionKeys {
                p256dh: self.p256dh.clone(),
                auth: self.auth.clone(),
            },
        }
    }
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

/// Saves a subscription for a person (replacing the endpoint's earlier owner), then trims the
/// person's oldest subscriptions beyond the limit.
pub async fn save(
    env: &Env,
    sub: &Subscription,
    user_id: Option<&str>,
    anonymous_id: Option<&str>,
    write_key: &str,
) -> Result<(), ApiError> {
    let db = env.d1(DB_BINDING)?;
    let insert = db
        .prepare(
            "INSERT INTO push_subscriptions (endpoint, user_id, anonymous_id, p256dh, auth, write_key, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(endpoint) DO UPDATE SET \
             user_id = excluded.user_id, anonymous_id = excluded.anonymous_id, p256dh = excluded.p256dh, \
             auth = excluded.auth, write_key = excluded.write_key, created_at = excluded.created_at",
        )
        .bind(&[
            sub.endpoint.as_str().into(),
            opt(user_id),
            opt(anonymous_id),
            sub.keys.p256dh.as_str().into(),
            sub.keys.auth.as_str().into(),
            write_key.into(),
            rfc3339(now()).into(),
        ])?;
    #[allow(clippy::cast_precision_loss)]
    let keep = JsValue::from_f64(MAX_PUSH_SUBSCRIPTIONS_PER_PERSON as f64);
    let trim = db
        .prepare(
            "DELETE FROM push_subscriptions WHERE endpoint IN (SELECT endpoint FROM push_subscriptions \
             WHERE (?1 IS NOT NULL AND user_id = ?1) OR (?1 IS NULL AND anonymous_id = ?2) \
             ORDER BY created_at DESC, endpoint LIMIT -1 OFFSET ?3)",
        )
        .bind(&[opt(user_id), opt(anonymous_id), keep])?;
    db.batch(vec![insert, trim]).await?;
    Ok(())
}

/// Deletes a subscription by endpoint; returns whether it existed.
pub async fn delete(env: &Env, endpoint: &str) -> Result<bool, ApiError> {
    let result = env
        .d1(DB_BINDING)?
        .prepare("DELETE FROM push_subscriptions WHERE endpoint = ?1")
        .bind(&[endpoint.into()])?
        .run()
        .await?;
    Ok(result
        .meta()?
        .and_then(|m| m.changes)
        .is_some_and(|n| n > 0))
}

/// The subscriptions of a person, by the id firings are recorded under (userId, else
/// anonymousId): either column may hold it.
pub async fn for_person(env: &Env, person: &str) -> Result<Vec<Stored>, ApiError> {
    let rows = env
        .d1(DB_BINDING)?
        .prepare(
            "SELECT endpoint, user_id, anonymous_id, p256dh, auth FROM push_subscriptions \
             WHERE user_id = ?1 OR anonymous_id = ?1 ORDER BY created_at, endpoint LIMIT ?2",
        )
        .bind(&[person.into(), {
            #[allow(clippy::cast_precision_loss)]
            JsValue::from_f64((MAX_PUSH_SUBSCRIPTIONS_PER_PERSON * 2) as f64)
        }])?
        .all()
        .await?;
    Ok(rows.results()?)
}
