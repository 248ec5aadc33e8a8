//! The idempotent consumer: each delivery's effect and its event id (`processed_events`) are
//! committed in one transaction, then the delivery is acked; failures go to the retry queues,
//! then to the dead-letter queue.

use std::time::Duration;

use events::Attributes;
use futures::StreamExt as _;
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use super::topology::Topology;
use super::{
    ATTEMPT_HEADER, ERROR_HEADER, MessagingError, MessagingMetrics, connect, header_text,
    publish_confirmed, timed,
};

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
