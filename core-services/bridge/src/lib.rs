//! # bridge
//!
//! Moves every event from the RabbitMQ exchange to the SNS topic that feeds the Lambda
//! functions (through SQS queues with filter policies). Its own quorum queue is bound to every
//! routing key; see [`consumer`] for batching, ordering and acknowledgement. Health reports
//! whether SNS answers and the broker connection is up.

pub mod attributes;
pub mod config;
pub mod consumer;
pub mod metrics;

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::ExposeSecret as _;
use service_kit::health::Readiness;
use service_kit::http::{Server, ServiceApp};
use service_kit::messaging::Topology;
use service_kit::metrics::Metrics;
use service_kit::tasks::Supervisor;
use tokio::sync::watch;

use crate::config::{SERVICE, Settings};
use crate::consumer::Forwarder;
use crate::metrics::BridgeMetrics;

/// The bridge: the forwarding loop plus health and metrics over HTTP.
#[derive(Debug)]
pub struct Application {
    server: Server,
    supervisor: Supervisor,
}

/// The AWS configuration from the environment (standard variables and chain).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

impl Application {
    /// Builds with the AWS configuration from the environment.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, &aws_config().await).await
    }

    /// Builds with the given AWS configuration.
    pub async fn build_with(
        settings: Settings,
        aws: &aws_config::SdkConfig,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=10).contains(&settings.sns.batch_size),
            "sns.batch_size must be 1 to 10 (SNS PublishBatch)"
        );
        let metrics = Metrics::new(SERVICE)?;
        let bridge_metrics = BridgeMetrics::new(&metrics)?;
        let sns = aws_sdk_sns::Client::new(aws);
        let mut supervisor = Supervisor::new();
        let (connected, connected_rx) = watch::channel(false);
        let forwarder = Forwarder {
            sns: sns.clone(),
            topic_arn: settings.sns.topic_arn.clone(),
            amqp_url: settings.amqp.url.clone(),
            topology: Topology {
                exchange: settings.amqp.exchange.clone(),
                queue: settings.amqp.queue.clone(),
                bindings: vec!["#".into()],
                retry_delays: Vec::new(),
            },
            batch_size: settings.sns.batch_size,
            max_backoff: Duration::from_millis(settings.sns.max_backoff_ms),
            metrics: bridge_metrics,
            connected,
        };
        // Declare the queue before reporting ready, so no event published from now on is lost.
        let (connection, channel) =
            service_kit::messaging::connect(settings.amqp.url.expose_secret()).await?;
        forwarder.topology.declare(&channel).await?;
        drop((channel, connection));
        supervisor.spawn("forwarder", forwarder.run(supervisor.stop_signal()));

        let topic = settings.sns.topic_arn.clone();
        let readiness = Readiness::new(Duration::from_secs(1))
            .with_check("sns", true, move || {
                let sns = sns.clone();
                let topic = topic.clone();
                async move {
                    sns.get_topic_attributes()
                        .topic_arn(topic)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(e).to_string())
                }
            })
            .with_check("rabbitmq", true, move || {
                let up = *connected_rx.borrow();
                async move {
                    if up {
                        Ok(())
                    } else {
                        Err("not connected to the broker".to_owned())
                    }
                }
            });
        let server = ServiceApp::new(metrics, settings.http.clone())
            .routes(service_kit::dead_letters::of(&settings.amqp))
            .openapi(&service_kit::dead_letters::document("bridge"))
            .readiness(readiness.supervised(&supervisor))
            .bind()
            .await?;
        Ok(Self { server, supervisor })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown` completes, then stops forwarding. Fails when the forwarder
    /// died (the bridge stopped itself).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.supervisor.serve(self.server, shutdown).await
    }
}
