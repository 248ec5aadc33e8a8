//! Typed settings from defaults plus environment.
//!
//! Every key can be overridden by an environment variable `APP__<SECTION>__<KEY>` (for example
//! `APP__DATABASE__URL`, `APP__HTTP__PORT`). Secrets are [`SecretString`]s: they never show in
//! `Debug` output or logs.

use std::time::Duration;

use config::{Config, ConfigBuilder, ConfigError, Environment, builder::DefaultState};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Prefix of every environment variable the services read.
pub const ENV_PREFIX: &str = "APP";
/// Separator between the prefix, the section and the key.
pub const ENV_SEPARATOR: &str = "__";
/// Standard OpenTelemetry variable: when set, traces are exported over OTLP/HTTP to it.
pub const OTEL_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Local defaults shared by every service: loopback servers with the credentials `cargo xtask up`
/// sets up. Deployed environments override them through the environment.
pub const DEFAULT_POSTGRES_SERVER: &str = "postgres://postgres:postgres@127.0.0.1:5432";
/// Default Redis server for local runs.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// HTTP listener settings.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Address to bind, `0.0.0.0` in containers, `127.0.0.1` locally.
    pub host: String,
    /// Port to bind; `0` picks a free one (tests).
    pub port: u16,
    /// Upper bound on the time a request may take before it is answered with 503.
    pub request_timeout_ms: u64,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
}

impl HttpSettings {
    /// The request timeout as a [`Duration`].
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// PostgreSQL settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Connection URL including the database name; may hold a password.
    pub url: SecretString,
    /// Upper bound on pooled connections.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing.
    pub acquire_timeout_ms: u64,
    /// Server-side statement timeout for every connection.
    pub statement_timeout_ms: u64,
}

/// Redis settings.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// Connection URL; may hold a password.
    pub url: SecretString,
    /// Prepended to every key this service writes, so services and tests never collide.
    pub key_prefix: String,
    /// Upper bound on establishing a connection.
    pub connect_timeout_ms: u64,
    /// Upper bound on one command, after which the caller falls back to PostgreSQL.
    pub command_timeout_ms: u64,
}

/// Logging and tracing settings.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `tracing` filter directive, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// JSON lines (deployed) or human-readable text (local terminals).
    pub json_logs: bool,
    /// OTLP/HTTP collector base URL (spans go to `<url>/v1/traces`); no export when unset.
    /// Defaults to the standard `OTEL_EXPORTER_OTLP_ENDPOINT` variable.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// Share of new traces recorded and exported, from 0 to 1, under a parent-based sampler:
    /// a request whose caller sent a sampled `traceparent` is always recorded. Default 0: only
    /// traces a caller started sampled (trace ids are still assigned and propagated, and logs
    /// carry them).
    #[serde(default)]
    pub trace_sample_ratio: f64,
    /// One successful request in this many gets an `info` access log line (the others log at
    /// `debug`); 1 logs every request, 0 none. Requests answered 4xx or 5xx are always logged.
    #[serde(default = "default_access_log_every")]
    pub access_log_every: u64,
    /// Log lines queued for the writer thread; when it falls behind, further lines are
    /// dropped, never waited for: a slow log sink cannot slow requests down.
    #[serde(default = "default_log_buffer_lines")]
    pub log_buffer_lines: usize,
}

fn default_access_log_every() -> u64 {
    100
}

fn default_log_buffer_lines() -> usize {
    // The queue is allocated and touched whole at start (32 bytes a line): 8,192 lines are
    // 256 KiB of every service's memory, where 65,536 were 2 MiB.
    8_192
}

/// RabbitMQ settings of a service that publishes and consumes events (section `amqp`).
#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// Broker URL; holds a password.
    pub url: SecretString,
    /// Event exchange.
    pub exchange: String,
    /// This service's queue.
    pub queue: String,
    /// Waits before retries, in milliseconds (attempts = entries + 1).
    pub retry_delays_ms: Vec<u64>,
    /// Deliveries handled at once (the broker's prefetch): never two of one aggregate.
    pub prefetch: u16,
    /// How often the outbox relay looks at the outbox when no commit signalled it.
    pub relay_poll_ms: u64,
}

impl AmqpSettings {
    /// The retry delays as durations.
    pub fn retry_delays(&self) -> Vec<Duration> {
        self.retry_delays_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect()
    }

    /// Attempts a message gets before it is parked (the first and every retry).
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_delays_ms.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }
}

/// The defaults of an [`AmqpSettings`] section consuming from `queue`: the local broker, the
/// platform's exchange, retries after 1 s, 5 s and 30 s, 16 deliveries at once and a relay
/// fallback poll of one second.
#[cfg(feature = "amqp")]
pub fn amqp_defaults(
    builder: ConfigBuilder<DefaultState>,
    queue: &str,
) -> Result<ConfigBuilder<DefaultState>, ConfigError> {
    builder
        .set_default("amqp.url", "amqp://guest:guest@127.0.0.1:5672/%2f")?
        .set_default("amqp.exchange", crate::messaging::EXCHANGE)?
        .set_default("amqp.queue", queue)?
        .set_default("amqp.retry_delays_ms", vec![1000_i64, 5000, 30_000])?
        .set_default("amqp.prefetch", 16_i64)?
        .set_default("amqp.relay_poll_ms", 1000_i64)
}

/// Builds settings of type `T` from the common defaults for a service, the service's own
/// defaults (`extra`) and the environment, in that order of precedence (environment wins).
pub fn load<T: DeserializeOwned>(
    service: &str,
    port: u16,
    extra: impl FnOnce(ConfigBuilder<DefaultState>) -> Result<ConfigBuilder<DefaultState>, ConfigError>,
) -> Result<T, ConfigError> {
    let builder = common_defaults(Config::builder(), service, port)?;
    extra(builder)?
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .try_parsing(true),
        )
        .build()?
        .try_deserialize()
}

fn common_defaults(
    mut builder: ConfigBuilder<DefaultState>,
    service: &str,
    port: u16,
) -> Result<ConfigBuilder<DefaultState>, ConfigError> {
    if let Ok(endpoint) = std::env::var(OTEL_ENDPOINT_ENV) {
        builder = builder.set_default("telemetry.otlp_endpoint", endpoint)?;
    }
    builder
        .set_default("http.host", "127.0.0.1")?
        .set_default("http.port", i64::from(port))?
        .set_default("http.request_timeout_ms", 10_000_i64)?
        .set_default("http.body_limit_bytes", 1_048_576_i64)?
        .set_default(
            "database.url",
            format!("{DEFAULT_POSTGRES_SERVER}/{service}"),
        )?
        .set_default("database.max_connections", 20_i64)?
        .set_default("database.acquire_timeout_ms", 3_000_i64)?
        .set_default("database.statement_timeout_ms", 5_000_i64)?
        .set_default("redis.url", DEFAULT_REDIS_URL)?
        .set_default("redis.key_prefix", format!("{service}:"))?
        .set_default("redis.connect_timeout_ms", 250_i64)?
        .set_default("redis.command_timeout_ms", 250_i64)?
        .set_default("telemetry.log_filter", "info,sqlx=warn,tower_http=warn")?
        .set_default("telemetry.json_logs", true)?
        .set_default("telemetry.trace_sample_ratio", 0.0)?
        .set_default("telemetry.access_log_every", 100_i64)?
        .set_default("telemetry.log_buffer_lines", 8_192_i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        telemetry: TelemetrySettings,
    }

    #[test]
    fn by_default_no_new_trace_is_sampled_and_one_success_in_100_is_logged() {
        let probe: Probe = load("probe", 1, Ok).unwrap();
        // Deterministic: what a test (or a local run) records never depends on chance.
        assert!(probe.telemetry.trace_sample_ratio.abs() < f64::EPSILON);
        assert_eq!(probe.telemetry.access_log_every, 100);
        assert!(probe.telemetry.log_buffer_lines > 0);
    }
}
