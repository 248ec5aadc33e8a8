//! Inventory settings.

use serde::Deserialize;
use service_kit::config::{AmqpSettings, DatabaseSettings, HttpSettings, TelemetrySettings};

/// The service name.
pub const SERVICE: &str = "inventory";
/// Local port.
pub const DEFAULT_PORT: u16 = 8082;

/// Everything inventory reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// HTTP listener.
    pub http: HttpSettings,
    /// PostgreSQL (`inventory` database).
    pub database: DatabaseSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Broker.
    pub amqp: AmqpSettings,
    /// Reservation rules.
    pub reservations: ReservationSettings,
}

/// Reservation settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ReservationSettings {
    /// How long stock stays held for an order without an outcome.
    pub hold_seconds: u64,
    /// How often expired reservations are looked for.
    pub sweep_interval_ms: u64,
}

impl Settings {
    /// Defaults, overridden by `APP__...` environment variables.
    pub fn load() -> Result<Self, config::ConfigError> {
        service_kit::config::load(SERVICE, DEFAULT_PORT, |builder| {
            service_kit::config::amqp_defaults(builder, "inventory")?
                .set_default("reservations.hold_seconds", 900_i64)?
                .set_default("reservations.sweep_interval_ms", 1000_i64)
        })
    }
}
