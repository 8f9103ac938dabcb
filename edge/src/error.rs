//! The Worker's one error type and its mapping to HTTP.
//!
//! Invariant: every error answers with a JSON body `{reason, detail}` whose `reason` is a
//! stable code; `Internal` never echoes what went wrong (it is logged instead).

use serde::Serialize;
use spur_core::RequestError;
use worker::Response;

/// Everything a route can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// The request body could not be used at all (bad JSON, too large, no batch).
    Request(RequestError),
    /// An admin route without the right bearer token.
    Unauthorized,
    /// An admin route while no `ADMIN_TOKEN` secret is configured.
    AdminDisabled,
    /// A request whose body or parameters are invalid for the route (admin APIs).
    Invalid(String),
    /// No such route.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// A binding or the runtime failed; details go to the log only.
    Internal(String),
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(e.to_string())
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
    fn status(&self) -> u16 {
        match self {
            ApiError::Request(RequestError::BodyTooLarge(_)) => 413,
            ApiError::Request(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::AdminDisabled => 403,
            ApiError::Invalid(_) => 400,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Internal(_) => 500,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::Request(e) => e.code(),
            ApiError::Unauthorized => "unauthorized",
            ApiError::AdminDisabled => "admin_disabled",
            ApiError::Invalid(_) => "invalid_request",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Internal(_) => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Request(e) => e.to_string(),
            ApiError::Unauthorized => "missing or wrong `Authorization: Bearer` admin token".into(),
            ApiError::AdminDisabled => "admin API disabled: no ADMIN_TOKEN secret is set".into(),
            ApiError::Invalid(detail) => detail.clone(),
            ApiError::NotFound => "no such route".into(),
            ApiError::MethodNotAllowed => "method not allowed on this route".into(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    /// The HTTP answer for this error.
    pub fn into_response(self) -> worker::Result<Response> {
        if let ApiError::Internal(detail) = &self {
            worker::console_error!("internal error: {detail}");
        }
        let body = ErrorBody {
            reason: self.reason(),
            detail: self.detail(),
        };
        Ok(Response::from_json(&body)?.with_status(self.status()))
    }
}
