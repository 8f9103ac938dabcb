//! Why Spur turned something away.
//!
//! Invariant: every rejection carries a code that is a stable `&'static str`; the same codes
//! appear in HTTP responses, bad rows and metrics, so they never change meaning. Mapping codes
//! to HTTP statuses is the edge's job, not this crate's.

use crate::limits;

/// Why one event was rejected. The rest of its batch is still processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The event is larger than [`limits::MAX_EVENT_BYTES`].
    EventTooLarge,
    /// The event is not a JSON object.
    NotAnObject,
    /// `type` is missing or not one of the Segment message types.
    InvalidType,
    /// A field has the wrong JSON type (e.g. `properties` is a string).
    WrongFieldType,
    /// A field the type requires is missing (e.g. `event` on a track call).
    MissingField,
    /// Neither `userId` nor `anonymousId` is present.
    MissingIdentity,
    /// An id, name or string is longer than its limit.
    StringTooLong,
    /// Objects or arrays nest deeper than [`limits::MAX_JSON_DEPTH`].
    TooDeep,
    /// `properties` or `traits` has more than [`limits::MAX_PROPERTIES`] keys.
    TooManyProperties,
    /// A timestamp is not RFC 3339.
    InvalidTimestamp,
    /// The tracking plan is in `block` mode and the event breaks its schema.
    PlanViolation,
    /// The tracking plan blocks events it does not name, and this one is not named.
    UnknownEvent,
    /// The browser sent `Sec-GPC: 1` and the source's policy is to drop such events.
    GpcOptOut,
}

impl Reason {
    /// The stable machine-readable code.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::EventTooLarge => "event_too_large",
            Reason::NotAnObject => "not_an_object",
            Reason::InvalidType => "invalid_type",
            Reason::WrongFieldType => "wrong_field_type",
            Reason::MissingField => "missing_field",
            Reason::MissingIdentity => "missing_identity",
            Reason::StringTooLong => "string_too_long",
            Reason::TooDeep => "too_deep",
            Reason::TooManyProperties => "too_many_properties",
            Reason::InvalidTimestamp => "invalid_timestamp",
            Reason::PlanViolation => "plan_violation",
            Reason::UnknownEvent => "unknown_event",
            Reason::GpcOptOut => "gpc_opt_out",
        }
    }

    /// Whether the rejection was a policy decision (the sender did nothing wrong) rather than
    /// a broken event. Metrics count the two apart, as Vector marks drops intentional or not.
    pub const fn is_policy(self) -> bool {
        matches!(
            self,
            Reason::GpcOptOut | Reason::UnknownEvent | Reason::PlanViolation
        )
    }

    /// Whether a bad row may keep the original payload. A GPC opt-out is a request not to
    /// keep the data, so its bad row holds only the reason.
    pub const fn keeps_payload(self) -> bool {
        !matches!(self, Reason::GpcOptOut)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a request's write key or origin was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AuthError {
    /// No write key in the `Authorization` header nor in the body.
    #[error("no write key: send it as the HTTP Basic username or as `writeKey` in the body")]
    MissingWriteKey,
    /// The write key is not in the configuration.
    #[error("unknown write key")]
    UnknownWriteKey,
    /// The request's `Origin` is not in the write key's allowlist.
    #[error("origin not allowed for this write key")]
    OriginNotAllowed,
}

impl AuthError {
    /// The stable machine-readable code.
    pub const fn code(self) -> &'static str {
        match self {
            AuthError::MissingWriteKey => "missing_write_key",
            AuthError::UnknownWriteKey => "unknown_write_key",
            AuthError::OriginNotAllowed => "origin_not_allowed",
        }
    }
}

/// Why a whole request was turned away before any event in it could be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The body is larger than [`limits::MAX_BATCH_BYTES`].
    #[error("request body is {0} bytes; the limit is {max}", max = limits::MAX_BATCH_BYTES)]
    BodyTooLarge(usize),
    /// The gzip body inflates past [`limits::MAX_DECOMPRESSED_BYTES`].
    #[error("request body inflates past {max} bytes", max = limits::MAX_DECOMPRESSED_BYTES)]
    DecompressedTooLarge,
    /// The gzip body inflates more than [`limits::MAX_COMPRESSION_RATIO`] times its size.
    #[error("request body inflates more than {max} times its size", max = limits::MAX_COMPRESSION_RATIO)]
    CompressionRatio,
    /// The body claims gzip but is not a valid gzip stream.
    #[error("request body is not valid gzip: {0}")]
    MalformedGzip(String),
    /// `Content-Encoding` is something other than gzip or identity.
    #[error("content encoding {0:?} is not supported; send gzip or no encoding")]
    UnsupportedEncoding(String),
    /// The body is not JSON, or not the shape of a batch.
    #[error("request body is not valid JSON: {0}")]
    Malformed(String),
    /// The body parsed but has no `batch` array where one is required.
    #[error("request body has no `batch` array")]
    MissingBatch,
    /// The `batch` array holds more than [`limits::MAX_BATCH_EVENTS`] messages. The whole
    /// request is refused rather than judged message by message: a 500 KB body of tiny
    /// elements would otherwise answer with (and store) a rejection for each of ~100k of them.
    #[error("the batch holds {0} messages; the limit is {max}", max = limits::MAX_BATCH_EVENTS)]
    BatchTooLong(usize),
    /// The write key or origin was refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl RequestError {
    /// The stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            RequestError::BodyTooLarge(_) => "body_too_large",
            RequestError::DecompressedTooLarge => "decompressed_too_large",
            RequestError::CompressionRatio => "compression_ratio_exceeded",
            RequestError::MalformedGzip(_) => "malformed_gzip",
            RequestError::UnsupportedEncoding(_) => "unsupported_encoding",
            RequestError::Malformed(_) => "malformed_json",
            RequestError::MissingBatch => "missing_batch",
            RequestError::BatchTooLong(_) => "batch_too_long",
            RequestError::Auth(e) => e.code(),
        }
    }
}

/// Why a configuration or tracking plan could not be loaded. Never on the request path: these
/// surface when an operator deploys or edits configuration, so details are meant for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The document is not JSON or does not have the expected shape.
    #[error("{what} is not valid: {detail}")]
    Invalid {
        /// Which document (`config`, `tracking plan`).
        what: &'static str,
        /// What serde said, with line and column.
        detail: String,
    },
    /// A JSON Schema in the tracking plan does not compile.
    #[error("tracking plan schema at {location} is not a valid JSON Schema: {detail}")]
    InvalidSchema {
        /// Where in the plan the schema sits, e.g. `events/Order Completed/properties`.
        location: String,
        /// What the JSON Schema compiler said.
        detail: String,
    },
    /// A source entry is unusable (e.g. an empty write key or a malformed origin).
    #[error("source {key:?}: {detail}")]
    InvalidSource {
        /// The write key (or its prefix) of the offending entry.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl ConfigError {
    /// The stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            ConfigError::Invalid { .. } => "invalid_config",
            ConfigError::InvalidSchema { .. } => "invalid_schema",
            ConfigError::InvalidSource { .. } => "invalid_source",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let reasons = [
            Reason::EventTooLarge,
            Reason::NotAnObject,
            Reason::InvalidType,
            Reason::WrongFieldType,
            Reason::MissingField,
            Reason::MissingIdentity,
            Reason::StringTooLong,
            Reason::TooDeep,
            Reason::TooManyProperties,
            Reason::InvalidTimestamp,
            Reason::PlanViolation,
            Reason::UnknownEvent,
            Reason::GpcOptOut,
        ];
        let mut codes: Vec<&str> = reasons.iter().map(|r| r.code()).collect();
        codes.extend([
            RequestError::BodyTooLarge(0).code(),
            RequestError::DecompressedTooLarge.code(),
            RequestError::CompressionRatio.code(),
            RequestError::MalformedGzip(String::new()).code(),
            RequestError::UnsupportedEncoding(String::new()).code(),
            RequestError::Malformed(String::new()).code(),
            RequestError::MissingBatch.code(),
            RequestError::BatchTooLong(0).code(),
            AuthError::MissingWriteKey.code(),
            AuthError::UnknownWriteKey.code(),
            AuthError::OriginNotAllowed.code(),
        ]);
        for c in &codes {
            assert!(
                c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c}"
            );
        }
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "duplicate code");
    }

    #[test]
    fn auth_errors_keep_their_code_inside_request_error() {
        let e: RequestError = AuthError::OriginNotAllowed.into();
        assert_eq!(e.code(), "origin_not_allowed");
        assert_eq!(
            RequestError::from(AuthError::UnknownWriteKey).code(),
            "unknown_write_key"
        );
    }

    #[test]
    fn only_gpc_drops_the_payload() {
        assert!(!Reason::GpcOptOut.keeps_payload());
        assert!(Reason::PlanViolation.keeps_payload());
        assert!(Reason::GpcOptOut.is_policy());
        assert!(!Reason::TooDeep.is_policy());
    }
}
