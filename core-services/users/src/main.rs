//! The users service binary.
//!
//! `users` serves; `users promote-admin <email>` grants the `admin` role to a registered
//! account (how the first administrator is made: there is no default admin or password).

use users::Application;
use users::config::{SERVICE, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, email] = args.as_slice()
        && command == "promote-admin"
    {
        return promote_admin(&settings, email).await;
    }
    if !args.is_empty() {
        anyhow::bail!("usage: users [promote-admin <email>]");
    }
    let _telemetry = service_kit::telemetry::init(SERVICE, &settings.telemetry)?;
    let app = Application::build(settings).await?;
    app.run_until_stopped(service_kit::shutdown::signal())
        .await?;
    Ok(())
}

async fn promote_admin(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let pool = service_kit::db::pool(&settings.database, SERVICE, &[])?;
    service_kit::db::migrate(&pool, &users::MIGRATOR).await?;
    let email =
        users::domain::account::Email::parse(email).map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
    if users::store::Store::new(pool)
        .promote_admin(email.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        println!("{} is an admin (new tokens carry the role)", email.as_str());
        Ok(())
    } else {
        anyhow::bail!(
            "no account with email {}; register it first",
            email.as_str()
        )
    }
}
