//! The Segment HTTP Tracking API: `POST /v1/batch` (`/v1/b`, `/v1/import`) and `/v1/{type}`.
//!
//! Invariant: the response accounts for every message of a readable request (`accepted` plus
//! the `rejected` list equals what it held), and every rejected message — and every
//! unreadable body — is queued as a bad row before the response is sent.

use futures_util::future::join;
use serde::Serialize;
use spur_core::{
    ingest, limits, AuthError, CfFacts, Ingest, MessageType, Pipeline, Rejection, RequestError,
    RequestFacts,
};
use wasm_bindgen::JsValue;
use worker::{console_warn, Env, Request, Response};

use crate::clock::{now, rfc3339, uuid};
use crate::http::error::ApiError;
use crate::http::{body, cors, triggers};
use crate::queues::events as work;
use crate::storage::settings;
use spur_core::BadRow;

/// The rate limiting binding (wrangler.toml `[[ratelimits]]`).
pub const INGEST_LIMITER: &str = "INGEST_LIMITER";

#[derive(Serialize)]
struct IngestResponse<'a> {
    accepted: usize,
    rejected: &'a [Rejection],
    /// In-app messages from trigger rules, for the tracker that sent the events.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    messages: Vec<spur_core::rules::InAppMessage>,
    /// Developer mode (`?debug=1` on the ingest URL): one verdict per message, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdicts: Option<Vec<spur_core::debug::MessageVerdict>>,
}

pub use spur_core::bad_rows::endpoint;

/// Handles `OPTIONS` on an ingest path.
pub async fn preflight(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let origin = req.headers().get("Origin")?;
    let pipeline = settings::pipeline(env).await?;
    cors::preflight(&pipeline, origin.as_deref())
}

/// Handles an ingest `POST`; CORS headers are added whatever the outcome.
pub async fn handle(
    req: Request,
    env: &Env,
    single: Option<MessageType>,
) -> Result<Response, ApiError> {
    let origin = req.headers().get("Origin")?;
    let pipeline = settings::pipeline(env).await.ok();
    let result = match &pipeline {
        Some(p) => accept(req, env, single, p).await,
        None => Err(ApiError::Internal("configuration unavailable".into())),
    };
    // A request refused for its origin gets no CORS headers, even when another write key
    // allows that origin: the browser must not read the refusal as a permitted response.
    let refused_origin = matches!(
        result,
        Err(ApiError::Request(RequestError::Auth(
            AuthError::OriginNotAllowed
        )))
    );
    let resp = result.or_else(ApiError::into_api_response)?;
    let pipeline = pipeline.as_deref().filter(|_| !refused_origin);
    cors::decorate(resp, pipeline, origin.as_deref())
}

async fn accept(
    mut req: Request,
    env: &Env,
    single: Option<MessageType>,
    pipeline: &Pipeline,
) -> Result<Response, ApiError> {
    let h = req.headers();
    let header = |name: &str| h.get(name).ok().flatten();
    let ip = header("CF-Connecting-IP");
    let (user_agent, origin, authorization) = (
        header("User-Agent"),
        header("Origin"),
        header("Authorization"),
    );
    let (ch_ua, ch_mobile, ch_platform) = (
        header("Sec-CH-UA"),
        header("Sec-CH-UA-Mobile"),
        header("Sec-CH-UA-Platform"),
    );
    let (sec_gpc, content_encoding) = (header("Sec-GPC"), header("Content-Encoding"));

    let cf = cf_facts(&req);
    let endpoint = req.path();
    let debug = spur_core::debug::requested(req.url()?.query());
    let received_at = now();
    let request_id = uuid();
    // The limiter's answer and the body arrive together: neither waits for the other. A
    // limited request is answered 429 whatever its body held.
    let (limited, read) = join(
        rate_limit(env, ip.as_deref()),
        body::read_bounded(&mut req, limits::MAX_BATCH_BYTES),
    )
    .await;
    limited?;
    let body = match read {
        Ok(b) => b,
        Err(ApiError::Request(e)) => {
            return Err(reject_request(env, e, &[], &endpoint, authorization.as_deref()).await);
        }
        Err(e) => return Err(e),
    };
    let facts = RequestFacts {
        ip: ip.as_deref(),
        user_agent: user_agent.as_deref(),
        sec_ch_ua: ch_ua.as_deref(),
        sec_ch_ua_mobile: ch_mobile.as_deref(),
        sec_ch_ua_platform: ch_platform.as_deref(),
        sec_gpc: sec_gpc.as_deref(),
        origin: origin.as_deref(),
        authorization: authorization.as_deref(),
        content_encoding: content_encoding.as_deref(),
        cf: cf.as_ref(),
    };
    let input = Ingest {
        now: received_at,
        request_id: &request_id,
        single,
        request: facts,
    };
    let outcome = match ingest(&body, &input, pipeline) {
        Ok(o) => o,
        Err(e) => {
            return Err(reject_request(env, e, &body, &endpoint, authorization.as_deref()).await)
        }
    };

    let verdicts = debug.then(|| spur_core::debug::verdicts(&outcome));
    let rows = work::bad_rows(&outcome, &rfc3339(received_at), &endpoint);
    let accepted = outcome.accepted.len();
    let messages = triggers::on_accepted(env, &outcome.accepted, &outcome.encoded).await;
    let items = work::split(outcome.write_key.as_deref(), &outcome.encoded, rows);
    work::enqueue(env, items).await?;
    Ok(Response::from_json(&IngestResponse {
        accepted,
        rejected: &outcome.rejected,
        messages,
        verdicts,
    })?)
}

/// Records an unreadable request as a bad row (auth failures excepted: an unauthenticated
/// sender gets a clear error but no storage) and returns the error to answer with.
async fn reject_request(
    env: &Env,
    e: RequestError,
    body: &[u8],
    endpoint: &str,
    authorization: Option<&str>,
) -> ApiError {
    if matches!(e, RequestError::Auth(_)) {
        return ApiError::Request(e);
    }
    // Cut before the lossy conversion (which may triple invalid bytes); BadRow::bounded cuts
    // the rest.
    let kept = body
        .get(..limits::MAX_BAD_ROW_PAYLOAD_BYTES)
        .unwrap_or(body);
    let row = BadRow {
        received_at: rfc3339(now()),
        write_key: authorization.and_then(spur_core::write_key_from_basic_auth),
        endpoint: endpoint.to_owned(),
        reason: e.code().into(),
        detail: e.to_string(),
        message_id: None,
        payload: String::from_utf8_lossy(kept).into_owned(),
        request: None,
        payload_truncated: body.len() > kept.len(),
    };
    if let Err(err) = work::enqueue(env, work::split(None, &[], vec![row])).await {
        console_warn!(
            "could not queue the bad row for a {} request: {err:?}",
            e.code()
        );
    }
    ApiError::Request(e)
}

async fn rate_limit(env: &Env, ip: Option<&str>) -> Result<(), ApiError> {
    let Ok(limiter) = env.rate_limiter(INGEST_LIMITER) else {
        return Ok(()); // not configured: no limit
    };
    let key = format!("ingest:{}", ip.unwrap_or("unknown"));
    if limiter.limit(key).await?.success {
        Ok(())
    } else {
        Err(ApiError::RateLimited)
    }
}

/// `request.cf` as plain facts (absent outside Cloudflare, e.g. in plain tests).
///
/// Stringify-and-parse on purpose: `serde_wasm_bindgen::from_value` here was measured (issue
/// 10, release build) at +4,181 B raw / +1,718 B gzip of Worker wasm, for one ~1 KB object per
/// request that V8's native `JSON.stringify` already serializes quickly; it did not earn a place.
fn cf_facts(req: &Request) -> Option<CfFacts> {
    let cf = js_sys::Reflect::get(req.inner(), &JsValue::from_str("cf")).ok()?;
    if cf.is_undefined() || cf.is_null() {
        return None;
    }
    let text = js_sys::JSON::stringify(&cf).ok()?.as_string()?;
    serde_json::from_str(&text).ok()
}
