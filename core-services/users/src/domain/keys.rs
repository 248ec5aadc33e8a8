//! Signing keys: Ed25519, identified by `kid`, rotated without breaking live tokens.
//!
//! Keys come from configuration (a secret): a JSON array of `{kid, pkcs8, retired_at?}`, PKCS#8
//! DER in standard base64. The first key without `retired_at` signs; retired keys stay in the
//! JWK Set until `retired_at` plus the access-token lifetime, so tokens signed just before a
//! rotation keep working until they expire, and no longer.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use serde::{Deserialize, Serialize};
use service_kit::jwt::{ALGORITHM, Claims, Jwk, JwkSet};
use time::OffsetDateTime;

/// One configured key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyConfig {
    /// Key id.
    pub kid: String,
    /// PKCS#8 DER, standard base64.
    pub pkcs8: String,
    /// When it stopped signing; absent for the current key.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
}

impl KeyConfig {
    /// A fresh random key.
    pub fn generate(kid: &str) -> anyhow::Result<Self> {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| anyhow::anyhow!("cannot generate an Ed25519 key"))?;
        Ok(Self {
            kid: kid.to_owned(),
            pkcs8: STANDARD.encode(document.as_ref()),
            retired_at: None,
        })
    }

    fn jwk(&self) -> anyhow::Result<Jwk> {
        let der = STANDARD.decode(&self.pkcs8)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|e| anyhow::anyhow!("key {}: {e}", self.kid))?;
        Ok(Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            alg: "EdDSA".into(),
            key_use: "sig".into(),
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        })
    }
}

/// The signing key and the published public keys.
pub struct KeyRing {
    kid: String,
    signing: EncodingKey,
    published: JwkSet,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("kid", &self.kid)
            .field("published", &self.published)
            .finish()
    }
}

impl KeyRing {
    /// Builds the ring from configured keys at time `now`.
    pub fn new(
        keys: &[KeyConfig],
        access_ttl: Duration,
        now: OffsetDateTime,
    ) -> anyhow::Result<Self> {
        let current = keys
            .iter()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| anyhow::anyhow!("no current signing key (every key has retired_at)"))?;
        let der = STANDARD.decode(&current.pkcs8)?;
        let signing = EncodingKey::from_ed_der(&der);
        let mut published = JwkSet::default();
        for key in keys {
            let live = key
                .retired_at
                .is_none_or(|retired| retired + access_ttl > now);
            if live {
                published.keys.push(key.jwk()?);
            }
        }
        Ok(Self {
            kid: current.kid.clone(),
            signing,
            published,
        })
    }

    /// Signs `claims` with the current key.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.signing)?)
    }

    /// The public keys to publish.
    pub fn jwks(&self) -> &JwkSet {
        &self.published
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::jwt::{VerifyError, verify};

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "https://users.test".into(),
            aud: "retail-api".into(),
            sub: "user-1".into(),
            exp: now + 900,
            nbf: now,
            iat: now,
            jti: "j1".into(),
            roles: vec!["shopper".into()],
            sid: "s1".into(),
        }
    }

    #[test]
    fn tokens_verify_against_the_published_keys_only() {
        let now = OffsetDateTime::now_utc();
        let old = KeyConfig::generate("k1").unwrap();
        let ring = KeyRing::new(std::slice::from_ref(&old), Duration::from_secs(900), now).unwrap();
        let token = ring.sign(&claims(now.unix_timestamp())).unwrap();
        let verified = verify(&token, ring.jwks(), "https://users.test", "retail-api").unwrap();
        assert_eq!(verified.sub, "user-1");
        assert!(matches!(
            verify(&token, ring.jwks(), "https://other", "retail-api"),
            Err(VerifyError::Invalid(_))
        ));

        // Rotation: k1 retired a minute ago is still published; retired past the TTL it is not.
        let mut retired = old;
        retired.retired_at = Some(now - time::Duration::minutes(1));
        let new = KeyConfig::generate("k2").unwrap();
        let rotated = KeyRing::new(
            &[new.clone(), retired.clone()],
            Duration::from_secs(900),
            now,
        )
        .unwrap();
        assert!(verify(&token, rotated.jwks(), "https://users.test", "retail-api").is_ok());
        retired.retired_at = Some(now - time::Duration::minutes(16));
        let later = KeyRing::new(&[new, retired], Duration::from_secs(900), now).unwrap();
        assert_eq!(
            verify(&token, later.jwks(), "https://users.test", "retail-api").unwrap_err(),
            VerifyError::UnknownKey(Some("k1".into()))
        );
    }
}
