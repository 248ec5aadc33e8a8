//! Redis state: login sessions (idle TTL, read by the gateway) and failed-login counters.
//!
//! Both degrade open when Redis is unavailable: logins keep working (counted in
//! `users_redis_errors_total`), because refusing every login is worse than a short window
//! without throttling, and access tokens live only 15 minutes.

use std::time::Duration;

use prometheus::IntCounterVec;
use service_kit::ApiError;
use service_kit::redis::RedisClient;

/// Sessions and login throttling.
#[derive(Debug, Clone)]
pub struct AuthState {
    redis: RedisClient,
    session_prefix: String,
    session_idle: Duration,
    max_per_account: u32,
    max_per_ip: u32,
    window: Duration,
    errors: IntCounterVec,
}

impl AuthState {
    /// Wires the Redis client and limits.
    pub fn new(
        redis: RedisClient,
        settings: &crate::config::AuthSettings,
        metrics: &service_kit::metrics::Metrics,
    ) -> anyhow::Result<Self> {
        let errors = metrics.register(IntCounterVec::new(
            prometheus::Opts::new(
                "users_redis_errors_total",
                "Redis calls that failed, by purpose; the request went on without them.",
            ),
            &["purpose"],
        )?)?;
        // Exported from the start (0), so dashboards and alerts see the series before a failure.
        for purpose in ["session", "throttle"] {
            errors.with_label_values(&[purpose]);
        }
        Ok(Self {
            redis,
            session_prefix: settings.session_key_prefix.clone(),
            session_idle: Duration::from_secs(settings.session_idle_seconds),
            max_per_account: settings.max_failures_per_account,
            max_per_ip: settings.max_failures_per_ip,
            window: Duration::from_secs(settings.failure_window_seconds),
            errors,
        })
    }

    fn failed(&self, purpose: &str, err: &service_kit::redis::CacheError) {
        tracing::warn!(error = %err, purpose, "redis unavailable");
        self.errors.with_label_values(&[purpose]).inc();
    }

    /// The Redis key of a session.
    pub fn session_key(&self, session_id: &str) -> String {
        format!("{}{session_id}", self.session_prefix)
    }

    /// Starts or prolongs a session.
    pub async fn touch_session(&self, session_id: &str, user_id: &str) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.session_key(session_id))
            .arg(user_id)
            .arg("EX")
            .arg(self.session_idle.as_secs());
        if let Err(err) = self.redis.query::<()>(&cmd).await {
            self.failed("session", &err);
        }
    }

    /// Ends a session.
    pub async fn end_session(&self, session_id: &str) {
        if let Err(err) = self
            .redis
            .query::<i64>(redis::cmd("DEL").arg(self.session_key(session_id)))
            .await
        {
            self.failed("session", &err);
        }
    }

    fn account_key(&self, email: &str) -> String {
        self.redis.key(&format!("login-failures:account:{email}"))
    }

    fn ip_key(&self, ip: &str) -> String {
        self.redis.key(&format!("login-failures:ip:{ip}"))
    }

    /// 429 when the account or the client IP has too many recent failures.
    pub async fn check_throttle(&self, email: &str, ip: &str) -> Result<(), ApiError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(self.account_key(email))
            .cmd("PTTL")
            .arg(self.account_key(email));
        pipe.cmd("GET")
            .arg(self.ip_key(ip))
            .cmd("PTTL")
            .arg(self.ip_key(ip));
        let (account, account_ttl, per_ip, ip_ttl): (Option<u32>, i64, Option<u32>, i64) =
            match self.redis.query_pipeline(&pipe).await {
                Ok(values) => values,
                Err(err) => {
                    self.failed("throttle", &err);
                    return Ok(());
                }
            };
        let limited = |count: Option<u32>, max: u32, ttl: i64| {
            (count.unwrap_or(0) >= max).then(|| u64::try_from(ttl.max(1000) / 1000).unwrap_or(1))
        };
        if let Some(retry) = limited(account, self.max_per_account, account_ttl).or(limited(
            per_ip,
            self.max_per_ip,
            ip_ttl,
        )) {
            return Err(ApiError::TooManyRequests {
                detail: "too many failed sign-in attempts; try again later".into(),
                retry_after_seconds: retry,
            });
        }
        Ok(())
    }

    /// Counts a failed login against the account and the IP.
    pub async fn record_failure(&self, email: &str, ip: &str) {
        let window = self.window.as_secs();
        let mut pipe = redis::pipe();
        for key in [self.account_key(email), self.ip_key(ip)] {
            pipe.cmd("INCR")
                .arg(&key)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(window)
                .arg("NX")
                .ignore();
        }
        if let Err(err) = self.redis.query_pipeline::<()>(&pipe).await {
            self.failed("throttle", &err);
        }
    }

    /// Forgets an account's failures after a successful login.
    pub async fn clear_failures(&self, email: &str) {
        if let Err(err) = self
            .redis
            .query::<i64>(redis::cmd("DEL").arg(self.account_key(email)))
            .await
        {
            self.failed("throttle", &err);
        }
    }
}
