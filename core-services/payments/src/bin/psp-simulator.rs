//! The payment-provider simulator as its own process (`cargo xtask up` starts it on 8090).
//! Reads `APP__PROVIDER__URL` for its port and `APP__PROVIDER__CALLBACK_SECRET` for signing,
//! the same settings payments uses to call it.

use std::time::Duration;

use payments::config::{SERVICE, Settings};
use payments::simulator::{SimulatorConfig, router};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = service_kit::telemetry::init(SERVICE, &settings.telemetry)?;
    let url = reqwest::Url::parse(&settings.provider.url)?;
    let port = url
        .port_or_known_default()
        .unwrap_or(payments::config::SIMULATOR_PORT);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(port, "payment provider simulator listening");
    let app = router(SimulatorConfig {
        callback_secret: settings
            .provider
            .callback_secret
            .expose_secret()
            .as_bytes()
            .to_vec(),
        callback_delay: Duration::from_millis(500),
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(service_kit::shutdown::signal())
        .await?;
    Ok(())
}
