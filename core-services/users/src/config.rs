//! Users settings.

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::config::{DatabaseSettings, HttpSettings, RedisSettings, TelemetrySettings};

/// The service name.
pub const SERVICE: &str = "users";
/// Local port (ARCHITECTURE.md, "Services").
pub const DEFAULT_PORT: u16 = 8085;

/// Everything users reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// PostgreSQL (`users` database).
    pub database: DatabaseSettings,
    /// Redis (sessions, login throttling).
    pub redis: RedisSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Token issuing.
    pub jwt: JwtSettings,
    /// Sessions and throttling.
    pub auth: AuthSettings,
}

/// Token settings.
#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    /// `iss` of every token.
    pub issuer: String,
    /// `aud` of every token.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl_seconds: u64,
    /// Refresh-token lifetime.
    pub refresh_ttl_seconds: u64,
    /// Signing keys as JSON (`[{"kid", "pkcs8", "retired_at"?}]`); a key is generated at
    /// start-up when absent (local runs only: tokens die with the process).
    #[serde(default)]
    pub signing_keys: Option<SecretString>,
}

/// Session and throttling settings.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// Full Redis key prefix of sessions; the gateway reads the same keys.
    pub session_key_prefix: String,
    /// Idle lifetime of a session.
    pub session_idle_seconds: u64,
    /// Failed logins per account within the window before logins for it are refused.
    pub max_failures_per_account: u32,
    /// Failed logins per client IP within the window.
    pub max_failures_per_ip: u32,
    /// Throttling window.
    pub failure_window_seconds: u64,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            builder
                .set_default("jwt.issuer", "http://127.0.0.1:8080")?
                .set_default("jwt.audience", "retail-platform")?
                .set_default("jwt.access_ttl_seconds", 900_i64)?
                .set_default("jwt.refresh_ttl_seconds", 2_592_000_i64)?
                .set_default(
                    "auth.session_key_prefix",
                    service_kit::identity::DEFAULT_SESSION_KEY_PREFIX,
                )?
                .set_default("auth.session_idle_seconds", 1800_i64)?
                .set_default("auth.max_failures_per_account", 5_i64)?
                .set_default("auth.max_failures_per_ip", 30_i64)?
                .set_default("auth.failure_window_seconds", 900_i64)
        })
    }
}
