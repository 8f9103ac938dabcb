//! Web Push without a vendor: the subscription a browser hands over, the encrypted request a
//! push service receives (RFC 8030 headers, RFC 8291 body, RFC 8292 VAPID) and what its answer
//! means.
//!
//! Invariant: everything here is pure — the ephemeral key, the salt and the token expiry come
//! from the caller — so the edge only draws randomness, reads the clock, sends the request and
//! acts on [`Answer`]. A subscription that parsed is an `https` endpoint (or `http` on a
//! loopback host, for tests) with a valid P-256 key and a 16-byte secret.
//!
//! Size: the RustCrypto primitives (p256 0.13 with ECDH and ECDSA, aes-gcm 0.10, hkdf 0.12) plus
//! the push routes and delivery grew the release Worker wasm from 4,150,183 to 4,278,768 bytes
//! raw (+128.6 KB) and from 1,409,421 to 1,462,027 bytes gzip -9 (+52.6 KB, +3.7 %), measured
//! in one session on the same base (issue 12). The tracker is unchanged (it links none of it).

pub mod ece;
pub mod vapid;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub use ece::{encrypt, Entropy};
pub use vapid::VapidKey;

use crate::limits::{
    MAX_PUSH_ENDPOINT_CHARS, MAX_PUSH_TOPIC_CHARS, MAX_PUSH_TTL_SECS, VAPID_TOKEN_LIFETIME_SECS,
};

/// Why a push could not be built or a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The payload exceeds [`crate::limits::MAX_PUSH_PAYLOAD_BYTES`].
    #[error("the push payload is {0} bytes; at most {max} fit one encrypted record", max = crate::limits::MAX_PUSH_PAYLOAD_BYTES)]
    PayloadTooLarge(usize),
    /// The subscription is malformed.
    #[error("invalid push subscription: {0}")]
    InvalidSubscription(&'static str),
    /// `VAPID_PRIVATE_KEY` is not a base64url P-256 private key.
    #[error("VAPID_PRIVATE_KEY is not a base64url P-256 private key")]
    InvalidVapidKey,
    /// The drawn ephemeral key is not a valid scalar (draw again).
    #[error("the ephemeral key is not a valid P-256 scalar")]
    InvalidEntropy,
    /// A primitive failed (cannot happen with valid lengths).
    #[error("push encryption failed")]
    Crypto,
    /// No `VAPID_PRIVATE_KEY` / `VAPID_SUBJECT` is configured.
    #[error("Web Push is not configured: set the VAPID_PRIVATE_KEY and VAPID_SUBJECT secrets")]
    NotConfigured,
}

impl PushError {
    /// Stable reason code.
    pub const fn code(&self) -> &'static str {
        match self {
            PushError::PayloadTooLarge(_) => "push_payload_too_large",
            PushError::InvalidSubscription(_) => "invalid_push_subscription",
            PushError::InvalidVapidKey => "invalid_vapid_key",
            PushError::InvalidEntropy => "invalid_push_entropy",
            PushError::Crypto => "push_crypto_failed",
            PushError::NotConfigured => "push_not_configured",
        }
    }
}

/// The browser's `PushSubscription.toJSON()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// The push service URL.
    pub endpoint: String,
    /// The keys.
    pub keys: SubscriptionKeys,
}

/// The user agent's keys (base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionKeys {
    /// The ECDH public key (65 bytes, uncompressed point).
    pub p256dh: String,
    /// The authentication secret (16 bytes).
    pub auth: String,
}

fn b64(text: &str) -> Option<Vec<u8>> {
    B64.decode(text.trim_end_matches('=').as_bytes()).ok()
}

impl Subscription {
    /// Checks the endpoint and keys; returns the decoded `(p256dh, auth)`.
    pub fn check(&self) -> Result<(Vec<u8>, Vec<u8>), PushError> {
        if self.endpoint.len() > MAX_PUSH_ENDPOINT_CHARS {
            return Err(PushError::InvalidSubscription("endpoint is too long"));
        }
        let url = url::Url::parse(&self.endpoint)
            .map_err(|_| PushError::InvalidSubscription("endpoint is not a URL"))?;
        let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
            || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(PushError::InvalidSubscription(
                    "endpoint must be https (http only on loopback)",
                ))
            }
        }
        let p256dh = b64(&self.keys.p256dh)
            .ok_or(PushError::InvalidSubscription("p256dh is not base64url"))?;
        p256::PublicKey::from_sec1_bytes(&p256dh)
            .ok()
            .filter(|_| p256dh.len() == ece::PUBLIC_KEY_BYTES)
            .ok_or(PushError::InvalidSubscription(
                "p256dh is not an uncompressed P-256 public key",
            ))?;
        let auth =
            b64(&self.keys.auth).ok_or(PushError::InvalidSubscription("auth is not base64url"))?;
        if auth.len() != ece::AUTH_SECRET_BYTES {
            return Err(PushError::InvalidSubscription(
                "auth secret is not 16 bytes",
            ));
        }
        Ok((p256dh, auth))
    }

    /// The origin the VAPID token's `aud` names.
    pub fn audience(&self) -> Result<String, PushError> {
        url::Url::parse(&self.endpoint)
            .map(|u| u.origin().ascii_serialization())
            .map_err(|_| PushError::InvalidSubscription("endpoint is not a URL"))
    }
}

/// `POST /v1/push/subscriptions` (and `DELETE`, which needs only `endpoint`): the browser's
/// subscription, the person it belongs to and the source's write key (else HTTP Basic).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeRequest {
    /// The source's write key.
    #[serde(default)]
    pub write_key: Option<String>,
    /// The person, when identified.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The anonymous person.
    #[serde(default)]
    pub anonymous_id: Option<String>,
    /// `PushSubscription.toJSON()` (subscribe).
    #[serde(default)]
    pub subscription: Option<Subscription>,
    /// The endpoint to forget (unsubscribe).
    #[serde(default)]
    pub endpoint: Option<String>,
}

impl SubscribeRequest {
    /// Parses a body; `Err` carries a reason for a 400.
    pub fn parse(body: &[u8]) -> Result<Self, PushError> {
        // `from_str`, not `from_slice`: one JSON reader in the Worker (issue 15, size).
        std::str::from_utf8(body)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or(PushError::InvalidSubscription(
                "body is not a subscription request",
            ))
    }

    /// For subscribing: the checked subscription and the person's ids (at least one).
    pub fn subscribe(&self) -> Result<(&Subscription, Option<&str>, Option<&str>), PushError> {
        let sub = self
            .subscription
            .as_ref()
            .ok_or(PushError::InvalidSubscription("subscription is missing"))?;
        sub.check()?;
        fn id(v: Option<&str>) -> Option<&str> {
            v.filter(|s| !s.is_empty() && s.chars().count() <= crate::limits::MAX_ID_CHARS)
        }
        let (user, anon) = (
            id(self.user_id.as_deref()),
            id(self.anonymous_id.as_deref()),
        );
        if user.is_none() && anon.is_none() {
            return Err(PushError::InvalidSubscription(
                "userId or anonymousId (1..=256 characters) is required",
            ));
        }
        Ok((sub, user, anon))
    }

    /// For unsubscribing: the endpoint (from `endpoint` or the subscription).
    pub fn endpoint(&self) -> Result<&str, PushError> {
        self.endpoint
            .as_deref()
            .or(self.subscription.as_ref().map(|s| s.endpoint.as_str()))
            .filter(|e| !e.is_empty() && e.len() <= MAX_PUSH_ENDPOINT_CHARS)
            .ok_or(PushError::InvalidSubscription("endpoint is missing"))
    }
}

/// RFC 8030 `Urgency`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    /// `very-low`.
    VeryLow,
    /// `low`.
    Low,
    /// `normal`.
    #[default]
    Normal,
    /// `high`.
    High,
}

impl Urgency {
    /// The header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// Checks a `Topic` (RFC 8030 §5.4: at most 32 characters of the base64url alphabet).
pub fn topic_ok(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_PUSH_TOPIC_CHARS
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a TTL in seconds.
pub const fn ttl_ok(ttl: u32) -> bool {
    ttl <= MAX_PUSH_TTL_SECS
}

/// What the service worker receives (decrypted), a public contract: fields are only added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// Unique per firing and action (`<firing id>:<action index>`), reported back with
    /// `$message_shown` / `$message_clicked`.
    pub id: String,
    /// The rule (or `journey:<id>`) that sent it.
    pub rule: String,
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// Opened on click.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The person the subscription belongs to, for the service worker's reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Likewise, when the subscription was stored anonymously.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
}

/// Delivery options (RFC 8030 headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `TTL` in seconds.
    pub ttl: u32,
    /// `Urgency`.
    pub urgency: Urgency,
    /// `Topic` (replaces an undelivered message with the same topic).
    pub topic: Option<String>,
}

/// A request ready to send: `POST endpoint` with these headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Where.
    pub endpoint: String,
    /// Header name and value pairs.
    pub headers: Vec<(&'static str, String)>,
    /// The `aes128gcm` body.
    pub body: Vec<u8>,
}

/// Builds the encrypted, VAPID-signed request for one subscription. `now_secs` is Unix time;
/// the token expires [`VAPID_TOKEN_LIFETIME_SECS`] later.
pub fn request(
    sub: &Subscription,
    payload: &[u8],
    options: &Options,
    vapid: &VapidKey,
    subject: &str,
    now_secs: i64,
    entropy: &Entropy,
) -> Result<Request, PushError> {
    let (p256dh, auth) = sub.check()?;
    let body = encrypt(payload, &p256dh, &auth, entropy)?;
    let authorization = vapid.authorization(
        &sub.audience()?,
        now_secs + VAPID_TOKEN_LIFETIME_SECS,
        subject,
    )?;
    let mut headers = vec![
        ("Content-Encoding", "aes128gcm".to_owned()),
        ("Content-Type", "application/octet-stream".to_owned()),
        ("TTL", options.ttl.min(MAX_PUSH_TTL_SECS).to_string()),
        ("Urgency", options.urgency.as_str().to_owned()),
        ("Authorization", authorization),
    ];
    if let Some(topic) = options.topic.as_ref().filter(|t| topic_ok(t)) {
        headers.push(("Topic", topic.clone()));
    }
    Ok(Request {
        endpoint: sub.endpoint.clone(),
        headers,
        body,
    })
}

/// What a push service's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: accepted for delivery.
    Delivered,
    /// 404 or 410: the subscription expired or was unsubscribed; delete it.
    Gone,
    /// 429 or 5xx (or no answer): try again later.
    Retry,
    /// Any other status: our request is wrong (VAPID, size); retrying will not help.
    Rejected,
}

impl Answer {
    /// Classifies an HTTP status.
    pub const fn from_status(status: u16) -> Self {
        match status {
            200..=299 => Answer::Delivered,
            404 | 410 => Answer::Gone,
            429 | 500..=599 => Answer::Retry,
            _ => Answer::Rejected,
        }
    }
}

#[cfg(test)]
mod tests;
