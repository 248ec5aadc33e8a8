//! PostgreSQL: the pool every service uses, its migrations at start-up, and [`money`], which
//! reads an amount back from the two columns that store it.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseSettings;
use crate::money::Money;

/// Opens a lazily-connecting pool with the configured limits, a server-side statement timeout
/// and the service's own session settings (`session`) on every connection.
pub fn pool(
    settings: &DatabaseSettings,
    application: &str,
    session: &[(&str, &str)],
) -> anyhow::Result<PgPool> {
    let statement_timeout = format!("{}ms", settings.statement_timeout_ms);
    let options = PgConnectOptions::from_str(settings.url.expose_secret())
        .context("invalid database URL")?
        .application_name(application)
        .options([("statement_timeout", statement_timeout.as_str())])
        .options(session.iter().copied());
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(options))
}

/// Applies the service's pending migrations; concurrent replicas serialize on sqlx's advisory
/// lock, so a rolling deploy migrates once.
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> anyhow::Result<()> {
    migrator
        .run(pool)
        .await
        .context("running database migrations")
}

/// A readiness probe: one trivial query.
pub async fn ping(pool: &PgPool) -> Result<(), String> {
    sqlx::query("select 1")
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Money from the two columns that store it (`bigint` minor units, `text` ISO 4217 code). A
/// row holding no valid amount is reported as a decoding error (a logged 500, or a retried
/// delivery), never a panic.
pub fn money(amount: i64, currency: &str) -> Result<Money, sqlx::Error> {
    Money::parse(amount, currency).map_err(|err| {
        sqlx::Error::Decode(
            format!("stored amount {amount} {currency:?} is not money: {err}").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_amounts_are_read_back_or_refused() {
        assert_eq!(
            money(1999, "EUR").ok(),
            Money::parse(1999, "EUR").ok(),
            "a valid pair"
        );
        for (amount, currency) in [(-1, "EUR"), (1, "eur"), (1, ""), (i64::MAX, "EUR")] {
            assert!(
                matches!(money(amount, currency), Err(sqlx::Error::Decode(_))),
                "{amount} {currency:?}"
            );
        }
    }
}
