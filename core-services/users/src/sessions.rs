//! Redis state: login sessions (idle TTL, read by the gateway) and failed-login counters.
//!
//! The sign-in throttle follows OWASP's authentication cheat sheet: it stops the client that
//! guesses, never the owner. Failures are counted per (account, client address), per client
//! address and per account within a window:
//! - a client that failed `max_failures_per_client` times against an account is refused for
//!   that account (429 with `Retry-After`), and only that client;
//! - an address that failed `max_failures_per_ip` times is refused for every account;
//! - an account past `account_slowdown_after` failures from everyone (distributed guessing) has
//!   every further wrong password answered late, 250 ms doubling up to `max_failure_delay_ms`.
//!   A correct password is answered at once, so the owner is not locked out, and a wrong
//!   answer comes no sooner than the delay, so guesses slow down.
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
    max_per_client: u32,
    max_per_ip: u32,
    slowdown_after: u32,
    max_delay: Duration,
    window: Duration,
    trusted_proxy_hops: usize,
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
        for purpose in ["session", "throttle", "mail"] {
            errors.with_label_values(&[purpose]);
        }
        Ok(Self {
            redis,
            session_prefix: settings.session_key_prefix.clone(),
            session_idle: Duration::from_secs(settings.session_idle_seconds),
            max_per_client: settings.max_failures_per_client,
            max_per_ip: settings.max_failures_per_ip,
            slowdown_after: settings.account_slowdown_after,
            max_delay: Duration::from_millis(settings.max_failure_delay_ms),
            window: Duration::from_secs(settings.failure_window_seconds),
            trusted_proxy_hops: settings.trusted_proxy_hops,
            errors,
        })
    }

    /// The client address the throttle keys on (see
    /// [`service_kit::http::client_address`]).
    pub fn client_address(
        &self,
        headers: &http::HeaderMap,
        peer: std::net::IpAddr,
    ) -> std::net::IpAddr {
        service_kit::http::client_address(headers, peer, self.trusted_proxy_hops)
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

    /// Ends the given sessions; 503 when Redis cannot be reached (their access tokens would
    /// keep working until they expire), so the caller can retry.
    pub async fn end_sessions(&self, session_ids: &[uuid::Uuid]) -> Result<(), ApiError> {
        if session_ids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("DEL");
        for id in session_ids {
            cmd.arg(self.session_key(&id.to_string()));
        }
        self.redis
            .query::<i64>(&cmd)
            .await
            .map(drop)
            .map_err(|err| {
                self.failed("session", &err);
                ApiError::Unavailable(
                    "the sessions could not all be ended; try again in a moment".into(),
                )
            })
    }

    /// Whether one more account email may go to `user_id` within the mail window (at most
    /// `limit` per `window`). Without Redis it answers yes: the gateway's per-address limit
    /// on these routes still holds.
    pub async fn allow_mail(&self, user_id: &str, limit: u32, window: Duration) -> bool {
        let key = self.redis.key(&format!("account-mail:{user_id}"));
        let mut pipe = redis::pipe();
        pipe.cmd("INCR").arg(&key);
        pipe.cmd("EXPIRE")
            .arg(&key)
            .arg(window.as_secs())
            .arg("NX")
            .ignore();
        match self.redis.query_pipeline::<(u32,)>(&pipe).await {
            Ok((sent,)) => sent <= limit,
            Err(err) => {
                self.failed("mail", &err);
                true
            }
        }
    }

    fn account_key(&self, email: &str) -> String {
        self.redis.key(&format!("login-failures:account:{email}"))
    }

    fn client_key(&self, email: &str, ip: &str) -> String {
        self.redis
            .key(&format!("login-failures:client:{ip}:account:{email}"))
    }

    fn ip_key(&self, ip: &str) -> String {
        self.redis.key(&format!("login-failures:ip:{ip}"))
    }

    /// 429 when this client has failed too often against this account, or this address too
    /// often overall. Others' failures never refuse it.
    pub async fn check_throttle(&self, email: &str, ip: &str) -> Result<(), ApiError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(self.client_key(email, ip))
            .cmd("PTTL")
            .arg(self.client_key(email, ip));
        pipe.cmd("GET")
            .arg(self.ip_key(ip))
            .cmd("PTTL")
            .arg(self.ip_key(ip));
        let (client, client_ttl, per_ip, ip_ttl): (Option<u32>, i64, Option<u32>, i64) =
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
        if let Some(retry) = limited(client, self.max_per_client, client_ttl).or(limited(
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

    /// Counts a failed login against the client, the address and the account, and returns how
    /// long to hold the answer back: zero unless the account is past its slowdown threshold.
    pub async fn record_failure(&self, email: &str, ip: &str) -> Duration {
        let window = self.window.as_secs();
        let mut pipe = redis::pipe();
        for key in [
            self.client_key(email, ip),
            self.ip_key(ip),
            self.account_key(email),
        ] {
            pipe.cmd("INCR").arg(&key);
            pipe.cmd("EXPIRE").arg(&key).arg(window).arg("NX").ignore();
        }
        match self.redis.query_pipeline::<(u32, u32, u32)>(&pipe).await {
            Ok((_, _, account)) => failure_delay(account, self.slowdown_after, self.max_delay),
            Err(err) => {
                self.failed("throttle", &err);
                Duration::ZERO
            }
        }
    }

    /// Forgets this client's failures against the account after it signed in. The account's
    /// and the address's counts stay: the owner signing in does not end an attack on it.
    pub async fn clear_failures(&self, email: &str, ip: &str) {
        if let Err(err) = self
            .redis
            .query::<i64>(redis::cmd("DEL").arg(self.client_key(email, ip)))
            .await
        {
            self.failed("throttle", &err);
        }
    }
}

/// How long a wrong password's answer waits, given the account's failures so far (this one
/// included): nothing up to `after`, then 250 ms doubling per failure, at most `max`.
pub fn failure_delay(failures: u32, after: u32, max: Duration) -> Duration {
    let Some(past) = failures.checked_sub(after).filter(|p| *p > 0) else {
        return Duration::ZERO;
    };
    let doublings = (past - 1).min(16);
    Duration::from_millis(250u64 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::failure_delay;
    use std::time::Duration;

    #[test]
    fn the_delay_starts_past_the_threshold_doubles_and_is_capped() {
        let max = Duration::from_secs(5);
        assert_eq!(failure_delay(10, 10, max), Duration::ZERO);
        assert_eq!(failure_delay(11, 10, max), Duration::from_millis(250));
        assert_eq!(failure_delay(12, 10, max), Duration::from_millis(500));
        assert_eq!(failure_delay(15, 10, max), Duration::from_millis(4000));
        assert_eq!(failure_delay(16, 10, max), max);
        assert_eq!(failure_delay(u32::MAX, 10, max), max);
    }
}
