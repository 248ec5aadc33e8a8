//! Token issuing: signed access tokens and opaque refresh tokens (stored only as hashes).

use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use service_kit::jwt::Claims;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::keys::KeyRing;
use crate::store::User;

/// The OAuth 2.0 token response (RFC 6749 5.1).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// Opaque; exchange at `/auth/refresh` for a new pair. Single use.
    pub refresh_token: String,
}

/// Signs tokens.
#[derive(Debug)]
pub struct Issuer {
    /// Signing and published keys.
    pub keys: KeyRing,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl Issuer {
    /// An issuer with its keys and lifetimes.
    pub fn new(keys: KeyRing, settings: &crate::config::JwtSettings) -> Self {
        Self {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl: Duration::from_secs(settings.access_ttl_seconds),
            refresh_ttl: Duration::from_secs(settings.refresh_ttl_seconds),
        }
    }

    /// An access token for `user` in session `family_id`.
    pub fn access_token(&self, user: &User, family_id: Uuid) -> anyhow::Result<String> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let ttl = i64::try_from(self.access_ttl.as_secs())?;
        self.keys.sign(&Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.to_string(),
            exp: now + ttl,
            nbf: now,
            iat: now,
            jti: Uuid::now_v7().to_string(),
            roles: user.roles.clone(),
            sid: family_id.to_string(),
        })
    }

    /// The token response for a fresh refresh token.
    pub fn response(
        &self,
        user: &User,
        family_id: Uuid,
        refresh_token: String,
    ) -> anyhow::Result<TokenResponse> {
        Ok(TokenResponse {
            access_token: self.access_token(user, family_id)?,
            token_type: "Bearer",
            expires_in: self.access_ttl.as_secs(),
            refresh_token,
        })
    }

    /// When a refresh token issued now expires.
    pub fn refresh_expiry(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.refresh_ttl
    }
}

/// A new opaque token (refresh, email verification, password reset) and the hash stored for
/// it: 32 random bytes, base64url.
pub fn new_opaque_token() -> anyhow::Result<(String, Vec<u8>)> {
    let mut bytes = [0_u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_opaque_token(&token);
    Ok((token, hash))
}

/// The stored form of an opaque token (SHA-256).
pub fn hash_opaque_token(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}
