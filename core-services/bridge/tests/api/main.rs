//! The bridge against the real RabbitMQ and moto (SNS -> SQS), with its own exchange, queue,
//! topic and subscriber queue per test.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use bridge::Application;
use bridge::config::Settings;
use events::Money;
use events::payloads::{OrderConfirmed, StockLow};
use events::{Envelope, Event};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::{Value, json};
use service_kit::messaging;
use service_kit::testing::{amqp_url, aws_endpoint};
use tokio::sync::oneshot;

async fn aws() -> aws_config::SdkConfig {
    aws_at(&aws_endpoint()).await
}

async fn aws_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await
}

fn topic_arn(name: &str) -> String {
    format!("arn:aws:sns:us-east-1:123456789012:{name}")
}

struct Fixture {
    id: String,
    exchange: String,
    queue: String,
    topic: String,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    channel: lapin::Channel,
    _connection: lapin::Connection,
    base: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with_sns_at(None).await
    }

    /// The bridge reaches AWS at `sns_endpoint` (a proxy the test can take down) when given;
    /// the test's own clients always reach moto directly.
    async fn start_with_sns_at(sns_endpoint: Option<String>) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let config = aws().await;
        let bridge_config = match sns_endpoint {
            Some(endpoint) => aws_at(&endpoint).await,
            None => config.clone(),
        };
        let exchange = format!("test.events.{id}");
        let queue = format!("test.bridge.{id}");
        let topic = format!("test-events-{id}");
        let mut settings = Settings::load().unwrap();
        settings.http.port = 0;
        settings.amqp.url = amqp_url().into();
        settings.amqp.exchange.clone_from(&exchange);
        settings.amqp.queue.clone_from(&queue);
        settings.sns.topic_arn = topic_arn(&topic);
        settings.sns.max_backoff_ms = 300;
        let app = Application::build_with(settings, &bridge_config)
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        let (connection, channel) = messaging::connect(&amqp_url()).await.unwrap();
        Self {
            id,
            exchange,
            queue,
            topic,
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            channel,
            _connection: connection,
            base,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Creates the topic and an SQS queue subscribed with raw delivery and a filter policy.
    async fn subscribe(&self, event_types: &[&str]) -> String {
        let topic = self
            .sns
            .create_topic()
            .name(&self.topic)
            .send()
            .await
            .unwrap();
        let queue = self
            .sqs
            .create_queue()
            .queue_name(format!("test-sub-{}", self.id))
            .send()
            .await
            .unwrap();
        let url = queue.queue_url().unwrap().to_owned();
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        self.sns
            .subscribe()
            .topic_arn(topic.topic_arn().unwrap())
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", "true")
            .attributes(
                "FilterPolicy",
                json!({"event_type": event_types}).to_string(),
            )
            .send()
            .await
            .unwrap();
        url
    }

    async fn publish<T: Event + serde::Serialize>(&self, aggregate: &str, data: T) -> String {
        let envelope = Envelope::new("/test", aggregate, None, data);
        let mut headers = FieldTable::default();
        for (k, v) in envelope.amqp_headers() {
            headers.insert(k.as_str().into(), AMQPValue::LongString(v.as_str().into()));
        }
        headers.insert(
            messaging::AGGREGATE_HEADER.into(),
            AMQPValue::LongString(aggregate.into()),
        );
        messaging::publish_confirmed(
            &self.channel,
            &self.exchange,
            T::TYPE,
            &envelope.to_json().unwrap(),
            headers,
            &envelope.id,
        )
        .await
        .unwrap();
        envelope.id
    }

    /// Receives until `count` messages arrived (or fails after a while).
    async fn receive(&self, url: &str, count: usize) -> Vec<(Value, BTreeMap<String, String>)> {
        let mut got = Vec::new();
        for _ in 0..100 {
            let output = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for message in output.messages() {
                let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
                let attributes = message
                    .message_attributes()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                (k.clone(), v.string_value().unwrap_or_default().to_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                got.push((body, attributes));
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            if got.len() >= count {
                break;
            }
        }
        got
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        for name in [self.queue.clone(), format!("{}.dlq", self.queue)] {
            let _ = self
                .channel
                .queue_delete(name.as_str().into(), Default::default())
                .await;
        }
        let _ = self
            .channel
            .exchange_delete(self.exchange.as_str().into(), Default::default())
            .await;
    }
}

fn confirmed(order: &str) -> OrderConfirmed {
    OrderConfirmed {
        order_id: order.into(),
        customer_id: "c-1".into(),
        total: Money::parse(100, "EUR").unwrap(),
        contact: events::payloads::Contact {
            email: "a@example.com".into(),
            phone: None,
            name: "A".into(),
            locale: "en".into(),
            notify_email: true,
            notify_sms: false,
        },
    }
}

#[tokio::test]
async fn events_reach_sqs_through_sns_with_their_attributes_and_filters_apply() {
    let fixture = Fixture::start().await;
    let url = fixture.subscribe(&["order.confirmed"]).await;
    let mut sent = Vec::new();
    for i in 0..12 {
        let order = format!("o-{}", i % 3);
        sent.push(fixture.publish(&order, confirmed(&order)).await);
        // Filtered out by the subscription's policy.
        fixture
            .publish(
                &format!("SKU-{i}"),
                StockLow {
                    sku: format!("SKU-{i}"),
                    available: 1,
                    threshold: 5,
                },
            )
            .await;
    }
    let got = fixture.receive(&url, 12).await;
    assert_eq!(got.len(), 12, "{got:?}");
    let mut ids: Vec<String> = got
        .iter()
        .map(|(body, _)| body["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    sent.sort();
    assert_eq!(ids, sent);
    let (body, attributes) = &got[0];
    assert_eq!(body["type"], "order.confirmed");
    assert_eq!(attributes["event_type"], "order.confirmed");
    assert_eq!(attributes["source"], "/test");
    assert_eq!(attributes["event_id"], body["id"].as_str().unwrap());
    assert_eq!(
        attributes["aggregate_id"],
        body["data"]["order_id"].as_str().unwrap()
    );
    assert!(attributes.len() <= bridge::attributes::SNS_MAX_ATTRIBUTES);
    // Everything was acked once SNS took it.
    let ready = reqwest::get(format!("{}/readyz", fixture.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = fixture.metrics().await;
    assert!(metrics.contains("bridge_events_forwarded_total{service=\"bridge\"} 24"));
    // For the observability cross-check: the bridge's metric names after real traffic.
    service_kit::testing::write_exported_metrics(
        "exported-metrics-bridge.txt",
        &service_kit::testing::metric_names(&metrics),
    )
    .unwrap();
    fixture.stop().await;
}

#[tokio::test]
async fn while_sns_fails_events_wait_in_rabbitmq_and_none_is_lost() {
    // SNS is unreachable from the start: the topic and its subscriber exist (so nothing the
    // bridge publishes once SNS is back can miss the subscription), but every publish fails
    // and readiness says so.
    let moto = tokio::net::lookup_host(aws_endpoint().trim_start_matches("http://").to_owned())
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = service_kit::testing::TcpProxy::start(moto).await;
    proxy.down();
    let fixture = Fixture::start_with_sns_at(Some(format!("http://{}", proxy.addr()))).await;
    let url = fixture.subscribe(&["order.confirmed"]).await;
    let mut sent = Vec::new();
    for i in 0..7 {
        let order = format!("o-{i}");
        sent.push(fixture.publish(&order, confirmed(&order)).await);
    }
    // The SDK retries a refused connection itself before the bridge sees the failure.
    let mut failing = false;
    for _ in 0..300 {
        let metrics = fixture.metrics().await;
        if metrics.contains("bridge_publish_failures_total{service=\"bridge\"}")
            && !metrics.contains("bridge_publish_failures_total{service=\"bridge\"} 0")
        {
            failing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failing, "the bridge never counted a failed publish");
    let ready = reqwest::get(format!("{}/readyz", fixture.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    // Malformed input is parked, not retried forever.
    messaging::publish_confirmed(
        &fixture.channel,
        &fixture.exchange,
        "order.confirmed",
        b"not json",
        FieldTable::default(),
        "bad-1",
    )
    .await
    .unwrap();
    // Nothing got through while SNS was down.
    let early = fixture
        .sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(early.messages().is_empty());

    proxy.up();
    let got = fixture.receive(&url, 7).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|(body, _)| body["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    sent.sort();
    assert_eq!(ids, sent);
    // The malformed message comes after the seven, so it may be parked a moment later.
    let mut parked = Vec::new();
    for _ in 0..100 {
        parked = messaging::list_dead_letters(&fixture.channel, &fixture.queue)
            .await
            .unwrap();
        if !parked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(parked.len(), 1);
    assert!(parked[0].error.clone().unwrap().starts_with("malformed"));
    fixture.stop().await;
}
