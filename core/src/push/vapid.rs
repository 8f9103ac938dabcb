//! RFC 8292 VAPID: the application server identifies itself to a push service with an ES256
//! JWT over `{aud, exp, sub}` and its public key, sent as `Authorization: vapid t=…, k=…`.
//!
//! Invariant: the token's `aud` is the origin of the endpoint it is sent to and its `exp` is
//! the caller's value (the edge passes now + [`crate::limits::VAPID_TOKEN_LIFETIME_SECS`]);
//! ECDSA signing is deterministic (RFC 6979), so the header is a pure function of its inputs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde::Serialize;

use super::PushError;

/// The application server's VAPID key pair.
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
    public: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VapidKey({})", self.public)
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

impl VapidKey {
    /// Reads the private key as `web-push generate-vapid-keys` prints it: the 32-byte P-256
    /// scalar in base64url (padding and standard-alphabet characters are tolerated).
    pub fn from_base64url(private: &str) -> Result<Self, PushError> {
        let clean: String = private
            .trim()
            .trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        let bytes = B64
            .decode(clean.as_bytes())
            .map_err(|_| PushError::InvalidVapidKey)?;
        let signing = SigningKey::from_slice(&bytes).map_err(|_| PushError::InvalidVapidKey)?;
        let point = signing.verifying_key().to_encoded_point(false);
        Ok(VapidKey {
            public: B64.encode(point.as_bytes()),
            signing,
        })
    }

    /// The public key (uncompressed point, base64url): the browser's `applicationServerKey`
    /// and the `k=` parameter.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The signed JWT for `audience` (an origin), expiring at `exp` (Unix seconds), naming
    /// `subject` (a `mailto:` or `https:` contact).
    pub fn token(&self, audience: &str, exp: i64, subject: &str) -> Result<String, PushError> {
        let claims = serde_json::to_vec(&Claims {
            aud: audience,
            exp,
            sub: subject,
        })
        .map_err(|_| PushError::Crypto)?;
        let mut jwt = String::from("eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9."); // {"typ":"JWT","alg":"ES256"}
        jwt.push_str(&B64.encode(claims));
        let sig: Signature = self.signing.sign(jwt.as_bytes());
        jwt.push('.');
        jwt.push_str(&B64.encode(sig.to_bytes()));
        Ok(jwt)
    }

    /// The `Authorization` header value for `audience`.
    pub fn authorization(
        &self,
        audience: &str,
        exp: i64,
        subject: &str,
    ) -> Result<String, PushError> {
        Ok(format!(
            "vapid t={}, k={}",
            self.token(audience, exp, subject)?,
            self.public
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    const KEY: &str = "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY";

    #[test]
    fn the_token_verifies_and_names_its_audience() {
        let key = VapidKey::from_base64url(KEY).unwrap();
        let jwt = key
            .token(
                "https://push.example.net",
                1_700_000_000,
                "mailto:ops@example.com",
            )
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"typ": "JWT", "alg": "ES256"}));
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"aud": "https://push.example.net", "exp": 1_700_000_000, "sub": "mailto:ops@example.com"})
        );
        let public = B64.decode(key.public_key()).unwrap();
        assert_eq!(public.len(), 65);
        let verifying = VerifyingKey::from_sec1_bytes(&public).unwrap();
        let sig = Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifying.verify(signed.as_bytes(), &sig).unwrap();
        // Deterministic: the same inputs give the same header.
        let auth = key
            .authorization(
                "https://push.example.net",
                1_700_000_000,
                "mailto:ops@example.com",
            )
            .unwrap();
        assert_eq!(auth, format!("vapid t={jwt}, k={}", key.public_key()));
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in ["", "not base64!", "AAAA", &"A".repeat(43)] {
            let e = VapidKey::from_base64url(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_vapid_key", "{bad:?}");
        }
        // Padded standard alphabet is the same key.
        let std = KEY.replace('_', "/") + "=";
        assert_eq!(
            VapidKey::from_base64url(&std).unwrap().public_key(),
            VapidKey::from_base64url(KEY).unwrap().public_key()
        );
    }
}
