//! # orders
//!
//! Carts, checkout and the order saga. A cart lives in PostgreSQL with a write-through copy in
//! Redis. `POST /checkout` (with an `Idempotency-Key`) turns it into a PENDING order and
//! `order.placed` in one transaction; inventory and payment events then drive the order to
//! CONFIRMED or CANCELLED (see [`saga`]), and a sweeper cancels orders stuck in flight.
//!
//! Data flow: `routes` (HTTP) -> `cart`/`checkout`/`store` (PostgreSQL, Redis) and
//! `upstream` (catalog prices, users contact details); `saga` (RabbitMQ consumer) -> PostgreSQL
//! -> outbox -> RabbitMQ.

pub mod cart;
pub mod checkout;
pub mod config;
pub mod openapi;
pub mod routes;
pub mod saga;
pub mod store;
pub mod upstream;

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

use crate::cart::CartStore;
use crate::config::{SERVICE, Settings};
use crate::upstream::Upstream;

/// The orders migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Carts.
    pub carts: CartStore,
    /// Catalog and users.
    pub upstream: Upstream,
    /// Saga outcome counter.
    pub saga_metrics: saga::SagaMetrics,
}

/// The orders service: HTTP plus its consumer, outbox relay and sweeper.
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
        let saga_metrics = saga::SagaMetrics::new(&metrics)?;
        let pool = db::pool(&settings.database, SERVICE, &[])?;
        db::migrate(&pool, &MIGRATOR).await?;
        messaging::ensure_schema(&pool).await?;
        let redis = RedisClient::new(&settings.redis)?;

        let (stop, stop_rx) = watch::channel(false);
        let topology = Topology {
            exchange: settings.amqp.exchange.clone(),
            queue: settings.amqp.queue.clone(),
            bindings: saga::CONSUMES.iter().map(|k| (*k).to_owned()).collect(),
            retry_delays: settings
                .amqp
                .retry_delays_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
        };
        // Declared before serving, so no answer to an order placed from now on is lost.
        let (connection, channel) = messaging::connect(&settings.amqp.url).await?;
        topology.declare(&channel).await?;
        drop((channel, connection));
        let consumer = Consumer {
            name: SERVICE.into(),
            topology,
            prefetch: 32,
            metrics: Some(messaging_metrics.clone()),
        };
        let relay = Relay::new(pool.clone(), &settings.amqp.url, &settings.amqp.exchange)
            .with_metrics(messaging_metrics);
        let sweeper = {
            let pool = pool.clone();
            let saga_metrics = saga_metrics.clone();
            let timeout = Duration::from_secs(settings.saga.timeout_seconds);
            let interval = Duration::from_millis(settings.saga.sweep_interval_ms);
            service_kit::shutdown::every("order sweep", interval, stop_rx.clone(), move || {
                let pool = pool.clone();
                let saga_metrics = saga_metrics.clone();
                async move { saga::sweep(&pool, &saga_metrics, timeout).await }
            })
        };
        let tasks = vec![
            tokio::spawn(consumer.run(
                pool.clone(),
                settings.amqp.url.clone(),
                saga::SagaEvents {
                    metrics: saga_metrics.clone(),
                },
                stop_rx.clone(),
            )),
            tokio::spawn(relay.run(stop_rx)),
            tokio::spawn(sweeper),
        ];

        let state = AppState {
            pool: pool.clone(),
            carts: CartStore::new(
                pool.clone(),
                redis.clone(),
                Duration::from_secs(settings.cart.cache_ttl_seconds),
                settings.cart.max_lines,
            ),
            upstream: Upstream::new(&settings.upstreams)?,
            saga_metrics,
        };
        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(
                routes::router(state).merge(service_kit::dead_letters::routes(
                    &settings.amqp.url,
                    vec![settings.amqp.queue.clone()],
                )),
            )
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
