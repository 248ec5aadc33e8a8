//! The access-token contract between `users` (which signs) and the gateway (which verifies):
//! EdDSA (Ed25519) JWTs with a `kid`, public keys published as a JWK Set.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// The one accepted algorithm; anything else in a token header is refused before any key is
/// looked at (no `none`, no HMAC with a public key).
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;

/// Clock skew tolerated on `exp`/`nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// Access-token claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (the users service's public URL).
    pub iss: String,
    /// Audience (the platform API).
    pub aud: String,
    /// Subject: the user id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Granted roles.
    pub roles: Vec<String>,
    /// Login session (refresh-token family) the token belongs to.
    pub sid: String,
}

/// One public key (RFC 8037 OKP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// Algorithm: `EdDSA`.
    pub alg: String,
    /// Use: `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// Key id, matched against the token header's `kid`.
    pub kid: String,
    /// The public key, base64url without padding.
    pub x: String,
}

/// A JWK Set (`/.well-known/jwks.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The key with id `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a JWT, or a header that cannot be read.
    #[error("malformed token")]
    Malformed,
    /// An algorithm other than EdDSA.
    #[error("algorithm not accepted")]
    Algorithm,
    /// No `kid`, or one the JWK Set does not hold.
    #[error("unknown signing key")]
    UnknownKey(Option<String>),
    /// Bad signature, wrong issuer or audience, expired or not yet valid.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// The `kid` a token names, after checking it is an EdDSA JWT.
pub fn key_id(token: &str) -> Result<String, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if header.alg != ALGORITHM {
        return Err(VerifyError::Algorithm);
    }
    header.kid.ok_or(VerifyError::UnknownKey(None))
}

/// Verifies signature, algorithm, issuer, audience, expiry and not-before.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    audience: &str,
) -> Result<Claims, VerifyError> {
    let kid = key_id(token)?;
    let jwk = keys
        .find(&kid)
        .ok_or_else(|| VerifyError::UnknownKey(Some(kid.clone())))?;
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
        return Err(VerifyError::UnknownKey(Some(kid)));
    }
    let key =
        DecodingKey::from_ed_components(&jwk.x).map_err(|e| VerifyError::Invalid(e.to_string()))?;
    let mut validation = Validation::new(ALGORITHM);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| VerifyError::Invalid(e.to_string()))
}
