//! # inventory
//!
//! Stock per SKU and reservations for orders. On `order.placed` every line is reserved or none
//! is (`inventory.reserved` / `inventory.rejected`); `order.confirmed` ships the units,
//! `order.cancelled` returns them (`inventory.released`); reservations without an outcome expire
//! and are released (reason `expired`). Available stock never goes below zero, whatever the
//! concurrency. Events leave through the outbox; incoming events are handled idempotently.
//!
//! Data flow: `events` (RabbitMQ consumer) and `routes` (HTTP) -> `store` (PostgreSQL).

pub mod config;
pub mod events;
pub mod openapi;
pub mod routes;
pub mod store;

use std::net::SocketAddr;
use std::time::Duration;

use service_kit::db;
use service_kit::health::Readiness;
use service_kit::http::{Server, ServiceApp};
use service_kit::messaging::{self, Consumer, Relay, Topology};
use service_kit::metrics::Metrics;
use service_kit::redis::RedisClient;
use sqlx::PgPool;
use tokio::sync::watch;
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
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connects, migrates, starts the background tasks and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new(SERVICE)?;
        let messaging_metrics = messaging::MessagingMetrics::new(&metrics)?;
        let pool = db::pool(&settings.database, SERVICE, &[])?;
        db::migrate(&pool, &MIGRATOR).await?;
        messaging::ensure_schema(&pool).await?;
        let redis = RedisClient::new(&settings.redis)?;

        let (stop, stop_rx) = watch::channel(false);
        let topology = Topology {
            exchange: settings.amqp.exchange.clone(),
            queue: settings.amqp.queue.clone(),
            bindings: events::CONSUMES.iter().map(|k| (*k).to_owned()).collect(),
            retry_delays: settings
                .amqp
                .retry_delays_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
        };
        // Declare the queues before serving, so events published from now on are kept even
        // before the consumer task is up (the consumer declares again on every reconnect).
        let (connection, channel) = messaging::connect(&settings.amqp.url).await?;
        topology.declare(&channel).await?;
        drop((channel, connection));
        let consumer = Consumer {
            name: SERVICE.into(),
            topology,
            prefetch: 16,
            metrics: Some(messaging_metrics.clone()),
        };
        let handler = events::OrderEvents {
            hold: Duration::from_secs(settings.reservations.hold_seconds),
        };
        let relay = Relay::new(pool.clone(), &settings.amqp.url, &settings.amqp.exchange)
            .with_metrics(messaging_metrics);
        let sweeper = {
            let pool = pool.clone();
            let interval = Duration::from_millis(settings.reservations.sweep_interval_ms);
            service_kit::shutdown::every("expiry sweep", interval, stop_rx.clone(), move || {
                let pool = pool.clone();
                async move { events::sweep_expired(&pool).await }
            })
        };
        let tasks = vec![
            tokio::spawn(consumer.run(
                pool.clone(),
                settings.amqp.url.clone(),
                handler,
                stop_rx.clone(),
            )),
            tokio::spawn(relay.run(stop_rx)),
            tokio::spawn(sweeper),
        ];

        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(routes::router(AppState { pool: pool.clone() }).merge(
                service_kit::dead_letters::routes(
                    &settings.amqp.url,
                    vec![settings.amqp.queue.clone()],
                ),
            ))
            .readiness(Readiness::postgres_and_redis(pool, redis))
            .openapi(&openapi::ApiDoc::openapi())
            .bind()
            .await?;
        Ok(Self {
            server,
            stop,
            tasks,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown` completes, then stops the consumer, relay and sweeper.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = self.server.run_until_stopped(shutdown).await;
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        result
    }
}
