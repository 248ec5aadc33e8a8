//! # payments
//!
//! One payment per order, driven by the saga (see [`flow`]): created on `order.placed`,
//! authorized on `inventory.reserved`, captured on `order.confirmed`, voided or cancelled on
//! `order.cancelled`, refunded by admins. Every money movement is a ledger entry, and the
//! ledger of a payment always reconciles, and [`reconcile`] compares it with the provider's. The
//! provider sits behind [`provider::PaymentProvider`]; its one adapter is [`stripe`] (Stripe's
//! REST API). Locally the API is the [`simulator`], which speaks the same subset, answers by
//! Stripe's test payment methods, and sends webhook events signed as [`signature`] describes,
//! applied by [`webhooks`].
//!
//! The payment's states and rules live in [`domain`], with no I/O; `flow` and `webhooks` carry
//! its decisions out.
//!
//! Data flow: `consumer` (RabbitMQ), `routes` (refunds) and `webhooks` (Stripe events) ->
//! `flow` -> provider -> `store` (PostgreSQL) -> outbox -> RabbitMQ.

pub mod callbacks;
pub mod config;
pub mod consumer;
pub mod domain;
pub mod flow;
pub mod openapi;
pub mod provider;
pub mod reconcile;
pub mod routes;
pub use psp_signature as signature;
pub mod simulator;
pub mod store;
pub mod stripe;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use psp_signature::Secrets;
use secrecy::ExposeSecret;
use service_kit::db;
use service_kit::health::Readiness;
use service_kit::http::{Server, ServiceApp};
use service_kit::messaging;
use service_kit::metrics::Metrics;
use service_kit::tasks::Supervisor;
use sqlx::PgPool;
use utoipa::OpenApi as _;

use crate::config::{SERVICE, Settings};
use crate::provider::Provider;
use crate::stripe::{StripeConfig, StripeProvider};

/// The payments migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// The payment provider.
    pub provider: Provider,
    /// The secrets of the provider's webhook signatures.
    pub webhook_secrets: Secrets,
}

/// The payments service: HTTP plus its consumer and outbox relay.
#[derive(Debug)]
pub struct Application {
    server: Server,
    supervisor: Supervisor,
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
        let provider: Provider = Arc::new(StripeProvider::new(StripeConfig {
            base_url: settings.provider.url.clone(),
            api_key: settings.provider.api_key.clone(),
            timeout: Duration::from_millis(settings.provider.timeout_ms),
            attempts: settings.provider.attempts,
            backoff: Duration::from_millis(settings.provider.retry_backoff_ms),
        })?);
        Self::build_with_provider(settings, aws, provider).await
    }

    /// As [`Application::build_with`], with the given payment provider adapter.
    pub async fn build_with_provider(
        settings: Settings,
        aws: Option<&aws_config::SdkConfig>,
        provider: Provider,
    ) -> anyhow::Result<Self> {
        let webhook_secrets = Secrets::parse(settings.provider.webhook_secret.expose_secret())
            .ok_or_else(|| anyhow::anyhow!("APP__PROVIDER__WEBHOOK_SECRET holds no secret"))?;
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
            consumer::PaymentEvents {
                provider: provider.clone(),
                max_attempts: settings.amqp.max_attempts(),
            },
            &messaging_metrics,
            &mut supervisor,
        )
        .await?;
        if let (Some(queue_url), Some(aws)) = (&settings.provider.callbacks_queue_url, aws) {
            let queue = callbacks::CallbackQueue {
                sqs: aws_sdk_sqs::Client::new(aws),
                queue_url: queue_url.clone(),
                pool: pool.clone(),
                provider: provider.clone(),
                secrets: webhook_secrets.clone(),
                wait: Duration::from_secs(5),
            };
            supervisor.spawn(
                "provider callback queue",
                queue.run(supervisor.stop_signal()),
            );
        }
        let state = AppState {
            pool: pool.clone(),
            provider,
            webhook_secrets,
        };
        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(routes::router(state).merge(service_kit::dead_letters::of(&settings.amqp)))
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

    /// Serves until `shutdown` completes, then stops the consumer and relay. Fails when one of
    /// them died (the service stopped itself).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.supervisor.serve(self.server, shutdown).await
    }
}
