//! The payment-provider simulator as its own process (`cargo xtask up` starts it on 8090; the
//! dev cluster runs it as a Deployment). It speaks Stripe's API subset; settings are
//! `APP__SIMULATOR__*` (see [`payments::config::SimulatorSettings`]).

use std::time::Duration;

use payments::config::SimulatorSettings;
use payments::simulator::{SimulatorConfig, router};
use psp_signature::Secrets;
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = SimulatorSettings::load()?;
    let _telemetry = service_kit::telemetry::init("psp-simulator", &settings.telemetry)?;
    let sim = settings.simulator;
    let webhook_secrets = Secrets::parse(sim.webhook_secret.expose_secret())
        .ok_or_else(|| anyhow::anyhow!("APP__SIMULATOR__WEBHOOK_SECRET holds no secret"))?;
    let listener = tokio::net::TcpListener::bind(&sim.listen).await?;
    tracing::info!(listen = %sim.listen, "payment provider simulator listening");
    let app = router(SimulatorConfig {
        api_key: sim.api_key,
        webhook_url: sim.webhook_url.filter(|u| !u.is_empty()),
        webhook_secrets,
        authentication_delay: Duration::from_millis(sim.authentication_delay_ms),
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(service_kit::shutdown::signal())
        .await?;
    Ok(())
}
