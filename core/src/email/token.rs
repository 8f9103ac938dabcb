//! The one-click unsubscribe token (RFC 8058) in every email's `List-Unsubscribe` link:
//! `v1.<base64url person>.<base64url address>.<expiry unix seconds>.<base64url HMAC-SHA256>`.
//!
//! Invariant: a token verifies only with the secret that signed it, unchanged in any byte,
//! before its expiry; the MAC covers the version, person, address and expiry, so none can be
//! swapped. Verification compares MACs in constant time and never panics on any input.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::limits::{MAX_UNSUBSCRIBE_TOKEN_CHARS, UNSUBSCRIBE_TOKEN_LIFETIME_SECS};

const VERSION: &str = "v1";

/// Why a token was refused (each a 400 with its code, never a 5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not the token's shape (missing parts, bad base64, too long, unknown version).
    #[error("the unsubscribe link is malformed")]
    Malformed,
    /// The MAC does not match: tampered with, or signed with another secret.
    #[error("the unsubscribe link's signature does not match")]
    BadSignature,
    /// Past its expiry.
    #[error("the unsubscribe link has expired")]
    Expired,
}

impl TokenError {
    /// Stable reason code.
    pub const fn code(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed_unsubscribe_token",
            TokenError::BadSignature => "invalid_unsubscribe_token",
            TokenError::Expired => "expired_unsubscribe_token",
        }
    }
}

/// What a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The person (userId, else anonymousId) the email was sent to.
    pub person: String,
    /// The address to suppress.
    pub address: String,
    /// Expiry (unix seconds).
    pub expires: i64,
}

fn mac(secret: &[u8], person: &str, address: &str, expires: i64) -> Hmac<Sha256> {
    // HMAC takes keys of any length; the fallback is unreachable but keeps this panic-free.
    let mut m = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()));
    for part in [VERSION, person, address, &expires.to_string()] {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part.as_bytes());
    }
    m
}

/// A token for `person` and `address`, valid until `now + UNSUBSCRIBE_TOKEN_LIFETIME_SECS`.
pub fn sign(secret: &[u8], person: &str, address: &str, now: i64) -> String {
    let expires = now.saturating_add(UNSUBSCRIBE_TOKEN_LIFETIME_SECS);
    let tag = mac(secret, person, address, expires)
        .finalize()
        .into_bytes();
    format!(
        "{VERSION}.{}.{}.{expires}.{}",
        B64.encode(person),
        B64.encode(address),
        B64.encode(tag)
    )
}

/// Checks a token at `now` (unix seconds).
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<Claims, TokenError> {
    if token.len() > MAX_UNSUBSCRIBE_TOKEN_CHARS {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(VERSION), Some(person), Some(address), Some(expires), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(TokenError::Malformed);
    };
    let text = |part: &str| {
        B64.decode(part)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(TokenError::Malformed)
    };
    let person = text(person)?;
    let address = text(address)?;
    let expires: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
    let tag = B64.decode(tag).map_err(|_| TokenError::Malformed)?;
    mac(secret, &person, &address, expires)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    if now > expires {
        return Err(TokenError::Expired);
    }
    Ok(Claims {
        person,
        address,
        expires,
    })
}
