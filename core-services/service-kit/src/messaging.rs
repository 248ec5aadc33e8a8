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

use std::time::Duration;

use events::{Attributes, Envelope};
use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

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

/// The outbox and idempotency tables every producing or consuming service has; created at
/// start-up (idempotent DDL), so services share one definition.
pub const SCHEMA: &str = "
create table if not exists outbox (
    seq           bigserial primary key,
    id            text not null unique,
    aggregate_id  text not null,
    event_type    text not null,
    payload       bytea not null,
    headers       jsonb not null,
    created_at    timestamptz not null default now(),
    published_at  timestamptz
);
create index if not exists outbox_pending_idx on outbox (seq) where published_at is null;
create table if not exists processed_events (
    consumer      text not null,
    event_id      text not null,
    processed_at  timestamptz not null default now(),
    primary key (consumer, event_id)
);
";

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// The broker refused or the connection broke.
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    /// No answer within the time limit.
    #[error("broker did not answer in time")]
    Timeout,
    /// The broker nacked a publish or returned it as unroutable.
    #[error("message not accepted: {0}")]
    Rejected(String),
    /// Database failure.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

async fn timed<T>(future: impl Future<Output = lapin::Result<T>>) -> Result<T, MessagingError> {
    tokio::time::timeout(BROKER_TIMEOUT, future)
        .await
        .map_err(|_| MessagingError::Timeout)?
        .map_err(Into::into)
}

/// The messaging metrics of a service, registered in its own registry.
#[derive(Clone, Debug)]
pub struct MessagingMetrics {
    /// `messaging_outbox_pending`: events written and not yet confirmed by the broker.
    pub outbox_pending: prometheus::IntGauge,
    /// `messaging_outbox_lag_seconds`: age of the oldest unpublished event (0 when none).
    pub outbox_lag: prometheus::Gauge,
    /// `messaging_outbox_published_total`: events the broker confirmed.
    pub published: prometheus::IntCounter,
    /// `messaging_outbox_publish_failures_total`: publishes refused or failed.
    pub publish_failures: prometheus::IntCounter,
    /// `messaging_events_consumed_total{queue,outcome}`: outcome is `handled`, `duplicate`,
    /// `retried` or `dead_lettered`.
    pub consumed: prometheus::IntCounterVec,
    /// `messaging_dead_letter_depth{queue}`: messages parked in the queue's DLQ.
    pub dlq_depth: prometheus::IntGaugeVec,
}

impl MessagingMetrics {
    /// Creates and registers the collectors.
    pub fn new(metrics: &crate::metrics::Metrics) -> anyhow::Result<Self> {
        let opts = |name: &str, help: &str| {
            prometheus::Opts::new(name, help).const_label("service", metrics.service())
        };
        Ok(Self {
            outbox_pending: metrics.register(prometheus::IntGauge::with_opts(opts(
                "messaging_outbox_pending",
                "Events in the outbox not yet confirmed by the broker.",
            ))?)?,
            outbox_lag: metrics.register(prometheus::Gauge::with_opts(opts(
                "messaging_outbox_lag_seconds",
                "Age of the oldest unpublished outbox event, in seconds.",
            ))?)?,
            published: metrics.register(prometheus::IntCounter::with_opts(opts(
                "messaging_outbox_published_total",
                "Outbox events confirmed by the broker.",
            ))?)?,
            publish_failures: metrics.register(prometheus::IntCounter::with_opts(opts(
                "messaging_outbox_publish_failures_total",
                "Outbox publishes the broker refused or that failed.",
            ))?)?,
            consumed: metrics.register(prometheus::IntCounterVec::new(
                opts("messaging_events_consumed_total", "Deliveries by outcome."),
                &["queue", "outcome"],
            )?)?,
            dlq_depth: metrics.register(prometheus::IntGaugeVec::new(
                opts(
                    "messaging_dead_letter_depth",
                    "Messages parked in the dead-letter queue.",
                ),
                &["queue"],
            )?)?,
        })
    }
}

/// Creates the outbox and processed-events tables if missing.
pub async fn ensure_schema(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SCHEMA).execute(pool).await.map(|_| ())
}

/// Opens a connection and a channel with publisher confirms.
pub async fn connect(uri: &str) -> Result<(Connection, Channel), MessagingError> {
    let connection = timed(Connection::connect(uri, ConnectionProperties::default())).await?;
    let channel = timed(connection.create_channel()).await?;
    timed(channel.confirm_select(ConfirmSelectOptions::default())).await?;
    Ok((connection, channel))
}

fn quorum(args: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    table.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    for (key, value) in args {
        table.insert((*key).into(), value.clone());
    }
    table
}

/// A consumer's queues.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Exchange to bind to.
    pub exchange: String,
    /// The consumer's queue.
    pub queue: String,
    /// Routing keys (event types, `#` for all).
    pub bindings: Vec<String>,
    /// Wait before each retry; the number of entries plus one is the number of attempts.
    pub retry_delays: Vec<Duration>,
}

impl Topology {
    /// The dead-letter queue.
    pub fn dlq(&self) -> String {
        format!("{}.dlq", self.queue)
    }

    /// The retry queue for the given delay.
    pub fn retry_queue(&self, delay: Duration) -> String {
        format!("{}.retry.{}ms", self.queue, delay.as_millis())
    }

    /// Declares exchange, queues and bindings (idempotent).
    pub async fn declare(&self, channel: &Channel) -> Result<(), MessagingError> {
        declare_exchange(channel, &self.exchange).await?;
        let durable = QueueDeclareOptions::durable();
        timed(channel.queue_declare(self.dlq().into(), durable, quorum(&[]))).await?;
        // Rejected messages (nack without requeue) land in the DLQ too, at least once.
        let main_args = quorum(&[
            ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
            (
                "x-dead-letter-routing-key",
                AMQPValue::LongString(self.dlq().into()),
            ),
            (
                "x-dead-letter-strategy",
                AMQPValue::LongString("at-least-once".into()),
            ),
            ("x-overflow", AMQPValue::LongString("reject-publish".into())),
        ]);
        timed(channel.queue_declare(self.queue.as_str().into(), durable, main_args)).await?;
        for key in &self.bindings {
            timed(channel.queue_bind(
                self.queue.as_str().into(),
                self.exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            ))
            .await?;
        }
        for delay in &self.retry_delays {
            let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            let args = quorum(&[
                ("x-message-ttl", AMQPValue::LongLongInt(ttl)),
                ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
                (
                    "x-dead-letter-routing-key",
                    AMQPValue::LongString(self.queue.as_str().into()),
                ),
                (
                    "x-dead-letter-strategy",
                    AMQPValue::LongString("at-least-once".into()),
                ),
                ("x-overflow", AMQPValue::LongString("reject-publish".into())),
            ]);
            timed(channel.queue_declare(self.retry_queue(*delay).into(), durable, args)).await?;
        }
        Ok(())
    }
}

/// Declares the durable topic exchange.
pub async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), MessagingError> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    timed(channel.exchange_declare(
        exchange.into(),
        ExchangeKind::Topic,
        options,
        FieldTable::default(),
    ))
    .await
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
    let properties = BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_delivery_mode(2)
        .with_message_id(message_id.into())
        .with_headers(headers);
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirm = timed(channel.basic_publish(
        exchange.into(),
        routing_key.into(),
        options,
        body,
        properties,
    ))
    .await?;
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

fn header_table(pairs: &[(String, String)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in pairs {
        table.insert(
            key.as_str().into(),
            AMQPValue::LongString(value.as_str().into()),
        );
    }
    table
}

/// Writes an event to the outbox inside the caller's transaction. An event without a
/// `traceparent` gets the current span's, so the trace continues through the broker.
pub async fn enqueue<T: Serialize>(
    tx: &mut PgConnection,
    envelope: &Envelope<T>,
    aggregate_id: &str,
) -> Result<(), MessagingError> {
    let rejected = |e: serde_json::Error| MessagingError::Rejected(e.to_string());
    let mut headers: serde_json::Map<String, serde_json::Value> = envelope
        .amqp_headers()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let payload = match (
        &envelope.traceparent,
        crate::telemetry::current_traceparent(),
    ) {
        (None, Some(traceparent)) => {
            let mut value = serde_json::to_value(envelope).map_err(rejected)?;
            if let serde_json::Value::Object(map) = &mut value {
                map.insert("traceparent".into(), traceparent.clone().into());
            }
            headers.insert(
                format!("{}traceparent", events::AMQP_HEADER_PREFIX),
                traceparent.into(),
            );
            serde_json::to_vec(&value).map_err(rejected)?
        }
        _ => envelope.to_json().map_err(rejected)?,
    };
    sqlx::query(
        "insert into outbox (id, aggregate_id, event_type, payload, headers) values ($1, $2, $3, $4, $5)",
    )
    .bind(&envelope.id)
    .bind(aggregate_id)
    .bind(&envelope.event_type)
    .bind(payload)
    .bind(sqlx::types::Json(headers))
    .execute(tx)
    .await?;
    Ok(())
}

/// seq, id, aggregate id, event type, payload, CloudEvents headers.
type OutboxRow = (
    i64,
    String,
    String,
    String,
    Vec<u8>,
    sqlx::types::Json<serde_json::Map<String, serde_json::Value>>,
);

/// Publishes the outbox.
#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    uri: String,
    exchange: String,
    batch: i64,
    idle: Duration,
    metrics: Option<MessagingMetrics>,
}

impl Relay {
    /// A relay from `pool`'s outbox to `exchange` at `uri`.
    pub fn new(pool: PgPool, uri: &str, exchange: &str) -> Self {
        Self {
            pool,
            uri: uri.to_owned(),
            exchange: exchange.to_owned(),
            batch: 100,
            idle: Duration::from_millis(200),
            metrics: None,
        }
    }

    /// Reports outbox lag, publishes and failures to `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: MessagingMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    async fn observe(&self, published: usize, failed: bool) {
        let Some(metrics) = &self.metrics else { return };
        metrics
            .published
            .inc_by(u64::try_from(published).unwrap_or(0));
        if failed {
            metrics.publish_failures.inc();
        }
        let state: Result<(i64, f64), sqlx::Error> = sqlx::query_as(
            "select count(*), coalesce(extract(epoch from now() - min(created_at))::float8, 0) \
             from outbox where published_at is null",
        )
        .fetch_one(&self.pool)
        .await;
        if let Ok((pending, lag)) = state {
            metrics.outbox_pending.set(pending);
            metrics.outbox_lag.set(lag);
        }
    }

    /// Publishes pending rows in order; returns how many were confirmed. A message the broker
    /// refuses (unroutable, nacked) holds back the later events of its aggregate only, so one
    /// bad event cannot stall every order; a broken connection stops the batch.
    pub async fn publish_pending(&self, channel: &Channel) -> Result<usize, MessagingError> {
        let mut tx = self.pool.begin().await?;
        let leader: bool =
            sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('outbox-relay'))")
                .fetch_one(&mut *tx)
                .await?;
        if !leader {
            return Ok(0);
        }
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "select seq, id, aggregate_id, event_type, payload, headers from outbox \
             where published_at is null order by seq limit $1",
        )
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        let mut sent = Vec::with_capacity(rows.len());
        let mut held: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut failure = None;
        for (seq, id, aggregate, event_type, payload, headers) in rows {
            if held.contains(&aggregate) {
                continue;
            }
            let mut pairs: Vec<(String, String)> = headers
                .0
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect();
            pairs.push((AGGREGATE_HEADER.to_owned(), aggregate.clone()));
            match publish_confirmed(
                channel,
                &self.exchange,
                &event_type,
                &payload,
                header_table(&pairs),
                &id,
            )
            .await
            {
                Ok(()) => sent.push(seq),
                Err(MessagingError::Rejected(reason)) => {
                    tracing::error!(event = %id, aggregate = %aggregate, reason = %reason,
                        "relay: the broker refused an event; its aggregate waits for a fix");
                    held.insert(aggregate);
                    failure.get_or_insert(MessagingError::Rejected(reason));
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if !sent.is_empty() {
            sqlx::query("update outbox set published_at = now() where seq = any($1)")
                .bind(&sent)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.observe(sent.len(), failure.is_some()).await;
        match failure {
            Some(MessagingError::Rejected(_)) if !sent.is_empty() => Ok(sent.len()),
            Some(err) => Err(err),
            None => Ok(sent.len()),
        }
    }

    /// Publishes until `shutdown` turns true, reconnecting with backoff after broker failures.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            let channel = match connect(&self.uri).await {
                Ok((connection, channel)) => match declare_exchange(&channel, &self.exchange).await
                {
                    Ok(()) => Some((connection, channel)),
                    Err(err) => {
                        tracing::warn!(error = %err, "relay: cannot declare the exchange");
                        None
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %err, "relay: broker unavailable");
                    None
                }
            };
            let Some((_connection, channel)) = channel else {
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            };
            backoff = Duration::from_millis(200);
            loop {
                match self.publish_pending(&channel).await {
                    Ok(n) if n > 0 => continue,
                    // Refused events wait; the connection is fine.
                    Ok(_) | Err(MessagingError::Rejected(_)) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "relay: publishing failed; reconnecting");
                        break;
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(self.idle) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// A handler's verdict on a message it could not process.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HandlerError {
    /// Might work later (a dependency was down): retry with backoff.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will never work: dead-letter at once.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// One received event, before its payload is parsed by the handler.
#[derive(Debug, Clone)]
pub struct Received {
    /// CloudEvents attributes.
    pub attributes: Attributes,
    /// The whole structured-mode body.
    pub body: Vec<u8>,
    /// Delivery attempt, starting at 1.
    pub attempt: u32,
}

impl From<sqlx::Error> for HandlerError {
    /// Database trouble is worth retrying: the effect was rolled back with the transaction.
    fn from(err: sqlx::Error) -> Self {
        Self::Retryable(format!("database: {err}"))
    }
}

/// Handles events inside the transaction that also records them as processed.
pub trait Handler: Send + Sync + 'static {
    /// Applies the event's effect using `tx`; the consumer commits it with the event's id.
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Received,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;
}

/// An idempotent consumer of one queue.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Name recorded with processed events (one per consuming service).
    pub name: String,
    /// Queues and bindings.
    pub topology: Topology,
    /// Unacknowledged messages in flight.
    pub prefetch: u16,
    /// Where to count deliveries and dead letters, if anywhere.
    pub metrics: Option<MessagingMetrics>,
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

impl Consumer {
    /// Consumes until `shutdown` turns true, reconnecting after broker failures.
    pub async fn run<H: Handler>(
        self,
        pool: PgPool,
        uri: String,
        handler: H,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            match self.consume(&pool, &uri, &handler, &mut shutdown).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(consumer = %self.name, error = %err, "consumer: broker failure; reconnecting");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    async fn consume<H: Handler>(
        &self,
        pool: &PgPool,
        uri: &str,
        handler: &H,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), MessagingError> {
        let (_connection, channel) = connect(uri).await?;
        self.topology.declare(&channel).await?;
        timed(channel.basic_qos(self.prefetch, BasicQosOptions::default())).await?;
        let mut deliveries = timed(channel.basic_consume(
            self.topology.queue.as_str().into(),
            ShortString::from(format!("{}-{}", self.name, uuid::Uuid::new_v4().simple())),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await?;
        if let Some(metrics) = &self.metrics {
            // Every outcome exported from the start (0), so rates and alerts have a series.
            for outcome in ["handled", "duplicate", "retried", "dead_lettered"] {
                metrics
                    .consumed
                    .with_label_values(&[self.topology.queue.as_str(), outcome]);
            }
        }
        let mut depth_check = tokio::time::interval(Duration::from_secs(15));
        loop {
            let delivery = tokio::select! {
                next = deliveries.next() => next,
                _ = depth_check.tick() => {
                    self.observe_dlq(&channel).await;
                    continue;
                }
                _ = shutdown.changed() => return Ok(()),
            };
            let Some(delivery) = delivery else {
                return Err(MessagingError::Rejected(
                    "the broker cancelled the consumer".into(),
                ));
            };
            let delivery = delivery?;
            let headers = delivery.properties.headers().as_ref();
            let attempt = header_text(headers, ATTEMPT_HEADER)
                .and_then(|a| a.parse().ok())
                .unwrap_or(1);
            let outcome = match Attributes::peek(&delivery.data) {
                Err(err) => Outcome::DeadLetter(format!("malformed: {err}")),
                Ok(attributes) => {
                    let received = Received {
                        attributes,
                        body: delivery.data.clone(),
                        attempt,
                    };
                    self.process(pool, handler, &received).await
                }
            };
            if let Some(metrics) = &self.metrics {
                let label = match &outcome {
                    Outcome::Done => "handled",
                    Outcome::Duplicate => "duplicate",
                    Outcome::Retry(_) => "retried",
                    Outcome::DeadLetter(_) => "dead_lettered",
                };
                metrics
                    .consumed
                    .with_label_values(&[self.topology.queue.as_str(), label])
                    .inc();
            }
            let parked = matches!(outcome, Outcome::DeadLetter(_));
            match outcome {
                Outcome::Done | Outcome::Duplicate => {}
                Outcome::Retry(error) => {
                    let delay =
                        self.topology.retry_delays[usize::try_from(attempt - 1).unwrap_or(0)];
                    let mut table = headers.cloned().unwrap_or_default();
                    table.insert(
                        ATTEMPT_HEADER.into(),
                        AMQPValue::LongString((attempt + 1).to_string().into()),
                    );
                    table.insert(
                        ERROR_HEADER.into(),
                        AMQPValue::LongString(LongString::from(error)),
                    );
                    let id = delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|m| m.as_str().to_owned())
                        .unwrap_or_default();
                    publish_confirmed(
                        &channel,
                        "",
                        &self.topology.retry_queue(delay),
                        &delivery.data,
                        table,
                        &id,
                    )
                    .await?;
                }
                Outcome::DeadLetter(reason) => {
                    tracing::warn!(consumer = %self.name, reason = %reason, "dead-lettering a message");
                    let mut table = headers.cloned().unwrap_or_default();
                    table.insert(
                        ERROR_HEADER.into(),
                        AMQPValue::LongString(LongString::from(reason)),
                    );
                    let id = delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|m| m.as_str().to_owned())
                        .unwrap_or_default();
                    publish_confirmed(
                        &channel,
                        "",
                        &self.topology.dlq(),
                        &delivery.data,
                        table,
                        &id,
                    )
                    .await?;
                }
            }
            // Only after the effect is committed, or the message is safely parked elsewhere.
            timed(delivery.ack(BasicAckOptions::default())).await?;
            if parked {
                self.observe_dlq(&channel).await;
            }
        }
    }

    async fn process<H: Handler>(
        &self,
        pool: &PgPool,
        handler: &H,
        received: &Received,
    ) -> Outcome {
        let result: Result<Outcome, sqlx::Error> = async {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query(
                "insert into processed_events (consumer, event_id) values ($1, $2) on conflict do nothing",
            )
            .bind(&self.name)
            .bind(&received.attributes.id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                tracing::debug!(event = %received.attributes.id, "duplicate delivery ignored");
                return Ok(Outcome::Duplicate);
            }
            match handler.handle(&mut tx, received).await {
                Ok(()) => {
                    tx.commit().await?;
                    Ok(Outcome::Done)
                }
                Err(HandlerError::Permanent(reason)) => Ok(Outcome::DeadLetter(reason)),
                Err(HandlerError::Retryable(reason)) => Ok(self.retry_or_give_up(received.attempt, reason)),
            }
        }
        .await;
        result.unwrap_or_else(|err| {
            self.retry_or_give_up(received.attempt, format!("database: {err}"))
        })
    }

    async fn observe_dlq(&self, channel: &Channel) {
        let Some(metrics) = &self.metrics else { return };
        let dlq = self.topology.dlq();
        let declared = timed(channel.queue_declare(
            dlq.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        ))
        .await;
        if let Ok(queue) = declared {
            metrics
                .dlq_depth
                .with_label_values(&[self.topology.queue.as_str()])
                .set(i64::from(queue.message_count()));
        }
    }

    fn retry_or_give_up(&self, attempt: u32, reason: String) -> Outcome {
        if usize::try_from(attempt).unwrap_or(usize::MAX) <= self.topology.retry_delays.len() {
            Outcome::Retry(reason)
        } else {
            Outcome::DeadLetter(format!("gave up after {attempt} attempts: {reason}"))
        }
    }
}

enum Outcome {
    Done,
    Duplicate,
    Retry(String),
    DeadLetter(String),
}

/// A message parked in a dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Message (event) id.
    pub id: String,
    /// Event type, when the body is an envelope.
    pub event_type: Option<String>,
    /// Why it was parked (`x-error`).
    pub error: Option<String>,
    /// The body as received.
    pub body: Vec<u8>,
}

fn dead_letter_of(message: &lapin::message::BasicGetMessage) -> DeadLetter {
    let properties = &message.delivery.properties;
    DeadLetter {
        id: properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default(),
        event_type: Attributes::peek(&message.delivery.data)
            .ok()
            .map(|a| a.event_type),
        error: header_text(properties.headers().as_ref(), ERROR_HEADER),
        body: message.delivery.data.clone(),
    }
}

/// Walks the dead-letter queue of `queue` once: `act` decides per message whether to take it
/// out (`true`) or leave it parked; returns the messages taken.
async fn walk_dead_letters<F, Fut>(
    channel: &Channel,
    queue: &str,
    mut act: F,
) -> Result<Vec<DeadLetter>, MessagingError>
where
    F: FnMut(DeadLetter) -> Fut,
    Fut: Future<Output = Result<Option<DeadLetter>, MessagingError>>,
{
    let dlq = format!("{queue}.dlq");
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    // Held messages stay unacknowledged until the walk ends, so each is seen once.
    loop {
        let Some(message) =
            timed(channel.basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: false }))
                .await?
        else {
            break;
        };
        let letter = dead_letter_of(&message);
        match act(letter).await? {
            Some(letter) => {
                timed(message.delivery.ack(BasicAckOptions::default())).await?;
                taken.push(letter);
            }
            None => kept.push(message),
        }
    }
    // Messages left alone go back to the queue, in order.
    for message in kept.into_iter().rev() {
        timed(message.delivery.nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        }))
        .await?;
    }
    Ok(taken)
}

/// The messages parked for `queue`, without removing them.
pub async fn list_dead_letters(
    channel: &Channel,
    queue: &str,
) -> Result<Vec<DeadLetter>, MessagingError> {
    let mut seen = Vec::new();
    walk_dead_letters(channel, queue, |letter| {
        seen.push(letter);
        async { Ok(None) }
    })
    .await?;
    Ok(seen)
}

/// Sends parked messages (all, or the one with `only_id`) back to `queue` for another set of
/// attempts; returns how many went back.
pub async fn replay_dead_letters(
    channel: &Channel,
    queue: &str,
    only_id: Option<&str>,
) -> Result<usize, MessagingError> {
    let taken = walk_dead_letters(channel, queue, |letter| async move {
        if only_id.is_some_and(|id| id != letter.id) {
            return Ok(None);
        }
        let mut headers = FieldTable::default();
        headers.insert("x-replayed".into(), AMQPValue::LongString("true".into()));
        publish_confirmed(channel, "", queue, &letter.body, headers, &letter.id).await?;
        Ok(Some(letter))
    })
    .await?;
    Ok(taken.len())
}

/// Removes parked messages (all, or the one with `only_id`) for good; returns them.
pub async fn discard_dead_letters(
    channel: &Channel,
    queue: &str,
    only_id: Option<&str>,
) -> Result<Vec<DeadLetter>, MessagingError> {
    let taken = walk_dead_letters(channel, queue, |letter| async move {
        Ok(if only_id.is_some_and(|id| id != letter.id) {
            None
        } else {
            Some(letter)
        })
    })
    .await?;
    Ok(taken)
}
