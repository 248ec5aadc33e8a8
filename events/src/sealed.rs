//! Single-use account tokens (email verification, password reset) sealed for the mailer.
//!
//! The users service keeps only a token's SHA-256 hash. The token itself must reach the
//! notifier, which puts it in a link, but the events that carry it rest in places that are
//! not meant to hold secrets: the outbox (kept for days), the broker, SNS, SQS and their
//! dead-letter queues. So the token travels sealed with AES-256-GCM under a key that only the
//! users service and the notifier hold; the additional data binds it to its event type and
//! account, so a sealed token cannot be moved into another event or another account's.
//!
//! Format: `v1.` + base64url (no padding) of the 12-byte nonce followed by the ciphertext and
//! its 16-byte tag. Keys are 32 random bytes, configured as standard base64.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

const PREFIX: &str = "v1.";

/// Why a key or a sealed token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The configured key is not 32 bytes of standard base64.
    #[error("the account token key must be 32 bytes in standard base64")]
    BadKey,
    /// Sealing failed (no randomness).
    #[error("could not seal the token")]
    Seal,
    /// The sealed token is malformed, was sealed under another key, or belongs to another
    /// event type or account.
    #[error("the sealed token cannot be opened")]
    Open,
}

/// The key shared by the users service (seals) and the notifier (opens).
pub struct SealKey(LessSafeKey);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// A key from its standard base64 form.
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        UnboundKey::new(&AES_256_GCM, &bytes)
            .map(|key| Self(LessSafeKey::new(key)))
            .map_err(|_| SealError::BadKey)
    }

    /// A new random key, in standard base64 (for `cargo xtask up` and tests).
    pub fn generate() -> Result<String, SealError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Seal)?;
        Ok(STANDARD.encode(bytes))
    }

    /// Seals `token` for an event of `event_type` about account `user_id`.
    pub fn seal(&self, token: &str, event_type: &str, user_id: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Seal)?;
        let mut in_out = token.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(event_type, user_id)),
                &mut in_out,
            )
            .map_err(|_| SealError::Seal)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// Opens a token sealed for an event of `event_type` about account `user_id`.
    pub fn open(&self, sealed: &str, event_type: &str, user_id: &str) -> Result<String, SealError> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .ok_or(SealError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad(event_type, user_id)), &mut in_out)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Open)
    }
}

fn aad(event_type: &str, user_id: &str) -> Vec<u8> {
    format!("{event_type}\n{user_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_sealed_token_opens_only_with_its_key_event_type_and_account() {
        let key = SealKey::from_base64(&SealKey::generate().unwrap()).unwrap();
        let sealed = key.seal("tok-123", "user.registered", "u-1").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("tok-123"));
        assert_eq!(
            key.open(&sealed, "user.registered", "u-1").unwrap(),
            "tok-123"
        );
        assert_ne!(
            sealed,
            key.seal("tok-123", "user.registered", "u-1").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(
            key.open(&sealed, "user.password_reset_requested", "u-1"),
            Err(SealError::Open)
        );
        assert_eq!(
            key.open(&sealed, "user.registered", "u-2"),
            Err(SealError::Open)
        );
        let other = SealKey::from_base64(&SealKey::generate().unwrap()).unwrap();
        assert_eq!(
            other.open(&sealed, "user.registered", "u-1"),
            Err(SealError::Open)
        );
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            key.open(&tampered, "user.registered", "u-1"),
            Err(SealError::Open)
        );
        for junk in ["", "v1.", "v1.AAAA", "v2.abc", "tok-123"] {
            assert_eq!(
                key.open(junk, "user.registered", "u-1"),
                Err(SealError::Open)
            );
        }
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert_eq!(
            SealKey::from_base64("c2hvcnQ=").unwrap_err(),
            SealError::BadKey
        );
        assert_eq!(
            SealKey::from_base64("not base64!").unwrap_err(),
            SealError::BadKey
        );
        assert!(SealKey::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
    }
}
