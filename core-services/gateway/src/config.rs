//! Gateway settings: upstreams, route table, token verification, rate limits, CORS.

use std::collections::HashMap;

use serde::Deserialize;
use service_kit::config::{HttpSettings, RedisSettings, TelemetrySettings};

/// The service name.
pub const SERVICE: &str = "gateway";
/// The only public port.
pub const DEFAULT_PORT: u16 = 8080;
/// The route table used when `APP__ROUTES_JSON` is not set.
pub const DEFAULT_ROUTES: &str = include_str!("../routes.json");

/// Everything the gateway reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// Redis (rate limits, session checks).
    pub redis: RedisSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Token verification.
    pub auth: AuthSettings,
    /// Services by name.
    pub upstreams: HashMap<String, UpstreamSettings>,
    /// Circuit breaker, the same for every upstream.
    pub breaker: BreakerSettings,
    /// Rate limits by class.
    pub rate_limits: RateLimitSettings,
    /// The cache of public GET answers.
    pub response_cache: ResponseCacheSettings,
    /// Cross-origin access.
    pub cors: CorsSettings,
    /// The route table as JSON (see `routes.json`).
    pub routes_json: String,
    /// How many proxies in front of the gateway append the address they saw to
    /// `X-Forwarded-For`: 1 behind the ALB, 0 (the TCP peer is the client) when nothing is in
    /// front. The client address (rate limits, the users service's sign-in throttle) is the entry
    /// this many from the right; entries further left are the client's own and never trusted.
    pub trusted_proxy_hops: usize,
    /// Where the admin dashboard's built files are (served at `/admin`).
    pub admin_ui_dir: String,
    /// How long a client has to send a request's whole body; a slower one gets 408 and no
    /// upstream is called (see `proxy`).
    pub client_body_timeout_ms: u64,
}

/// How tokens are verified.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// Where the users service publishes its JWK Set.
    pub jwks_url: String,
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Least time between two JWK Set fetches for unknown `kid`s.
    pub jwks_min_refresh_ms: u64,
    /// Redis key prefix of login sessions (shared with users).
    pub session_key_prefix: String,
    /// Idle lifetime a request extends a session to.
    pub session_idle_seconds: u64,
    /// How long a session Redis confirmed is trusted before it is checked again: the most a
    /// revoked session can still be used for. 0 checks on every request.
    pub session_check_ms: u64,
    /// Most verified tokens (and confirmed sessions) kept in memory.
    pub verified_tokens: u64,
}

/// One upstream service.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamSettings {
    /// Base URL, e.g. `http://catalog:8081`.
    pub url: String,
    /// Time allowed until response headers arrive.
    pub timeout_ms: u64,
}

/// Circuit breaker settings.
#[derive(Debug, Clone, Deserialize)]
pub struct BreakerSettings {
    /// Consecutive failures (connection errors, timeouts, 502/503/504) that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit refuses calls before letting one trial through.
    pub open_ms: u64,
}

/// A quota: `limit` requests per `window_seconds`, as a burst or spread out.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Quota {
    /// Requests per window.
    pub limit: u32,
    /// Window length.
    pub window_seconds: u64,
}

/// Quotas per class of caller and route.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Anonymous callers, per IP.
    pub anonymous: Quota,
    /// Signed-in callers, per subject.
    pub authenticated: Quota,
    /// Login and registration, per IP.
    pub auth: Quota,
    /// Checkout, per subject.
    pub checkout: Quota,
    /// Gateway replicas the browsing quotas (`anonymous`, `authenticated`) are shared
    /// between. Those classes are limited in each replica's memory (no Redis round trip), so
    /// each replica allows `limit / replicas` (rounded up); set it to the autoscaler's minimum.
    /// With more replicas running, a client spread over all of them gets up to that many shares.
    pub replicas: u32,
    /// Most clients per browsing class (IPv4 addresses, IPv6 /64 networks, subjects) a replica
    /// tracks at once; the least recently seen are forgotten first.
    pub max_tracked_clients: u64,
}

/// The response cache (see `cache.rs`).
#[derive(Debug, Clone, Deserialize)]
pub struct ResponseCacheSettings {
    /// Off: every request goes to its upstream.
    pub enabled: bool,
    /// Memory bound of the whole cache (keys, headers and bodies).
    pub max_bytes: u64,
    /// Larger answers are passed through, never stored.
    pub max_entry_bytes: usize,
    /// The Redis channel catalog announces its invalidations on (its key prefix, then
    /// `cache:invalidated`).
    pub invalidation_channel: String,
}

/// CORS settings.
#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    /// Allowed origins, comma-separated; empty allows none.
    pub allowed_origins: String,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            builder
                .set_default("http.body_limit_bytes", 8_388_608_i64)?
                .set_default(
                    "auth.jwks_url",
                    "http://127.0.0.1:8085/.well-known/jwks.json",
                )?
                .set_default("auth.issuer", "http://127.0.0.1:8080")?
                .set_default("auth.audience", "retail-platform")?
                .set_default("auth.jwks_min_refresh_ms", 10_000_i64)?
                .set_default(
                    "auth.session_key_prefix",
                    service_kit::identity::DEFAULT_SESSION_KEY_PREFIX,
                )?
                .set_default("auth.session_idle_seconds", 1800_i64)?
                .set_default("auth.session_check_ms", 500_i64)?
                .set_default("auth.verified_tokens", 10_000_i64)?
                .set_default("upstreams.catalog.url", "http://127.0.0.1:8081")?
                .set_default("upstreams.catalog.timeout_ms", 5_000_i64)?
                .set_default("upstreams.inventory.url", "http://127.0.0.1:8082")?
                .set_default("upstreams.inventory.timeout_ms", 5_000_i64)?
                .set_default("upstreams.users.url", "http://127.0.0.1:8085")?
                .set_default("upstreams.users.timeout_ms", 5_000_i64)?
                .set_default("upstreams.orders.url", "http://127.0.0.1:8083")?
                .set_default("upstreams.orders.timeout_ms", 5_000_i64)?
                .set_default("upstreams.payments.url", "http://127.0.0.1:8084")?
                .set_default("upstreams.payments.timeout_ms", 10_000_i64)?
                .set_default(
                    "admin_ui_dir",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/../admin-dashboard/dist"),
                )?
                .set_default("upstreams.bridge.url", "http://127.0.0.1:8086")?
                .set_default("upstreams.bridge.timeout_ms", 5_000_i64)?
                .set_default("upstreams.webhooks.url", "lambda:webhook-admin")?
                .set_default("upstreams.webhooks.timeout_ms", 10_000_i64)?
                .set_default("rate_limits.replicas", 1_i64)?
                .set_default("rate_limits.max_tracked_clients", 100_000_i64)?
                .set_default("response_cache.enabled", true)?
                .set_default("response_cache.max_bytes", 64_i64 * 1024 * 1024)?
                .set_default("response_cache.max_entry_bytes", 256_i64 * 1024)?
                .set_default(
                    "response_cache.invalidation_channel",
                    "catalog:cache:invalidated",
                )?
                .set_default("breaker.failure_threshold", 5_i64)?
                .set_default("breaker.open_ms", 10_000_i64)?
                .set_default("rate_limits.anonymous.limit", 120_i64)?
                .set_default("rate_limits.anonymous.window_seconds", 60_i64)?
                .set_default("rate_limits.authenticated.limit", 600_i64)?
                .set_default("rate_limits.authenticated.window_seconds", 60_i64)?
                .set_default("rate_limits.auth.limit", 10_i64)?
                .set_default("rate_limits.auth.window_seconds", 60_i64)?
                .set_default("rate_limits.checkout.limit", 10_i64)?
                .set_default("rate_limits.checkout.window_seconds", 60_i64)?
                .set_default(
                    "cors.allowed_origins",
                    "http://127.0.0.1:8080,http://localhost:8080",
                )?
                .set_default("routes_json", DEFAULT_ROUTES)?
                .set_default("trusted_proxy_hops", 0_i64)?
                .set_default("client_body_timeout_ms", 10_000_i64)
        })
    }
}
