//! Catalog settings: the common sections plus the cache's own.

use serde::Deserialize;
use service_kit::config::{DatabaseSettings, HttpSettings, RedisSettings, TelemetrySettings};

/// The service name: metrics label, log field, database and key prefix default.
pub const SERVICE: &str = "catalog";
/// Local port (ARCHITECTURE.md, "Services").
pub const DEFAULT_PORT: u16 = 8081;

/// Everything the catalog reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// PostgreSQL (`catalog` database).
    pub database: DatabaseSettings,
    /// Redis (cache-aside).
    pub redis: RedisSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Cache behaviour.
    pub cache: CacheSettings,
    /// Bulk import limits.
    pub import: ImportSettings,
}

/// Cache-aside settings.
#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    /// Lifetime of a cached product or listing page, in seconds.
    pub ttl_seconds: u64,
    /// Memory bound of the in-process first level in front of Redis; 0 turns it off.
    pub local_max_bytes: u64,
    /// Longest an entry stays in the first level. Writes anywhere drop it at once through
    /// the invalidation channel; this bounds staleness while that channel is down.
    pub local_ttl_seconds: u64,
}

/// Bulk import limits.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportSettings {
    /// Most products in one import request.
    pub max_products: usize,
    /// Largest import body, in bytes (the general body limit stays small).
    pub body_limit_bytes: usize,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            builder
                .set_default("cache.ttl_seconds", 300_i64)?
                .set_default("cache.local_max_bytes", 16_i64 * 1024 * 1024)?
                .set_default("cache.local_ttl_seconds", 5_i64)?
                .set_default("import.max_products", 1000_i64)?
                .set_default("import.body_limit_bytes", 8_388_608_i64)
        })
    }
}
