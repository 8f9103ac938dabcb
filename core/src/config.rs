//! Who may send events, and what the pipeline does with them: typed configuration.
//!
//! Invariant: a [`Pipeline`] is only built from a configuration that was fully checked (every
//! origin parses, every plan schema compiles), so judging a request never meets a config error;
//! and [`Pipeline::authorize`] is a pure function of the write key and `Origin`.
//!
//! The configuration is JSON, e.g.
//! ```json
//! {
//!   "sources": {
//!     "wk_live_site": { "name": "website", "allowedOrigins": ["https://shop.example", "https://*.shop.example"] },
//!     "wk_live_srv":  { "name": "backend", "allowedOrigins": [] }
//!   },
//!   "gpc": "anonymize",
//!   "trackingPlan": { "mode": "flag", "events": { "Order Completed": { "properties": { "type": "object" } } } }
//! }
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{AuthError, ConfigError};
use crate::plan::{CompiledPlan, TrackingPlan};

/// The whole ingest configuration, as an operator writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// The write keys this collector accepts, each naming its source.
    pub sources: BTreeMap<String, Source>,
    /// What to do with events from browsers that send `Sec-GPC: 1`.
    #[serde(default)]
    pub gpc: GpcPolicy,
    /// The tracking plan; without one every event is allowed as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_plan: Option<TrackingPlan>,
}

/// One write key's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    /// A human name for the source (`website`, `backend`); stored on each event as
    /// `context.spur.source` instead of the key itself.
    pub name: String,
    /// Browser origins allowed to use this key: exact origins (`https://shop.example`),
    /// subdomain wildcards (`https://*.shop.example`, which does not match the apex) or `*`
    /// for any. Requests without an `Origin` header (servers, SDKs) are always allowed, since
    /// the header only constrains browsers; an empty list therefore means a server-only key.
    pub allowed_origins: Vec<String>,
}

/// What a `Sec-GPC: 1` request means for its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpcPolicy {
    /// Treat the request like any other.
    Ignore,
    /// Reject every event with `gpc_opt_out`; the bad row keeps no payload.
    Drop,
    /// Keep the events without what identifies the device's network or browser: no
    /// `context.ip`, geo cut to country, no raw `userAgent` (the parsed browser family stays),
    /// and `context.spur.gpc = true` so forwarding can skip them.
    #[default]
    Anonymize,
}

/// A checked configuration, ready to judge requests.
#[derive(Debug)]
pub struct Pipeline {
    sources: BTreeMap<String, Source>,
    gpc: GpcPolicy,
    plan: Option<CompiledPlan>,
}

impl Pipeline {
    /// Checks a configuration and compiles its tracking plan.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        for (key, source) in &config.sources {
            check_source(key, source)?;
        }
        let plan = config
            .tracking_plan
            .as_ref()
            .map(CompiledPlan::compile)
            .transpose()?;
        Ok(Pipeline {
            sources: config.sources,
            gpc: config.gpc,
            plan,
        })
    }

    /// Parses and checks a JSON configuration.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: Config = serde_json::from_str(json).map_err(|e| ConfigError::Invalid {
            what: "config",
            detail: e.to_string(),
        })?;
        Self::new(config)
    }

    /// Replaces the tracking plan (e.g. after an admin edit), keeping sources and policy.
    pub fn set_plan(&mut self, plan: Option<CompiledPlan>) {
        self.plan = plan;
    }

    /// The compiled tracking plan, if any.
    pub fn plan(&self) -> Option<&CompiledPlan> {
        self.plan.as_ref()
    }

    /// The GPC policy.
    pub fn gpc(&self) -> GpcPolicy {
        self.gpc
    }

    /// The source a write key names, if it is configured.
    pub fn source(&self, write_key: &str) -> Option<&Source> {
        self.sources.get(write_key)
    }

    /// Whether any source allows browser requests from `origin` (answers CORS preflights,
    /// which carry no write key).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.sources
            .values()
            .any(|s| s.allowed_origins.iter().any(|p| origin_matches(p, origin)))
    }

    /// Decides whether a request may send events: the write key must be configured and, when
    /// the request came from a browser (it has an `Origin`), the origin must be allowed.
    pub fn authorize(
        &self,
        write_key: Option<&str>,
        origin: Option<&str>,
    ) -> Result<&Source, AuthError> {
        let key = write_key
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::MissingWriteKey)?;
        let source = self.sources.get(key).ok_or(AuthError::UnknownWriteKey)?;
        match origin {
            None => Ok(source),
            Some(origin)
                if source
                    .allowed_origins
                    .iter()
                    .any(|p| origin_matches(p, origin)) =>
            {
                Ok(source)
            }
            Some(_) => Err(AuthError::OriginNotAllowed),
        }
    }
}

/// The write key in an `Authorization: Basic base64(key:)` header (the key is the username,
/// the password is ignored), as the Segment and RudderStack SDKs send it.
pub fn write_key_from_basic_auth(authorization: &str) -> Option<String> {
    let (scheme, credentials) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    (!user.is_empty()).then(|| user.to_owned())
}

fn check_source(key: &str, source: &Source) -> Result<(), ConfigError> {
    let invalid = |detail: String| ConfigError::InvalidSource {
        key: key.chars().take(8).collect::<String>() + "…",
        detail,
    };
    if key.trim().is_empty() || key.contains(':') {
        return Err(invalid(
            "a write key must be non-empty and must not contain ':'".into(),
        ));
    }
    for pattern in &source.allowed_origins {
        if pattern == "*" {
            continue;
        }
        let Some((scheme, host)) = pattern.split_once("://") else {
            return Err(invalid(format!(
                "origin {pattern:?} must look like https://host[:port] or *"
            )));
        };
        let host = host.strip_prefix("*.").unwrap_or(host);
        if scheme.is_empty() || host.is_empty() || host.contains(['/', '*', '?', '#']) {
            return Err(invalid(format!(
                "origin {pattern:?} must look like https://host[:port] or *"
            )));
        }
    }
    Ok(())
}

/// Browsers send `Origin` as `scheme://host[:port]` in lower case, but proxies and tests may
/// not; scheme and host compare case-insensitively and a trailing `/` is ignored.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let origin = origin.trim().trim_end_matches('/');
    let pattern = pattern.trim_end_matches('/');
    let (Some((p_scheme, p_host)), Some((o_scheme, o_host))) =
        (pattern.split_once("://"), origin.split_once("://"))
    else {
        return false;
    };
    if !p_scheme.eq_ignore_ascii_case(o_scheme) {
        return false;
    }
    match p_host.strip_prefix("*.") {
        Some(parent) => {
            let host = o_host.to_ascii_lowercase();
            host.strip_suffix(&parent.to_ascii_lowercase())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        }
        None => p_host.eq_ignore_ascii_case(o_host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Pipeline {
        Pipeline::from_json(
            r#"{
              "sources": {
                "wk_site": { "name": "website", "allowedOrigins": ["https://shop.example", "https://*.shop.example", "http://localhost:8787"] },
                "wk_srv": { "name": "backend", "allowedOrigins": [] },
                "wk_any": { "name": "anywhere", "allowedOrigins": ["*"] }
              }
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn authorize_codes() {
        let p = pipeline();
        assert_eq!(
            p.authorize(None, None).unwrap_err().code(),
            "missing_write_key"
        );
        assert_eq!(
            p.authorize(Some(""), None).unwrap_err().code(),
            "missing_write_key"
        );
        assert_eq!(
            p.authorize(Some("nope"), None).unwrap_err().code(),
            "unknown_write_key"
        );
        assert_eq!(
            p.authorize(Some("wk_site"), Some("https://evil.example"))
                .unwrap_err()
                .code(),
            "origin_not_allowed"
        );
        assert_eq!(p.authorize(Some("wk_site"), None).unwrap().name, "website");
    }

    #[test]
    fn origins() {
        let p = pipeline();
        let ok = |key, origin| p.authorize(Some(key), Some(origin)).is_ok();
        assert!(ok("wk_site", "https://shop.example"));
        assert!(ok("wk_site", "HTTPS://Shop.Example/"));
        assert!(ok("wk_site", "https://www.shop.example"));
        assert!(ok("wk_site", "https://a.b.shop.example"));
        assert!(ok("wk_site", "http://localhost:8787"));
        assert!(!ok("wk_site", "http://localhost:8788"));
        assert!(!ok("wk_site", "http://shop.example"), "scheme differs");
        assert!(
            !ok("wk_site", "https://evilshop.example"),
            "not a subdomain"
        );
        assert!(!ok("wk_site", "https://shop.example.evil"));
        assert!(!ok("wk_site", "null"));
        assert!(!ok("wk_srv", "https://shop.example"), "server-only key");
        assert!(p.authorize(Some("wk_srv"), None).is_ok());
        assert!(ok("wk_any", "null"));
        assert!(ok("wk_any", "https://whatever.example"));
    }

    #[test]
    fn basic_auth() {
        // "wk_site:" base64-encoded, as analytics-node and analytics-python send it.
        assert_eq!(
            write_key_from_basic_auth("Basic d2tfc2l0ZTo=").as_deref(),
            Some("wk_site")
        );
        // No colon, and a password, are both tolerated.
        assert_eq!(
            write_key_from_basic_auth("basic d2tfc2l0ZQ==").as_deref(),
            Some("wk_site")
        );
        assert_eq!(
            write_key_from_basic_auth("Basic d2tfc2l0ZTpwdw==").as_deref(),
            Some("wk_site")
        );
        assert_eq!(write_key_from_basic_auth("Bearer d2tfc2l0ZTo="), None);
        assert_eq!(write_key_from_basic_auth("Basic !!!"), None);
        assert_eq!(
            write_key_from_basic_auth("Basic Og=="),
            None,
            "empty username"
        );
    }

    #[test]
    fn config_errors_are_clear() {
        let unknown = Pipeline::from_json(r#"{"sources":{},"gpcc":"drop"}"#).unwrap_err();
        assert_eq!(unknown.code(), "invalid_config");
        assert!(
            unknown.to_string().contains("unknown field `gpcc`"),
            "{unknown}"
        );

        let missing = Pipeline::from_json(r#"{"sources":{"k":{"name":"x"}}}"#).unwrap_err();
        assert!(missing.to_string().contains("allowedOrigins"), "{missing}");

        let bad_origin = Pipeline::from_json(
            r#"{"sources":{"k":{"name":"x","allowedOrigins":["shop.example"]}}}"#,
        )
        .unwrap_err();
        assert_eq!(bad_origin.code(), "invalid_source");
        assert!(
            bad_origin.to_string().contains("shop.example"),
            "{bad_origin}"
        );

        let bad_policy = Pipeline::from_json(r#"{"sources":{},"gpc":"maybe"}"#).unwrap_err();
        assert!(bad_policy.to_string().contains("ignore"), "{bad_policy}");
    }

    #[test]
    fn gpc_defaults_to_anonymize() {
        assert_eq!(pipeline().gpc(), GpcPolicy::Anonymize);
        let p = Pipeline::from_json(r#"{"sources":{},"gpc":"drop"}"#).unwrap();
        assert_eq!(p.gpc(), GpcPolicy::Drop);
    }
}
