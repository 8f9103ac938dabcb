//! Admin authentication: `Authorization: Bearer <ADMIN_TOKEN>` from a Worker secret.
//!
//! Invariant: with no `ADMIN_TOKEN` configured, every admin route is refused (never open by
//! default); the comparison takes the same time whatever the guess.

use worker::{Env, Request};

use crate::http::error::ApiError;

/// The secret's name (`wrangler secret put ADMIN_TOKEN`; `.dev.vars` locally).
pub const ADMIN_TOKEN_SECRET: &str = "ADMIN_TOKEN";

/// Succeeds only when the request carries the configured admin bearer token.
pub fn require_admin(req: &Request, env: &Env) -> Result<(), ApiError> {
    let expected = expected_token(env)?;
    let header = req.headers().get("Authorization")?.unwrap_or_default();
    let given = header
        .strip_prefix("Bearer ")
        .ok_or(ApiError::Unauthorized)?;
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

fn expected_token(env: &Env) -> Result<String, ApiError> {
    env.secret(ADMIN_TOKEN_SECRET)
        .map(|s| s.to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::AdminDisabled)
}

/// Whether `given` is the configured admin token (for the live stream's first message).
pub fn token_matches(env: &Env, given: &str) -> Result<bool, ApiError> {
    let expected = expected_token(env)?;
    Ok(constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i % b.len().max(1)).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_identical() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!constant_time_eq(b"secret", b""));
        assert!(constant_time_eq(b"", b""));
    }
}
