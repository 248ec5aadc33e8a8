//! # orders
//!
//! Carts, checkout and the order saga. A cart lives in PostgreSQL with a write-through copy in
//! Redis. `POST /checkout` (with an `Idempotency-Key`) turns it into a PENDING order and
//! `order.placed` in one transaction; inventory and payment events then drive the order to
//! CONFIRMED or CANCELLED (see [`saga`]), and a sweeper cancels orders stuck in flight.
//!
//! The order's states and rules live in [`domain`], with no I/O.
//!
//! Data flow: `routes` (HTTP) -> `cart`/`checkout`/`store` (PostgreSQL, Redis) and
//! `upstream` (catalog prices, users contact details); `consumer` (RabbitMQ) -> `saga` -> PostgreSQL
//! -> outbox -> RabbitMQ.

pub mod cart;
pub mod checkout;
pub mod config;
pub mod consumer;
pub mod domain;
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
use service_kit::messaging;
use service_kit::metrics::Metrics;
use service_kit::redis::RedisClient;
use service_kit::tasks::Supervisor;
use sqlx::PgPool;
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
    supervisor: Supervisor,
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

        let mut supervisor = Supervisor::new();
        messaging::start(
            &settings.amqp,
            SERVICE,
            consumer::CONSUMES,
            &pool,
            consumer::SagaEvents {
                metrics: saga_metrics.clone(),
            },
            &messaging_metrics,
            &mut supervisor,
        )
        .await?;
        {
            let pool = pool.clone();
            let saga_metrics = saga_metrics.clone();
            let timeout = Duration::from_secs(settings.saga.timeout_seconds);
            supervisor.every(
                "order sweep",
                Duration::from_millis(settings.saga.sweep_interval_ms),
                move || {
                    let pool = pool.clone();
                    let saga_metrics = saga_metrics.clone();
                    async move { saga::sweep(&pool, &saga_metrics, timeout).await }
                },
            );
        }

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
            .routes(routes::router(state).merge(service_kit::dead_letters::of(&settings.amqp)))
            .readiness(Readiness::postgres_and_redis(pool, redis).supervised(&supervisor))
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
