//! # inventory
//!
//! Stock per SKU and reservations for orders. On `order.placed` every line is reserved or none
//! is (`inventory.reserved` / `inventory.rejected`); `order.confirmed` ships the units,
//! `order.cancelled` returns them (`inventory.released`); reservations without an outcome expire
//! and are released (reason `expired`). Available stock never goes below zero, whatever the
//! concurrency. Events leave through the outbox; incoming events are handled idempotently.
//!
//! A reservation's states and transitions and the stock arithmetic live in [`domain`], with no
//! I/O; `store` carries its decisions out.
//!
//! Data flow: `consumer` (RabbitMQ) and `routes` (HTTP) -> `store` (PostgreSQL).

pub mod config;
pub mod consumer;
pub mod domain;
pub mod openapi;
pub mod routes;
pub mod store;

use std::net::SocketAddr;
use std::time::Duration;

use service_kit::db;
use service_kit::health::Readiness;
use service_kit::http::{Server, ServiceApp};
use service_kit::messaging;
use service_kit::metrics::Metrics;
use service_kit::tasks::Supervisor;
use sqlx::PgPool;
use utoipa::OpenApi as _;

use crate::config::{SERVICE, Settings};

/// The inventory migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
}

/// The inventory service: HTTP plus its consumer, outbox relay and expiry sweeper.
#[derive(Debug)]
pub struct Application {
    server: Server,
    supervisor: Supervisor,
}

impl Application {
    /// Connects, migrates, starts the background tasks and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new(SERVICE)?;
        let messaging_metrics = messaging::MessagingMetrics::new(&metrics)?;
        let pool = db::pool(&settings.database, SERVICE, &[])?;
        db::migrate(&pool, &MIGRATOR).await?;
        messaging::ensure_schema(&pool).await?;

        let mut supervisor = Supervisor::new();
        messaging::start(
            &settings.amqp,
            SERVICE,
            consumer::CONSUMES,
            &pool,
            consumer::OrderEvents {
                hold: Duration::from_secs(settings.reservations.hold_seconds),
            },
            &messaging_metrics,
            &mut supervisor,
        )
        .await?;
        let sweep_pool = pool.clone();
        supervisor.every(
            "expiry sweep",
            Duration::from_millis(settings.reservations.sweep_interval_ms),
            move || {
                let pool = sweep_pool.clone();
                async move { consumer::sweep_expired(&pool).await }
            },
        );

        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(
                routes::router(AppState { pool: pool.clone() })
                    .merge(service_kit::dead_letters::of(&settings.amqp)),
            )
            .readiness(Readiness::postgres(pool).supervised(&supervisor))
            .openapi(
                &openapi::ApiDoc::openapi()
                    .merge_from(service_kit::dead_letters::ApiDoc::openapi()),
            )
            .bind()
            .await?;
        Ok(Self { server, supervisor })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown` completes, then stops the consumer, relay and sweeper. Fails
    /// when one of them died (the service stopped itself).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.supervisor.serve(self.server, shutdown).await
    }
}
