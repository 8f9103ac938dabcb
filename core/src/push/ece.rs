//! RFC 8291 message encryption for Web Push: one `aes128gcm` record (RFC 8188).
//!
//! Invariant: the output is a complete request body — header (`salt ‖ rs ‖ idlen ‖ keyid`)
//! followed by exactly one record holding `plaintext ‖ 0x02` sealed with AES-128-GCM — and is
//! a pure function of its inputs: the application server's ephemeral key and the salt are
//! passed in (the edge draws them from `crypto.getRandomValues`), never generated here.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

use super::PushError;
use crate::limits::{MAX_PUSH_PAYLOAD_BYTES, PUSH_RECORD_SIZE};

/// Length of an uncompressed P-256 point (`0x04 ‖ x ‖ y`).
pub const PUBLIC_KEY_BYTES: usize = 65;
/// Length of the subscription's authentication secret.
pub const AUTH_SECRET_BYTES: usize = 16;
/// Length of the content-coding salt.
pub const SALT_BYTES: usize = 16;
/// Bytes the encryption adds to the plaintext: header (16 + 4 + 1 + 65), the padding
/// delimiter and the GCM tag.
pub const OVERHEAD_BYTES: usize = SALT_BYTES + 4 + 1 + PUBLIC_KEY_BYTES + 1 + 16;

/// The per-message secrets the caller draws from a random source.
#[derive(Clone)]
pub struct Entropy {
    /// The application server's ephemeral ECDH private key (a P-256 scalar, big-endian).
    pub ephemeral: [u8; 32],
    /// The content-coding salt.
    pub salt: [u8; SALT_BYTES],
}

impl std::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entropy(..)")
    }
}

/// Encrypts `plaintext` for the user agent whose public key is `ua_public` (65 bytes,
/// uncompressed) and authentication secret is `auth` (16 bytes).
pub fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8],
    auth: &[u8],
    entropy: &Entropy,
) -> Result<Vec<u8>, PushError> {
    if plaintext.len() > MAX_PUSH_PAYLOAD_BYTES {
        return Err(PushError::PayloadTooLarge(plaintext.len()));
    }
    if auth.len() != AUTH_SECRET_BYTES {
        return Err(PushError::InvalidSubscription(
            "auth secret is not 16 bytes",
        ));
    }
    let ua = PublicKey::from_sec1_bytes(ua_public)
        .map_err(|_| PushError::InvalidSubscription("p256dh is not a P-256 public key"))?;
    let ua_bytes = ua.to_encoded_point(false);
    let secret =
        SecretKey::from_slice(&entropy.ephemeral).map_err(|_| PushError::InvalidEntropy)?;
    let as_public = secret.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), ua.as_affine());

    // IKM = HKDF(auth, ecdh, "WebPush: info" ‖ 0 ‖ ua_public ‖ as_public, 32)
    let mut key_info = Vec::with_capacity(14 + 2 * PUBLIC_KEY_BYTES);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_bytes.as_bytes());
    key_info.extend_from_slice(as_public.as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes().as_slice())
        .expand(&key_info, &mut ikm)
        .map_err(|_| PushError::Crypto)?;

    // CEK and nonce from HKDF(salt, IKM, ...).
    let prk = Hkdf::<Sha256>::new(Some(&entropy.salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| PushError::Crypto)?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| PushError::Crypto)?;

    // One record, the last: plaintext, then the 0x02 delimiter, no further padding. Its
    // sequence number is 0, so the nonce is used as derived.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| PushError::Crypto)?;
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), record.as_slice())
        .map_err(|_| PushError::Crypto)?;

    let mut out = Vec::with_capacity(OVERHEAD_BYTES + plaintext.len());
    out.extend_from_slice(&entropy.salt);
    out.extend_from_slice(&PUSH_RECORD_SIZE.to_be_bytes());
    out.push(PUBLIC_KEY_BYTES as u8);
    out.extend_from_slice(as_public.as_bytes());
    out.extend_from_slice(&sealed);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;

    fn b(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    /// RFC 8291 Appendix A: the published example, byte for byte.
    #[test]
    fn rfc8291_appendix_a() {
        let plaintext = b"When I grow up, I want to be a watermelon";
        let ua_public = b("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = b("BTBZMqHH6r4Tts7J_aSIgg");
        let entropy = Entropy {
            ephemeral: b("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")
                .try_into()
                .unwrap(),
            salt: b("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap(),
        };
        let body = encrypt(plaintext, &ua_public, &auth, &entropy).unwrap();
        assert_eq!(
            B64.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
        assert_eq!(body.len(), OVERHEAD_BYTES + plaintext.len());
    }

    #[test]
    fn the_payload_limit_is_exact() {
        let ua_public = b("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = [7u8; 16];
        let entropy = Entropy {
            ephemeral: [9u8; 32],
            salt: [1u8; 16],
        };
        let at = vec![b'x'; MAX_PUSH_PAYLOAD_BYTES];
        let body = encrypt(&at, &ua_public, &auth, &entropy).unwrap();
        assert_eq!(body.len(), crate::limits::MAX_PUSH_BODY_BYTES);
        let over = vec![b'x'; MAX_PUSH_PAYLOAD_BYTES + 1];
        let e = encrypt(&over, &ua_public, &auth, &entropy).unwrap_err();
        assert_eq!(e.code(), "push_payload_too_large");
    }

    #[test]
    fn bad_keys_are_refused() {
        let entropy = Entropy {
            ephemeral: [9u8; 32],
            salt: [1u8; 16],
        };
        let e = encrypt(b"x", &[4u8; 65], &[0u8; 16], &entropy).unwrap_err();
        assert_eq!(e.code(), "invalid_push_subscription");
        let ua_public = b("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let e = encrypt(b"x", &ua_public, &[0u8; 15], &entropy).unwrap_err();
        assert_eq!(e.code(), "invalid_push_subscription");
        let zero = Entropy {
            ephemeral: [0u8; 32],
            salt: [1u8; 16],
        };
        let e = encrypt(b"x", &ua_public, &[0u8; 16], &zero).unwrap_err();
        assert_eq!(e.code(), "invalid_push_entropy");
    }
}
