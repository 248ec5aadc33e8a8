//! Bridge settings.

use serde::Deserialize;
use service_kit::config::{AmqpSettings, HttpSettings, TelemetrySettings};

/// The service name.
pub const SERVICE: &str = "bridge";
/// Local port.
pub const DEFAULT_PORT: u16 = 8086;

/// Everything the bridge reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener (health and metrics only).
    pub http: HttpSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Broker side: the URL, the exchange and the bridge's queue (bound to every routing key);
    /// the retry and prefetch fields of the section are not used (SNS failures are retried
    /// with backoff, see `sns.max_backoff_ms`, and deliveries are taken a batch at a time).
    pub amqp: AmqpSettings,
    /// SNS side.
    pub sns: SnsSettings,
}

/// SNS settings. The endpoint comes from the standard `AWS_ENDPOINT_URL(_SNS)` variables
/// locally; in AWS the default chain finds region and credentials (IRSA).
#[derive(Debug, Clone, Deserialize)]
pub struct SnsSettings {
    /// Topic ARN.
    pub topic_arn: String,
    /// Most events per `PublishBatch` (1 to 10).
    pub batch_size: usize,
    /// Longest wait between retries when SNS fails.
    pub max_backoff_ms: u64,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            service_kit::config::amqp_defaults(builder, "bridge")?
                .set_default(
                    "sns.topic_arn",
                    "arn:aws:sns:us-east-1:123456789012:retail-events",
                )?
                .set_default("sns.batch_size", 10_i64)?
                .set_default("sns.max_backoff_ms", 10_000_i64)
        })
    }
}
