//! Rate limiting with GCRA (generic cell rate algorithm): each client has a "theoretical
//! arrival time"; a request is allowed when it is not too far ahead of now. Bursts up to the
//! quota are allowed, then requests are spaced evenly.
//!
//! Two stores, one algorithm:
//! - [`RateLimiter`]: one atomic Redis script, shared by every replica. The `auth` and
//!   `checkout` classes use it: their quotas are small, abuse there costs money (password
//!   guessing, card testing), and they must hold exactly across replicas. When Redis is
//!   unavailable the gateway serves anyway (fail open) and counts
//!   `gateway_redis_failures_total{purpose="rate_limit"}`.
//! - [`LocalLimiter`]: an atomic per client in this process's memory, for the browsing classes
//!   (`anonymous` per address, `authenticated` per subject), which every product read pays: no
//!   round trip, and it keeps working when Redis is down. Each replica allows its share of the
//!   quota (`rate_limits.replicas`).
//!
//! Answers carry `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers);
//! refusals are 429 with `Retry-After`.

use std::borrow::Borrow;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use prometheus::{IntCounter, IntCounterVec};
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
    /// The 429 problem for a refused request, with `Retry-After` and the `RateLimit` headers.
    pub fn refusal(&self) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        let mut response = service_kit::ApiError::TooManyRequests {
            detail: format!("rate limit `{}` exceeded", self.policy),
            retry_after_seconds: self.retry_after_seconds,
        }
        .into_response();
        self.write_headers(response.headers_mut());
        response
    }

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

/// GCRA over atomics in this process, one cell per client (`K`: an address for the anonymous
/// class, a subject for the signed-in one), for one quota.
#[derive(Clone)]
pub struct LocalLimiter<K = String> {
    policy: &'static str,
    quota: Quota,
    /// Theoretical arrival time per client, in nanoseconds since `epoch` (so a quota of up to a
    /// billion requests a second per client keeps its own interval; microseconds would round
    /// every quota above a million a second to one). A cell idle for a
    /// whole window holds nothing a fresh cell would not, so that is when it is forgotten.
    cells: moka::sync::Cache<K, Arc<AtomicU64>>,
    epoch: Instant,
    /// `gateway_rate_limit_decisions_total` of this policy, allowed and limited (looked up once).
    allowed: IntCounter,
    limited: IntCounter,
}

impl<K: Hash + Eq + Send + Sync + 'static> std::fmt::Debug for LocalLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("policy", &self.policy)
            .field("quota", &self.quota)
            .field("clients", &self.cells.entry_count())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Send + Sync + 'static> LocalLimiter<K> {
    /// A limiter applying `quota` (this replica's share) under `policy`, tracking at most
    /// `max_clients` clients.
    pub fn new(
        policy: &'static str,
        quota: Quota,
        max_clients: u64,
        decisions: &IntCounterVec,
    ) -> Self {
        let cells = moka::sync::Cache::builder()
            .max_capacity(max_clients.max(1))
            .time_to_idle(Duration::from_secs(quota.window_seconds.max(1)))
            .build();
        Self {
            policy,
            quota,
            cells,
            epoch: Instant::now(),
            allowed: decisions.with_label_values(&[policy, "allowed"]),
            limited: decisions.with_label_values(&[policy, "limited"]),
        }
    }

    /// Counts one request of `client`.
    pub fn check<Q>(&self, client: &Q) -> Decision
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        let window = self.quota.window_seconds.saturating_mul(NANOS_PER_SECOND);
        let interval = (window / u64::from(self.quota.limit.max(1))).max(1);
        let tolerance = window.saturating_sub(interval);
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let cell = self
            .cells
            .get_with_by_ref(client, || Arc::new(AtomicU64::new(0)));
        let mut stored = cell.load(Ordering::Acquire);
        let decision = loop {
            let tat = stored.max(now);
            if tat - now > tolerance {
                break Decision {
                    allowed: false,
                    policy: self.policy,
                    quota: self.quota,
                    remaining: 0,
                    reset_seconds: (tat - now).div_ceil(NANOS_PER_SECOND),
                    retry_after_seconds: (tat - now - tolerance).div_ceil(NANOS_PER_SECOND).max(1),
                };
            }
            let new_tat = tat.saturating_add(interval);
            match cell.compare_exchange_weak(stored, new_tat, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    break Decision {
                        allowed: true,
                        policy: self.policy,
                        quota: self.quota,
                        remaining: window.saturating_sub(new_tat - now) / interval,
                        reset_seconds: (new_tat - now).div_ceil(NANOS_PER_SECOND),
                        retry_after_seconds: 0,
                    };
                }
                Err(current) => stored = current,
            }
        };
        if decision.allowed {
            self.allowed.inc();
        } else {
            self.limited.inc();
        }
        decision
    }
}

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// This replica's share of a quota shared by `replicas` (rounded up, at least 1).
pub fn share(quota: Quota, replicas: u32) -> Quota {
    Quota {
        limit: quota.limit.div_ceil(replicas.max(1)).max(1),
        window_seconds: quota.window_seconds,
    }
}

/// The client an address stands for: an IPv4 address, or the /64 network of an IPv6 address
/// (one subscriber's allocation, which it can fill with addresses at will).
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(
                v6.to_bits() & !u128::from(u64::MAX),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limit: u32) -> LocalLimiter {
        let decisions =
            IntCounterVec::new(prometheus::Opts::new("d", "d"), &["policy", "decision"])
                .unwrap_or_else(|e| panic!("{e}"));
        LocalLimiter::new(
            "anonymous",
            Quota {
                limit,
                window_seconds: 60,
            },
            1000,
            &decisions,
        )
    }

    #[test]
    fn a_quota_of_millions_a_second_counts_what_its_headers_say() {
        // 1e9 a minute: an interval of 60 ns. Counted in microseconds it was 1 µs, and the
        // remaining count read 59,999,999 under a policy that announced 1,000,000,000.
        let limiter = limiter(1_000_000_000);
        let decision = limiter.check("198.51.100.9");
        assert!(decision.allowed);
        assert_eq!(decision.remaining, 999_999_999);
        assert_eq!(decision.reset_seconds, 1);
    }

    #[test]
    fn a_burst_up_to_the_quota_passes_then_requests_are_refused_with_a_wait() {
        let limiter = limiter(5);
        for left in (0..5).rev() {
            let decision = limiter.check("198.51.100.7");
            assert!(decision.allowed);
            assert_eq!(decision.remaining, left);
        }
        let refused = limiter.check("198.51.100.7");
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        // One request is freed every 12 s.
        assert!((1..=12).contains(&refused.retry_after_seconds));
        // Another client is not affected.
        assert!(limiter.check("198.51.100.8").allowed);
    }

    #[test]
    fn concurrent_requests_never_exceed_the_quota() {
        let limiter = limiter(100);
        let allowed = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        if limiter.check("203.0.113.9").allowed {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // 100 in the burst, and at most one more freed while the threads ran.
        let allowed = allowed.load(Ordering::Relaxed);
        assert!((100..=101).contains(&allowed), "{allowed}");
    }

    #[test]
    fn replicas_share_a_quota_and_ipv6_clients_are_networks() {
        let quota = Quota {
            limit: 120,
            window_seconds: 60,
        };
        assert_eq!(share(quota, 2).limit, 60);
        assert_eq!(share(quota, 7).limit, 18);
        assert_eq!(share(quota, 0).limit, 120);
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client_of(a), client_of(b));
        assert_ne!(client_of(a), client_of(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client_of(mapped), IpAddr::from([192, 0, 2, 1]));
        assert_eq!(
            client_of(a),
            "2001:db8:1:2::"
                .parse::<IpAddr>()
                .unwrap_or_else(|e| panic!("{e}"))
        );
    }
}
