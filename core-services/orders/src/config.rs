//! Orders settings.

use serde::Deserialize;
use service_kit::config::{
    AmqpSettings, DatabaseSettings, HttpSettings, RedisSettings, TelemetrySettings,
};

/// The service name.
pub const SERVICE: &str = "orders";
/// Local port.
pub const DEFAULT_PORT: u16 = 8083;

/// Everything orders reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// PostgreSQL (`orders` database).
    pub database: DatabaseSettings,
    /// Redis (cart cache).
    pub redis: RedisSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Broker.
    pub amqp: AmqpSettings,
    /// Services asked at checkout.
    pub upstreams: Upstreams,
    /// Saga rules.
    pub saga: SagaSettings,
    /// Cart rules.
    pub cart: CartSettings,
}

/// Where catalog (prices) and users (contact details) answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Upstreams {
    /// Catalog base URL.
    pub catalog_url: String,
    /// Users base URL.
    pub users_url: String,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

/// Saga settings.
#[derive(Debug, Clone, Deserialize)]
pub struct SagaSettings {
    /// An order still in flight after this long is cancelled (`timeout`). Shorter than the
    /// inventory hold, so orders decide before reservations lapse.
    pub timeout_seconds: u64,
    /// How often stuck orders and old idempotency keys are looked for.
    pub sweep_interval_ms: u64,
}

/// Cart settings.
#[derive(Debug, Clone, Deserialize)]
pub struct CartSettings {
    /// Lifetime of a cart's cached copy in Redis.
    pub cache_ttl_seconds: u64,
    /// Most distinct lines in one cart.
    pub max_lines: usize,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            service_kit::config::amqp_defaults(builder, "orders")?
                .set_default("upstreams.catalog_url", "http://127.0.0.1:8081")?
                .set_default("upstreams.users_url", "http://127.0.0.1:8085")?
                .set_default("upstreams.timeout_ms", 2000_i64)?
                .set_default("saga.timeout_seconds", 600_i64)?
                .set_default("saga.sweep_interval_ms", 1000_i64)?
                .set_default("cart.cache_ttl_seconds", 86_400_i64)?
                .set_default("cart.max_lines", 50_i64)
        })
    }
}
