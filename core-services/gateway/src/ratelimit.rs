//! Rate limiting with GCRA (generic cell rate algorithm) in one atomic Redis script: each key
//! stores a "theoretical arrival time"; a request is allowed when it is not too far ahead of
//! now. Bursts up to the quota are allowed, then requests are spaced evenly.
//!
//! Answers carry `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers);
//! refusals are 429 with `Retry-After`. When Redis is unavailable the gateway serves anyway
//! (fail open) and counts `gateway_redis_failures_total{purpose="rate_limit"}`.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use prometheus::IntCounterVec;
use service_kit::redis::RedisClient;

use crate::config::Quota;

// Times are microseconds, so quotas above 1,000 requests per second per client stay exact.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tolerance = window - interval
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, 0, math.ceil((tat - now) / 1000000), math.ceil((tat - now - tolerance) / 1000000)}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
local remaining = math.floor((window - (new_tat - now)) / interval)
return {1, remaining, math.ceil((new_tat - now) / 1000000), 0}
";

/// The outcome for one request.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Policy name for the headers.
    pub policy: &'static str,
    /// The quota applied.
    pub quota: Quota,
    /// Requests left in the window.
    pub remaining: u64,
    /// Seconds until the quota is fully available again.
    pub reset_seconds: u64,
    /// Seconds to wait before retrying (refusals only).
    pub retry_after_seconds: u64,
}

impl Decision {
    /// Adds `RateLimit-Policy` and `RateLimit` to a response.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let policy = format!(
            "\"{}\";q={};w={}",
            self.policy, self.quota.limit, self.quota.window_seconds
        );
        let state = format!(
            "\"{}\";r={};t={}",
            self.policy, self.remaining, self.reset_seconds
        );
        if let (Ok(policy), Ok(state)) = (
            HeaderValue::from_str(&policy),
            HeaderValue::from_str(&state),
        ) {
            headers.insert("ratelimit-policy", policy);
            headers.insert("ratelimit", state);
        }
    }
}

/// The limiter.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    redis: RedisClient,
    script: Arc<redis::Script>,
    failures: IntCounterVec,
    decisions: IntCounterVec,
}

impl RateLimiter {
    /// A limiter over `redis`.
    pub fn new(redis: RedisClient, failures: IntCounterVec, decisions: IntCounterVec) -> Self {
        Self {
            redis,
            script: Arc::new(redis::Script::new(GCRA)),
            failures,
            decisions,
        }
    }

    /// Counts one request of `client` against `quota`; `None` when Redis could not answer.
    pub async fn check(
        &self,
        policy: &'static str,
        client: &str,
        quota: Quota,
    ) -> Option<Decision> {
        let window_us = quota.window_seconds.saturating_mul(1_000_000);
        let interval_us = (window_us / u64::from(quota.limit.max(1))).max(1);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.redis.key(&format!("ratelimit:{policy}:{client}")))
            .arg(interval_us)
            .arg(window_us);
        match self.redis.invoke::<(i64, i64, i64, i64)>(&invocation).await {
            Ok((allowed, remaining, reset, retry)) => {
                let allowed = allowed == 1;
                let label = if allowed { "allowed" } else { "limited" };
                self.decisions.with_label_values(&[policy, label]).inc();
                Some(Decision {
                    allowed,
                    policy,
                    quota,
                    remaining: u64::try_from(remaining).unwrap_or(0),
                    reset_seconds: u64::try_from(reset).unwrap_or(0),
                    retry_after_seconds: u64::try_from(retry).unwrap_or(1).max(1),
                })
            }
            Err(err) => {
                tracing::warn!(error = %err, "rate limiter unavailable; request allowed");
                self.failures.with_label_values(&["rate_limit"]).inc();
                None
            }
        }
    }
}
