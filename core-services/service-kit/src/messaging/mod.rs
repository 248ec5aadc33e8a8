//! Reliable messaging over RabbitMQ: topology, transactional outbox with a confirming relay,
//! and idempotent consumers with retries and a dead-letter queue.
//!
//! - One durable topic exchange (`retail.events`); routing key = event type.
//! - Each consumer owns a quorum queue bound to the keys it needs, retry queues with fixed
//!   delays (a message waits there, then dead-letters back to the main queue), and `<queue>.dlq`
//!   for messages that failed every attempt or cannot be read, with the reason in a header.
//! - Producers write events to the `outbox` table in the same transaction as their state change
//!   ([`enqueue`]); the [`Relay`] publishes them in insertion order with publisher confirms and
//!   `mandatory`, and marks a row sent only after the broker confirmed it (a returned,
//!   unroutable message counts as a failure). Only one relay per database publishes at a time
//!   (advisory lock), which keeps per-aggregate order.
//! - Consumers record each event id in `processed_events` in the same transaction as their
//!   effect ([`Consumer`]); a redelivered event is acked without effect.
//!
//! One module per concern: [`topology`] (exchange and queues), [`outbox`] ([`enqueue`] and the
//! [`Relay`]), [`consumer`] (the idempotent [`Consumer`] and its [`Handler`]s),
//! [`dead_letters`] (list, replay, discard) and [`metrics`].

pub mod consumer;
pub mod dead_letters;
pub mod metrics;
pub mod outbox;
pub mod topology;

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, PublisherConfirm};
use secrecy::ExposeSecret as _;

pub use consumer::{
    Consumer, Handler, HandlerError, Received, StagedHandler, attempt_of, database_unreachable,
};
pub use dead_letters::{DeadLetter, discard_dead_letters, list_dead_letters, replay_dead_letters};
pub use metrics::MessagingMetrics;
pub use outbox::{Cause, NOTIFY_CHANNEL, Relay, SCHEMA, enqueue, enqueue_caused, ensure_schema};
pub use topology::{Topology, declare_exchange};

/// The platform's event exchange.
pub const EXCHANGE: &str = "retail.events";
/// Header counting delivery attempts of a retried message.
pub const ATTEMPT_HEADER: &str = "x-attempt";
/// Header with the last failure of a retried or dead-lettered message.
pub const ERROR_HEADER: &str = "x-error";
/// Header with the id of the aggregate an event belongs to (the outbox's `aggregate_id`), so
/// forwarders can keep each aggregate's events in order without parsing bodies.
pub const AGGREGATE_HEADER: &str = "x-aggregate-id";
/// Upper bound on one broker call.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// The broker refused or the connection broke.
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    /// No answer within the time limit.
    #[error("broker did not answer in time")]
    Timeout,
    /// The broker URL does not parse.
    #[error("invalid broker URL: {0}")]
    InvalidUrl(String),
    /// The broker nacked a publish or returned it as unroutable.
    #[error("message not accepted: {0}")]
    Rejected(String),
    /// Database failure.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

pub(crate) async fn timed<T>(
    future: impl Future<Output = lapin::Result<T>>,
) -> Result<T, MessagingError> {
    tokio::time::timeout(BROKER_TIMEOUT, future)
        .await
        .map_err(|_| MessagingError::Timeout)?
        .map_err(Into::into)
}

/// The largest AMQP frame this side proposes, unless the URL sets `frame_max` itself.
///
/// lapin keeps a receive and a send buffer of 32 frames per connection and zero-fills them, so
/// with RabbitMQ's default of 128 KiB each connection held 8 MiB resident, and every service
/// with a consumer and a relay 16 MiB of it, idle (measured: inventory 33.2 MB resident, 16.7 MB
/// at 16 KiB). Our events are a few KiB; a larger message is sent as several frames.
pub const FRAME_MAX: u32 = 16 * 1024;

/// Opens a connection and a channel with publisher confirms.
pub async fn connect(uri: &str) -> Result<(Connection, Channel), MessagingError> {
    let mut parsed: lapin::uri::AMQPUri = uri.parse().map_err(MessagingError::InvalidUrl)?;
    parsed.query.frame_max.get_or_insert(FRAME_MAX);
    let connection = timed(Connection::connect_uri(
        parsed,
        ConnectionProperties::default(),
    ))
    .await?;
    let channel = timed(connection.create_channel()).await?;
    timed(channel.confirm_select(ConfirmSelectOptions::default())).await?;
    Ok((connection, channel))
}

/// Publishes and waits for the broker's confirm; a nack or a return is an error.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    headers: FieldTable,
    message_id: &str,
) -> Result<(), MessagingError> {
    let confirm = publish(channel, exchange, routing_key, body, headers, message_id).await?;
    confirmed(confirm, routing_key).await
}

/// Puts `delivery` on `queue` (a retry queue or the dead-letter queue) through the default
/// exchange, with its headers and message id, `extra` headers, and `reason` in
/// [`ERROR_HEADER`]; returns once the broker confirmed it. The caller acknowledges the
/// delivery afterwards.
pub async fn park(
    channel: &Channel,
    delivery: &lapin::message::Delivery,
    queue: &str,
    reason: &str,
    extra: &[(&str, String)],
) -> Result<(), MessagingError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    for (name, value) in extra {
        headers.insert((*name).into(), AMQPValue::LongString(value.as_str().into()));
    }
    headers.insert(ERROR_HEADER.into(), AMQPValue::LongString(reason.into()));
    let id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    publish_confirmed(channel, "", queue, &delivery.data, headers, &id).await
}

/// Sends a persistent, `mandatory` message without waiting for its confirm, so a publisher
/// can keep a window of messages in flight; [`confirmed`] then waits for each.
pub async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    headers: FieldTable,
    message_id: &str,
) -> Result<PublisherConfirm, MessagingError> {
    let properties = BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_delivery_mode(2)
        .with_message_id(message_id.into())
        .with_headers(headers);
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    timed(channel.basic_publish(
        exchange.into(),
        routing_key.into(),
        options,
        body,
        properties,
    ))
    .await
}

/// Waits for the broker's verdict on one publish; a nack or a return is an error.
pub async fn confirmed(confirm: PublisherConfirm, routing_key: &str) -> Result<(), MessagingError> {
    let confirmation = timed(confirm).await?;
    if confirmation.is_nack() {
        return Err(MessagingError::Rejected(format!(
            "{routing_key}: nacked by the broker"
        )));
    }
    if let Some(returned) = confirmation.take_message() {
        return Err(MessagingError::Rejected(format!(
            "{routing_key}: unroutable ({})",
            returned.reply_text
        )));
    }
    Ok(())
}

/// Starts a service's messaging under `supervisor`: declares its queues (before it serves, so
/// no answer to an event it causes is lost), then runs its consumer (`handler`, recording
/// processed events as `name`) and its outbox relay.
pub async fn start<H: StagedHandler>(
    settings: &crate::config::AmqpSettings,
    name: &str,
    bindings: &[&str],
    pool: &sqlx::PgPool,
    handler: H,
    metrics: &MessagingMetrics,
    supervisor: &mut crate::tasks::Supervisor,
) -> Result<(), MessagingError> {
    let topology = Topology {
        exchange: settings.exchange.clone(),
        queue: settings.queue.clone(),
        bindings: bindings.iter().map(|k| (*k).to_owned()).collect(),
        retry_delays: settings.retry_delays(),
    };
    let (connection, channel) = connect(settings.url.expose_secret()).await?;
    topology.declare(&channel).await?;
    drop((channel, connection));
    // More deliveries at once than the pool has connections would only queue for them.
    let connections = u16::try_from(pool.options().get_max_connections()).unwrap_or(u16::MAX);
    let consumer = Consumer {
        name: name.to_owned(),
        topology,
        prefetch: settings.prefetch.min(connections).max(1),
        metrics: Some(metrics.clone()),
    };
    supervisor.spawn(
        "event consumer",
        consumer.run(
            pool.clone(),
            settings.url.expose_secret().to_owned(),
            handler,
            supervisor.stop_signal(),
        ),
    );
    start_relay(settings, pool, metrics, supervisor);
    Ok(())
}

/// Starts the outbox relay of a service that publishes events but consumes none, under
/// `supervisor`; the relay declares the exchange it publishes to.
pub fn start_relay(
    settings: &crate::config::AmqpSettings,
    pool: &sqlx::PgPool,
    metrics: &MessagingMetrics,
    supervisor: &mut crate::tasks::Supervisor,
) {
    let relay = Relay::new(
        pool.clone(),
        settings.url.expose_secret(),
        &settings.exchange,
    )
    .with_metrics(metrics.clone())
    .with_poll(Duration::from_millis(settings.relay_poll_ms));
    supervisor.spawn("outbox relay", relay.run(supervisor.stop_signal()));
}

pub(crate) fn header_table(pairs: &[(String, String)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in pairs {
        table.insert(
            key.as_str().into(),
            AMQPValue::LongString(value.as_str().into()),
        );
    }
    table
}

/// A header's value as text, if present and textual or numeric.
pub fn header_text(headers: Option<&FieldTable>, key: &str) -> Option<String> {
    match headers?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        _ => None,
    }
}
