//! # payments
//!
//! One payment per order, driven by the saga (see [`flow`]): created on `order.placed`,
//! authorized on `inventory.reserved`, captured on `order.confirmed`, voided or cancelled on
//! `order.cancelled`, refunded by admins. Every money movement is a ledger entry, and the
//! ledger of a payment always reconciles. The provider sits behind [`provider::PaymentProvider`];
//! locally it is the [`simulator`], which answers by test token and confirms asynchronous
//! payments with callbacks signed as [`signature`] describes.
//!
//! Data flow: `flow` (RabbitMQ consumer, callbacks, refunds) -> provider -> `store`
//! (PostgreSQL) -> outbox -> RabbitMQ.

pub mod callbacks;
pub mod config;
pub mod flow;
pub mod openapi;
pub mod provider;
pub mod routes;
pub use psp_signature as signature;
pub mod simulator;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
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
use crate::provider::{HttpProvider, Provider};

/// The payments migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// The payment provider.
    pub provider: Provider,
    /// Secret of the provider's callback signatures.
    pub callback_secret: SecretString,
}

/// The payments service: HTTP plus its consumer and outbox relay.
#[derive(Debug)]
pub struct Application {
    server: Server,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connects, migrates, starts the background tasks and binds the listener; the AWS
    /// configuration (for the callback queue, when set) comes from the environment.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let aws = match settings.provider.callbacks_queue_url {
            Some(_) => Some(
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await,
            ),
            None => None,
        };
        Self::build_with(settings, aws.as_ref()).await
    }

    /// As [`Application::build`], with an explicit AWS configuration.
    pub async fn build_with(
        settings: Settings,
        aws: Option<&aws_config::SdkConfig>,
    ) -> anyhow::Result<Self> {
        let metrics = Metrics::new(SERVICE)?;
        let messaging_metrics = messaging::MessagingMetrics::new(&metrics)?;
        let pool = db::pool(&settings.database, SERVICE, &[])?;
        db::migrate(&pool, &MIGRATOR).await?;
        messaging::ensure_schema(&pool).await?;
        let redis = RedisClient::new(&settings.redis)?;
        let provider: Provider = Arc::new(HttpProvider::new(
            &settings.provider.url,
            Duration::from_millis(settings.provider.timeout_ms),
            Some(settings.provider.callback_url.clone()),
        )?);

        let (stop, stop_rx) = watch::channel(false);
        let retry_delays: Vec<Duration> = settings
            .amqp
            .retry_delays_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
        let max_attempts = u32::try_from(retry_delays.len()).unwrap_or(0) + 1;
        let topology = Topology {
            exchange: settings.amqp.exchange.clone(),
            queue: settings.amqp.queue.clone(),
            bindings: flow::CONSUMES.iter().map(|k| (*k).to_owned()).collect(),
            retry_delays,
        };
        let (connection, channel) = messaging::connect(&settings.amqp.url).await?;
        topology.declare(&channel).await?;
        drop((channel, connection));
        let consumer = Consumer {
            name: SERVICE.into(),
            topology,
            prefetch: 16,
            metrics: Some(messaging_metrics.clone()),
        };
        let handler = flow::PaymentEvents {
            provider: provider.clone(),
            max_attempts,
        };
        let relay = Relay::new(pool.clone(), &settings.amqp.url, &settings.amqp.exchange)
            .with_metrics(messaging_metrics);
        let mut tasks = Vec::new();
        if let (Some(queue_url), Some(aws)) = (&settings.provider.callbacks_queue_url, aws) {
            let queue = callbacks::CallbackQueue {
                sqs: aws_sdk_sqs::Client::new(aws),
                queue_url: queue_url.clone(),
                pool: pool.clone(),
                provider: provider.clone(),
                secret: settings.provider.callback_secret.clone(),
                wait: Duration::from_secs(5),
            };
            tasks.push(tokio::spawn(queue.run(stop_rx.clone())));
        }
        tasks.extend([
            tokio::spawn(consumer.run(
                pool.clone(),
                settings.amqp.url.clone(),
                handler,
                stop_rx.clone(),
            )),
            tokio::spawn(relay.run(stop_rx)),
        ]);
        let state = AppState {
            pool: pool.clone(),
            provider,
            callback_secret: settings.provider.callback_secret.clone(),
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

    /// Serves until `shutdown` completes, then stops the consumer and relay.
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
