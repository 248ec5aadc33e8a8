//! The bridge service binary.

use bridge::Application;
use bridge::config::{SERVICE, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = service_kit::telemetry::init(SERVICE, &settings.telemetry)?;
    let app = Application::build(settings).await?;
    app.run_until_stopped(service_kit::shutdown::signal())
        .await?;
    Ok(())
}
