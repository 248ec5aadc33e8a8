//! Authentication: bearer tokens verified against the users service's JWK Set (cached,
//! refetched for an unknown `kid` at most once per interval), then the session they belong to
//! must still exist in Redis (logout and refresh-token theft end it).

use std::sync::Arc;
use std::time::{Duration, Instant};

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
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self {
            http,
            settings,
            keys: RwLock::new(Arc::new(JwkSet::default())),
            last_fetch: Mutex::new(None),
            redis,
            redis_failures,
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
        let keys = self.keys.read().await.clone();
        let result = match verify(token, &keys, &self.settings.issuer, &self.settings.audience) {
            Err(VerifyError::UnknownKey(Some(_))) if self.refetch().await => {
                let keys = self.keys.read().await.clone();
                verify(token, &keys, &self.settings.issuer, &self.settings.audience)
            }
            other => other,
        };
        result.map_err(|err| invalid(err.to_string()))
    }

    /// The identity behind `Authorization: Bearer ...`, if the request has one.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
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
        let claims = self.verify(token).await?;
        self.check_session(&claims.sid).await?;
        Ok(Some(Identity {
            subject: claims.sub,
            roles: claims.roles,
        }))
    }

    /// The session must exist; a request extends its idle lifetime. Fails open without Redis.
    async fn check_session(&self, session_id: &str) -> Result<(), ApiError> {
        let key = format!("{}{session_id}", self.settings.session_key_prefix);
        let mut cmd = redis::cmd("EXPIRE");
        cmd.arg(key).arg(self.settings.session_idle_seconds);
        match self.redis.query::<i64>(&cmd).await {
            Ok(1) => Ok(()),
            Ok(_) => Err(invalid("the session has ended; sign in again")),
            Err(err) => {
                tracing::warn!(error = %err, "cannot check the session; accepting the token");
                self.redis_failures.with_label_values(&["session"]).inc();
                Ok(())
            }
        }
    }
}
