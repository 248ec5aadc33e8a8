//! Payments settings.

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::config::{AmqpSettings, DatabaseSettings, HttpSettings, TelemetrySettings};

/// The service name.
pub const SERVICE: &str = "payments";
/// Local port.
pub const DEFAULT_PORT: u16 = 8084;
/// Local port of the provider simulator.
pub const SIMULATOR_PORT: u16 = 8090;

/// Everything payments reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// PostgreSQL (`payments` database).
    pub database: DatabaseSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Broker.
    pub amqp: AmqpSettings,
    /// The payment provider.
    pub provider: ProviderSettings,
}

/// Provider settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSettings {
    /// The provider's API base URL (the simulator locally).
    pub url: String,
    /// Per-call timeout; no answer by then counts as a timeout.
    pub timeout_ms: u64,
    /// Where the provider sends asynchronous outcomes (signed callbacks).
    pub callback_url: String,
    /// Secret the provider signs callbacks with.
    pub callback_secret: SecretString,
    /// SQS queue of callbacks verified by the psp-webhook function (AWS); when set, payments
    /// polls it. The AWS endpoint and credentials come from the standard environment.
    #[serde(default)]
    pub callbacks_queue_url: Option<String>,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            service_kit::config::amqp_defaults(builder, "payments")?
                .set_default("provider.url", format!("http://127.0.0.1:{SIMULATOR_PORT}"))?
                .set_default("provider.timeout_ms", 2000_i64)?
                .set_default(
                    "provider.callback_url",
                    format!("http://127.0.0.1:{DEFAULT_PORT}/internal/psp/callback"),
                )?
                .set_default("provider.callback_secret", "local-psp-callback-secret")
        })
    }
}
