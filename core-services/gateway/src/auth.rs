//! Authentication: bearer tokens verified against the users service's JWK Set (cached,
//! refetched for an unknown `kid` at most once per interval), then the session they belong to
//! must still exist in Redis (logout and refresh-token theft end it).
//!
//! Signed-in browsing costs neither an Ed25519 verification nor a Redis round trip per
//! request: a verified token's identity is kept until the token expires (bounded by
//! `auth.verified_tokens`), and a session found alive is trusted for `auth.session_check_ms`
//! before Redis is asked again (which also extends its idle lifetime). A revoked session is
//! therefore refused within that interval (500 ms by default), on every replica.
//!
//! Without Redis the session cannot be checked. Reads (GET, HEAD, OPTIONS) then fail open: the
//! token's signature and expiry still hold, and a signed-out token can read for at most its
//! remaining lifetime (15 minutes) while Redis is down. Everything else fails closed with 503
//! and `Retry-After`, so a signed-out or stolen token cannot place orders, change an account or
//! act as an admin during the outage. A session confirmed within `session_check_ms` before the
//! outage is still trusted for the rest of that interval.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::IntCounterVec;
use service_kit::ApiError;
use service_kit::identity::Identity;
use service_kit::jwt::{Claims, JwkSet, VerifyError, verify};
use service_kit::redis::RedisClient;
use tokio::sync::{Mutex, RwLock};

use crate::config::AuthSettings;

/// Verifies tokens and sessions.
#[derive(Debug)]
pub struct Authenticator {
    http: reqwest::Client,
    settings: AuthSettings,
    keys: RwLock<Arc<JwkSet>>,
    last_fetch: Mutex<Option<Instant>>,
    redis: RedisClient,
    redis_failures: IntCounterVec,
    /// Verified tokens (the whole token is the key), each until it expires.
    verified: moka::sync::Cache<String, Arc<Verified>>,
    /// Sessions Redis confirmed within the last `session_check_ms`.
    live_sessions: Option<moka::sync::Cache<String, ()>>,
    /// `gateway_auth_checks_total{check}`: signature verifications and session look-ups made
    /// (not those answered from memory).
    checks: IntCounterVec,
}

/// What a verified token says.
#[derive(Debug)]
struct Verified {
    identity: Identity,
    session: String,
    /// `exp`, in seconds since the epoch.
    expires_at: i64,
}

/// A verified token is kept until its `exp`.
struct UntilExpiry;

impl moka::Expiry<String, Arc<Verified>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &String,
        verified: &Arc<Verified>,
        _created: Instant,
    ) -> Option<Duration> {
        let left = verified.expires_at.saturating_sub(now_seconds()).max(0);
        Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::Unauthorized(detail.into())
}

impl Authenticator {
    /// A verifier with an empty key cache (filled on the first token).
    pub fn new(
        settings: AuthSettings,
        redis: RedisClient,
        redis_failures: IntCounterVec,
        checks: IntCounterVec,
    ) -> anyhow::Result<Self> {
        for check in ["signature", "session"] {
            checks.with_label_values(&[check]);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        let verified = moka::sync::Cache::builder()
            .max_capacity(settings.verified_tokens)
            .expire_after(UntilExpiry)
            .build();
        let live_sessions = (settings.session_check_ms > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.verified_tokens)
                .time_to_live(Duration::from_millis(settings.session_check_ms))
                .build()
        });
        Ok(Self {
            http,
            settings,
            keys: RwLock::new(Arc::new(JwkSet::default())),
            last_fetch: Mutex::new(None),
            redis,
            redis_failures,
            verified,
            live_sessions,
            checks,
        })
    }

    /// Fetches the JWK Set unless it was fetched within the minimum interval.
    async fn refetch(&self) -> bool {
        let mut last = self.last_fetch.lock().await;
        let min = Duration::from_millis(self.settings.jwks_min_refresh_ms);
        if last.is_some_and(|at| at.elapsed() < min) {
            return false;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                *self.keys.write().await = Arc::new(set);
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot fetch the JWK Set");
                false
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<JwkSet> {
        Ok(self
            .http
            .get(&self.settings.jwks_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Verifies a token; 401 with the reason otherwise.
    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        self.checks.with_label_values(&["signature"]).inc();
        let keys = self.keys.read().await.clone();
        let result = match verify(token, &keys, &self.settings.issuer, &self.settings.audience) {
            Err(unknown @ VerifyError::UnknownKey(Some(_))) => {
                // Whoever fetched the set, this request or one that held the fetch lock while
                // this one waited for it (a burst of first requests), try again with it.
                self.refetch().await;
                let fresh = self.keys.read().await.clone();
                if Arc::ptr_eq(&fresh, &keys) {
                    Err(unknown)
                } else {
                    verify(
                        token,
                        &fresh,
                        &self.settings.issuer,
                        &self.settings.audience,
                    )
                }
            }
            other => other,
        };
        result.map_err(|err| invalid(err.to_string()))
    }

    /// The identity behind `Authorization: Bearer ...`, if the request has one. `read_only`
    /// says whether the request only reads (see the module's note on Redis outages).
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        read_only: bool,
    ) -> Result<Option<Identity>, ApiError> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let value = value
            .to_str()
            .map_err(|_| invalid("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid("expected `Authorization: Bearer <token>`"))?;
        let verified = match self.verified.get(token) {
            // The cache drops it at `exp`; this check covers the second it is still held.
            Some(verified) if verified.expires_at > now_seconds() => verified,
            _ => {
                let claims = self.verify(token).await?;
                let verified = Arc::new(Verified {
                    identity: Identity {
                        subject: claims.sub,
                        roles: claims.roles,
                    },
                    session: claims.sid,
                    expires_at: claims.exp,
                });
                self.verified.insert(token.to_owned(), verified.clone());
                verified
            }
        };
        self.check_session(&verified.session, read_only).await?;
        Ok(Some(verified.identity.clone()))
    }

    /// The session must exist; a request extends its idle lifetime. Without Redis, a read is
    /// let through and anything else is 503.
    async fn check_session(&self, session_id: &str, read_only: bool) -> Result<(), ApiError> {
        if let Some(live) = &self.live_sessions
            && live.contains_key(session_id)
        {
            return Ok(());
        }
        self.checks.with_label_values(&["session"]).inc();
        let key = format!("{}{session_id}", self.settings.session_key_prefix);
        let mut cmd = redis::cmd("EXPIRE");
        cmd.arg(key).arg(self.settings.session_idle_seconds);
        match self.redis.query::<i64>(&cmd).await {
            Ok(1) => {
                if let Some(live) = &self.live_sessions {
                    live.insert(session_id.to_owned(), ());
                }
                Ok(())
            }
            Ok(_) => Err(invalid("the session has ended; sign in again")),
            Err(err) => {
                self.redis_failures.with_label_values(&["session"]).inc();
                if read_only {
                    tracing::warn!(error = %err, "cannot check the session; accepting the token for a read");
                    Ok(())
                } else {
                    tracing::warn!(error = %err, "cannot check the session; refusing a write");
                    Err(ApiError::Unavailable(
                        "the session cannot be checked right now; try again shortly".into(),
                    ))
                }
            }
        }
    }
}
