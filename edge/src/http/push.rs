//! Web Push subscriptions from browsers: `POST`/`DELETE /v1/push/subscriptions` and
//! `GET /v1/push/vapid-public-key` (the `applicationServerKey` a page subscribes with).
//!
//! Invariant: writes are authorised like ingest — a configured write key (body `writeKey` or
//! HTTP Basic) and, from a browser, an origin that key allows — and every answer carries the
//! same CORS headers ingest gives; core decides what a valid subscription is.

use serde_json::json;
use spur_core::limits::MAX_PUSH_SUBSCRIBE_BYTES;
use spur_core::push::{PushError, SubscribeRequest, VapidKey};
use spur_core::{write_key_from_basic_auth, RequestError};
use worker::{Env, Method, Request, Response};

use crate::http::error::ApiError;
use crate::http::{body, cors};
use crate::storage::{push, settings};

/// The secret holding the VAPID private key (base64url P-256 scalar).
pub const VAPID_PRIVATE_KEY: &str = "VAPID_PRIVATE_KEY";
/// The secret (or var) holding the VAPID contact (`mailto:` or `https:`).
pub const VAPID_SUBJECT: &str = "VAPID_SUBJECT";

/// Whether this module answers `path`.
pub fn owns(path: &str) -> bool {
    path == "/v1/push/subscriptions" || path == "/v1/push/vapid-public-key"
}

/// The configured VAPID key and subject, if both are set and the key is valid.
pub fn vapid(env: &Env) -> Result<(VapidKey, String), PushError> {
    let read = |name: &str| {
        env.secret(name)
            .map(|s| s.to_string())
            .or_else(|_| env.var(name).map(|v| v.to_string()))
            .ok()
            .filter(|s| !s.trim().is_empty())
    };
    let key = read(VAPID_PRIVATE_KEY).ok_or(PushError::NotConfigured)?;
    let subject = read(VAPID_SUBJECT).ok_or(PushError::NotConfigured)?;
    Ok((VapidKey::from_base64url(&key)?, subject))
}

/// Handles the push routes, with CORS for the allowed origins.
pub async fn handle(req: Request, env: &Env, path: &str) -> Result<Response, ApiError> {
    let origin = req.headers().get("Origin")?;
    let pipeline = settings::pipeline(env).await?;
    if req.method() == Method::Options {
        return cors::preflight_for(&pipeline, origin.as_deref(), "GET, POST, DELETE, OPTIONS");
    }
    let result = route(req, env, path, &pipeline, origin.as_deref()).await;
    let resp = result.or_else(ApiError::into_api_response)?;
    cors::decorate(resp, Some(&pipeline), origin.as_deref())
}

async fn route(
    mut req: Request,
    env: &Env,
    path: &str,
    pipeline: &spur_core::Pipeline,
    origin: Option<&str>,
) -> Result<Response, ApiError> {
    match (req.method(), path) {
        (Method::Get, "/v1/push/vapid-public-key") => {
            let (key, _) = vapid(env).map_err(ApiError::Push)?;
            Ok(Response::from_json(
                &json!({ "publicKey": key.public_key() }),
            )?)
        }
        (Method::Post | Method::Delete, "/v1/push/subscriptions") => {
            let basic = req
                .headers()
                .get("Authorization")?
                .and_then(|a| write_key_from_basic_auth(&a));
            let bytes = body::read_bounded(&mut req, MAX_PUSH_SUBSCRIBE_BYTES).await?;
            let parsed = SubscribeRequest::parse(&bytes).map_err(ApiError::Push)?;
            let write_key = parsed.write_key.clone().or(basic);
            pipeline
                .authorize(write_key.as_deref(), origin)
                .map_err(|e| ApiError::Request(RequestError::Auth(e)))?;
            let write_key = write_key.unwrap_or_default();
            if req.method() == Method::Post {
                let (sub, user, anon) = parsed.subscribe().map_err(ApiError::Push)?;
                push::save(env, sub, user, anon, &write_key).await?;
                Ok(Response::from_json(&json!({ "ok": true }))?.with_status(201))
            } else {
                let endpoint = parsed.endpoint().map_err(ApiError::Push)?;
                let deleted = push::delete(env, endpoint).await?;
                Ok(Response::from_json(
                    &json!({ "ok": true, "deleted": deleted }),
                )?)
            }
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
