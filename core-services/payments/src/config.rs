//! Payments settings, and the simulator's.

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::config::{AmqpSettings, DatabaseSettings, HttpSettings, TelemetrySettings};

/// The service name.
pub const SERVICE: &str = "payments";
/// Local port.
pub const DEFAULT_PORT: u16 = 8084;
/// Local port of the provider simulator.
pub const SIMULATOR_PORT: u16 = 8090;
/// The API key of local runs (the simulator's and payments' default; never a real Stripe key).
pub const LOCAL_API_KEY: &str = "sk_test_simulator_local";
/// The webhook signing secret of local runs.
pub const LOCAL_WEBHOOK_SECRET: &str = "whsec_simulator_local";

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

/// Provider (Stripe) settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSettings {
    /// Stripe's API base URL: `https://api.stripe.com`, or the simulator.
    pub url: String,
    /// The secret key: `sk_test_...` (test mode) or `sk_live_...` (live mode).
    pub api_key: SecretString,
    /// Per-attempt timeout; no answer by then counts as a timeout.
    pub timeout_ms: u64,
    /// Attempts per call when Stripe answers 409, 424, 429 or 5xx or does not answer, each with
    /// the same idempotency key.
    pub attempts: u32,
    /// Wait before the second attempt (doubled for each later one).
    pub retry_backoff_ms: u64,
    /// The webhook endpoint's signing secret (`whsec_...`); while it is rolled, the new and the
    /// old one separated by a space.
    pub webhook_secret: SecretString,
    /// SQS queue of webhook events verified by the psp-webhook function (AWS); when set,
    /// payments polls it. The AWS endpoint and credentials come from the standard environment.
    #[serde(default)]
    pub callbacks_queue_url: Option<String>,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            service_kit::config::amqp_defaults(builder, "payments")?
                .set_default("provider.url", format!("http://127.0.0.1:{SIMULATOR_PORT}"))?
                .set_default("provider.api_key", LOCAL_API_KEY)?
                .set_default("provider.timeout_ms", 2000_i64)?
                .set_default("provider.attempts", 3_i64)?
                .set_default("provider.retry_backoff_ms", 100_i64)?
                .set_default("provider.webhook_secret", LOCAL_WEBHOOK_SECRET)
        })
    }
}

/// What the simulator (`psp-simulator`) reads: `APP__SIMULATOR__...` and `APP__TELEMETRY__...`.
#[derive(Debug, Clone, Deserialize)]
pub struct SimulatorSettings {
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// The simulator.
    pub simulator: SimulatorSection,
}

/// The simulator's own settings.
#[derive(Debug, Clone, Deserialize)]
pub struct SimulatorSection {
    /// Socket address to listen on.
    pub listen: String,
    /// The API key callers must present (payments' `APP__PROVIDER__API_KEY`).
    pub api_key: SecretString,
    /// Where events go: payments' `/internal/psp/callback` locally, psp-webhook's function URL
    /// in AWS.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Signs the events (payments' `APP__PROVIDER__WEBHOOK_SECRET`).
    pub webhook_secret: SecretString,
    /// How long a 3-D Secure authentication takes before it settles by itself.
    pub authentication_delay_ms: u64,
}

impl SimulatorSettings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load("psp-simulator", SIMULATOR_PORT, |builder| {
            builder
                .set_default("simulator.listen", format!("127.0.0.1:{SIMULATOR_PORT}"))?
                .set_default("simulator.api_key", LOCAL_API_KEY)?
                .set_default(
                    "simulator.webhook_url",
                    format!("http://127.0.0.1:{DEFAULT_PORT}/internal/psp/callback"),
                )?
                .set_default("simulator.webhook_secret", LOCAL_WEBHOOK_SECRET)?
                .set_default("simulator.authentication_delay_ms", 500_i64)
        })
    }
}
