//! The Worker's one error type and its mapping to HTTP.
//!
//! Invariant: every error answers with a JSON body `{reason, detail}` whose `reason` is a
//! stable code; `Internal` never echoes what went wrong (it is logged instead).

use serde::Serialize;
use spur_core::journeys::JourneyError;
use spur_core::query::QueryError;
use spur_core::rules::RuleError;
use spur_core::{AuthError, ConfigError, RequestError};
use worker::Response;

/// Everything a route can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// The ingest request was refused as a whole (unreadable, too large, bad write key, …).
    Request(RequestError),
    /// Too many requests from this client.
    RateLimited,
    /// An admin route without the right bearer token.
    Unauthorized,
    /// An admin route while no `ADMIN_TOKEN` secret is configured.
    AdminDisabled,
    /// A configuration or tracking plan an admin tried to save is invalid.
    Config(ConfigError),
    /// A frequency policy an admin tried to save is invalid.
    Frequency(spur_core::frequency::PolicyError),
    /// A trigger rule an admin tried to save is invalid.
    Rule(RuleError),
    /// A journey that does not validate.
    Journey(JourneyError),
    /// A query or segment definition core refused (its own stable code).
    Query(QueryError),
    /// A push subscription or configuration refused (its own stable code).
    Push(spur_core::push::PushError),
    /// An unsubscribe link whose token is malformed, tampered with or expired.
    Unsubscribe(spur_core::email::token::TokenError),
    /// A request whose body or parameters are invalid for the route (admin APIs).
    Invalid(String),
    /// No such route or resource.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// A WebSocket route asked without `Upgrade: websocket`.
    UpgradeRequired,
    /// The live stream holds as many dashboards as it takes.
    TooManyConnections,
    /// A binding or the runtime failed; details go to the log only.
    Internal(String),
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::Query(e)
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::Request(e)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    reason: &'a str,
    detail: String,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Request(e) => match e {
                RequestError::BodyTooLarge(_)
                | RequestError::BatchTooLong(_)
                | RequestError::DecompressedTooLarge
                | RequestError::CompressionRatio => 413,
                RequestError::UnsupportedEncoding(_) => 415,
                RequestError::Auth(AuthError::OriginNotAllowed) => 403,
                RequestError::Auth(_) => 401,
                RequestError::Malformed(_)
                | RequestError::MissingBatch
                | RequestError::MalformedGzip(_) => 400,
            },
            ApiError::RateLimited => 429,
            ApiError::Unauthorized => 401,
            ApiError::AdminDisabled => 403,
            ApiError::Config(_)
            | ApiError::Frequency(_)
            | ApiError::Rule(_)
            | ApiError::Journey(_)
            | ApiError::Query(_)
            | ApiError::Unsubscribe(_)
            | ApiError::Invalid(_) => 400,
            ApiError::Push(spur_core::push::PushError::NotConfigured) | ApiError::NotFound => 404,
            ApiError::Push(_) => 400,
            ApiError::MethodNotAllowed => 405,
            ApiError::UpgradeRequired => 426,
            ApiError::TooManyConnections => 429,
            ApiError::Internal(_) => 500,
        }
    }

    /// The stable reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Request(e) => e.code(),
            ApiError::RateLimited => "rate_limited",
            ApiError::Unauthorized => "unauthorized",
            ApiError::AdminDisabled => "admin_disabled",
            ApiError::Config(e) => e.code(),
            ApiError::Frequency(e) => e.code(),
            ApiError::Rule(e) => e.code(),
            ApiError::Journey(e) => e.code(),
            ApiError::Query(e) => e.code(),
            ApiError::Push(e) => e.code(),
            ApiError::Unsubscribe(e) => e.code(),
            ApiError::Invalid(_) => "invalid_request",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::UpgradeRequired => "upgrade_required",
            ApiError::TooManyConnections => "too_many_connections",
            ApiError::Internal(_) => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Request(e) => e.to_string(),
            ApiError::RateLimited => "too many requests; retry later".into(),
            ApiError::Unauthorized => "missing or wrong `Authorization: Bearer` admin token".into(),
            ApiError::AdminDisabled => "admin API disabled: no ADMIN_TOKEN secret is set".into(),
            ApiError::Config(e) => e.to_string(),
            ApiError::Frequency(e) => e.to_string(),
            ApiError::Rule(e) => e.to_string(),
            ApiError::Journey(e) => e.to_string(),
            ApiError::Query(e) => e.to_string(),
            ApiError::Push(e) => e.to_string(),
            ApiError::Unsubscribe(e) => e.to_string(),
            ApiError::Invalid(detail) => detail.clone(),
            ApiError::NotFound => "not found".into(),
            ApiError::MethodNotAllowed => "method not allowed on this route".into(),
            ApiError::UpgradeRequired => {
                "this route is a WebSocket: send `Upgrade: websocket`".into()
            }
            ApiError::TooManyConnections => format!(
                "the live stream holds {} dashboards at most; retry later",
                spur_core::query::limits::MAX_LIVE_SOCKETS
            ),
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    /// The HTTP answer for this error.
    pub fn into_api_response(self) -> Result<Response, ApiError> {
        if let ApiError::Internal(detail) = &self {
            worker::console_error!("internal error: {detail}");
        }
        let body = ErrorBody {
            reason: self.reason(),
            detail: self.detail(),
        };
        let mut resp = Response::from_json(&body)?.with_status(self.status());
        if matches!(self, ApiError::RateLimited) {
            resp.headers_mut().set("Retry-After", "60")?;
        }
        Ok(resp)
    }

    /// The HTTP answer, for the outermost handler (whose error type is the platform's).
    pub fn into_response(self) -> worker::Result<Response> {
        match self.into_api_response() {
            Ok(r) => Ok(r),
            Err(_) => Response::error("internal error", 500),
        }
    }
}
