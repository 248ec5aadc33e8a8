//! The idempotent consumer: each delivery's effect and its event id (`processed_events`) are
//! committed in one transaction, then the delivery is acked; failures go to the retry queues,
//! then to the dead-letter queue. An outage of the consumer's own database is not the
//! message's fault: it costs no attempt, so however long it lasts it never parks a message
//! (see [`HandlerError::Unavailable`]).
//!
//! Deliveries run concurrently, up to the prefetch, but never two of one aggregate at once:
//! a delivery whose aggregate (the `x-aggregate-id` header the relay sets, else the event's
//! correlation id) is already being handled waits behind it, in arrival order. So a saga never
//! sees the events of one order out of the order the broker gave them, while different orders
//! proceed side by side. Each delivery is acked only after its transaction committed (or after
//! it was parked in a retry or dead-letter queue); one that was not acked when the consumer
//! stops is delivered again.
//!
//! A handler that has to call another system does it in [`StagedHandler::prepare`], with no
//! transaction open, and records the outcome in [`StagedHandler::apply`]. A plain [`Handler`]
//! only has the transactional step.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use events::Attributes;
use futures::StreamExt as _;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::topology::Topology;
use super::{
    AGGREGATE_HEADER, ATTEMPT_HEADER, MessagingError, MessagingMetrics, connect, header_text, park,
    timed,
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
    /// The consumer's own database could not be reached (pool timeout, broken connection,
    /// server shutting down). The message is not at fault, so this costs it no attempt: it
    /// waits out the first retry delay and comes again, as often as the outage lasts, and is
    /// never parked for it.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl HandlerError {
    /// A database error, classified: connection trouble is [`Unavailable`](Self::Unavailable),
    /// anything else (a conflict, a constraint, a timeout inside a statement) is
    /// [`Retryable`](Self::Retryable) and counts as an attempt.
    pub fn database(err: &sqlx::Error) -> Self {
        if database_unreachable(err) {
            Self::Unavailable(format!("database unreachable: {err}"))
        } else {
            Self::Retryable(format!("database: {err}"))
        }
    }
}

/// Whether `err` says the database could not be reached or dropped the connection, as opposed
/// to refusing what was asked of it.
pub fn database_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01..57P03: the server is shutting down,
            // crashed or not yet accepting connections.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
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
        Self::database(&err)
    }
}

impl From<MessagingError> for HandlerError {
    /// An outbox write that failed is database trouble; anything else is worth a retry.
    fn from(err: MessagingError) -> Self {
        match err {
            MessagingError::Database(err) => Self::database(&err),
            other => Self::Retryable(other.to_string()),
        }
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

/// Handles events in two steps: [`prepare`](Self::prepare) with no transaction open (the place
/// for calls to other systems), then [`apply`](Self::apply) inside the transaction that also
/// records the event as processed. A redelivery runs both steps again, so `prepare` must be
/// safe to repeat: calls carry idempotency keys, and `apply` checks under its row locks that
/// what `prepare` saw still holds.
pub trait StagedHandler: Send + Sync + 'static {
    /// What `prepare` learned, handed to `apply`.
    type Prepared: Send;

    /// Work outside any transaction.
    fn prepare<'a>(
        &'a self,
        pool: &'a PgPool,
        event: &'a Received,
    ) -> impl Future<Output = Result<Self::Prepared, HandlerError>> + Send + 'a;

    /// Applies the event's effect using `tx`; the consumer commits it with the event's id.
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Received,
        prepared: Self::Prepared,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;
}

impl<H: Handler> StagedHandler for H {
    type Prepared = ();

    async fn prepare(&self, _pool: &PgPool, _event: &Received) -> Result<(), HandlerError> {
        Ok(())
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Received,
        (): (),
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        self.handle(tx, event)
    }
}

/// An idempotent consumer of one queue.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Name recorded with processed events (one per consuming service).
    pub name: String,
    /// Queues and bindings.
    pub topology: Topology,
    /// Unacknowledged messages in flight, which is also how many are handled at once.
    pub prefetch: u16,
    /// Where to count deliveries and dead letters, if anywhere.
    pub metrics: Option<MessagingMetrics>,
}

/// The attempt a delivery is on: its `x-attempt` header, or 1 when the header is missing,
/// zero, negative or not a number. A broken header is therefore retried and then parked like
/// any other failure, never a crash.
pub fn attempt_of(headers: Option<&FieldTable>) -> u32 {
    header_text(headers, ATTEMPT_HEADER)
        .and_then(|a| a.trim().parse::<u32>().ok())
        .filter(|a| *a >= 1)
        .unwrap_or(1)
}

/// The aggregate whose deliveries must not overlap: the relay's `x-aggregate-id` header, else
/// the event's correlation id (replayed dead letters carry no aggregate header).
fn aggregate_of(delivery: &Delivery) -> Option<String> {
    header_text(delivery.properties.headers().as_ref(), AGGREGATE_HEADER).or_else(|| {
        Attributes::peek(&delivery.data)
            .ok()
            .map(|a| a.correlationid)
    })
}

impl Consumer {
    /// Consumes until `shutdown` turns true, reconnecting after broker failures. A handler
    /// that panics takes the consumer down with it (the task ends in that panic), so the
    /// service's supervisor sees it.
    pub async fn run<H: StagedHandler>(
        self,
        pool: PgPool,
        uri: String,
        handler: H,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let worker = Arc::new(Worker {
            consumer: self,
            pool,
            handler,
        });
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            match worker.consume(&uri, &mut shutdown).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(consumer = %worker.consumer.name, error = %err, "consumer: broker failure; reconnecting");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

/// What every delivery task of one consumer shares.
struct Worker<H> {
    consumer: Consumer,
    pool: PgPool,
    handler: H,
}

/// A finished delivery task: its aggregate, and whether the broker took its ack.
type Finished = (Option<String>, Result<(), MessagingError>);

impl<H: StagedHandler> Worker<H> {
    async fn consume(
        self: &Arc<Self>,
        uri: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), MessagingError> {
        let consumer = &self.consumer;
        let (_connection, channel) = connect(uri).await?;
        consumer.topology.declare(&channel).await?;
        timed(channel.basic_qos(consumer.prefetch.max(1), BasicQosOptions::default())).await?;
        let mut deliveries = timed(channel.basic_consume(
            consumer.topology.queue.as_str().into(),
            ShortString::from(format!(
                "{}-{}",
                consumer.name,
                uuid::Uuid::new_v4().simple()
            )),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await?;
        if let Some(metrics) = &consumer.metrics {
            // Every outcome exported from the start (0), so rates and alerts have a series.
            for outcome in ["handled", "duplicate", "retried", "dead_lettered"] {
                metrics
                    .consumed
                    .with_label_values(&[consumer.topology.queue.as_str(), outcome]);
            }
        }
        let mut depth_check = tokio::time::interval(Duration::from_secs(15));
        let mut running: JoinSet<Finished> = JoinSet::new();
        // Aggregates being handled, each with the deliveries waiting behind the running one.
        let mut busy: HashMap<String, VecDeque<Delivery>> = HashMap::new();
        loop {
            tokio::select! {
                next = deliveries.next() => {
                    let Some(delivery) = next else {
                        return Err(MessagingError::Rejected(
                            "the broker cancelled the consumer".into(),
                        ));
                    };
                    let delivery = delivery?;
                    match aggregate_of(&delivery) {
                        Some(key) => {
                            if let Some(waiting) = busy.get_mut(&key) {
                                waiting.push_back(delivery);
                            } else {
                                busy.insert(key.clone(), VecDeque::new());
                                self.start(&mut running, &channel, Some(key), delivery);
                            }
                        }
                        None => self.start(&mut running, &channel, None, delivery),
                    }
                }
                Some(finished) = running.join_next() => {
                    let (key, acked) = match finished {
                        Ok(finished) => finished,
                        // A panicking handler is a bug: end this task in the same panic.
                        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                        Err(err) => {
                            return Err(MessagingError::Rejected(format!(
                                "a delivery task stopped: {err}"
                            )));
                        }
                    };
                    acked?;
                    if let Some(key) = key {
                        match busy.get_mut(&key).and_then(VecDeque::pop_front) {
                            Some(next) => self.start(&mut running, &channel, Some(key), next),
                            None => {
                                busy.remove(&key);
                            }
                        }
                    }
                }
                _ = depth_check.tick() => self.observe_dlq(&channel).await,
                _ = shutdown.changed() => {
                    // Deliveries in hand finish; those waiting go back to the queue unacked.
                    while let Some(finished) = running.join_next().await {
                        match finished {
                            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                            Ok((_, Err(err))) => {
                                tracing::warn!(consumer = %consumer.name, error = %err, "consumer: ack failed while stopping; the delivery comes again");
                            }
                            _ => {}
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    fn start(
        self: &Arc<Self>,
        running: &mut JoinSet<Finished>,
        channel: &Channel,
        key: Option<String>,
        delivery: Delivery,
    ) {
        let worker = Arc::clone(self);
        let channel = channel.clone();
        running.spawn(async move {
            let acked = worker.deliver(&channel, delivery).await;
            (key, acked)
        });
    }

    /// Handles one delivery to the end: effect committed, or parked in a retry queue or the
    /// DLQ; then acked.
    async fn deliver(&self, channel: &Channel, delivery: Delivery) -> Result<(), MessagingError> {
        let consumer = &self.consumer;
        let headers = delivery.properties.headers().as_ref();
        let attempt = attempt_of(headers);
        let outcome = match Attributes::peek(&delivery.data) {
            Err(err) => Outcome::DeadLetter(format!("malformed: {err}")),
            Ok(attributes) => {
                let received = Received {
                    attributes,
                    body: delivery.data.clone(),
                    attempt,
                };
                self.process(&received).await
            }
        };
        if let Some(metrics) = &consumer.metrics {
            let label = match &outcome {
                Outcome::Done => "handled",
                Outcome::Duplicate => "duplicate",
                Outcome::Retry(_) => "retried",
                Outcome::DeadLetter(_) => "dead_lettered",
            };
            metrics
                .consumed
                .with_label_values(&[consumer.topology.queue.as_str(), label])
                .inc();
        }
        let parked = matches!(outcome, Outcome::DeadLetter(_));
        match outcome {
            Outcome::Done | Outcome::Duplicate => {}
            Outcome::Retry(retry) => {
                park(
                    channel,
                    &delivery,
                    &consumer.topology.retry_queue(retry.delay),
                    &retry.reason,
                    &[(ATTEMPT_HEADER, retry.attempt.to_string())],
                )
                .await?;
            }
            Outcome::DeadLetter(reason) => {
                tracing::warn!(consumer = %consumer.name, reason = %reason, "dead-lettering a message");
                park(channel, &delivery, &consumer.topology.dlq(), &reason, &[]).await?;
            }
        }
        // Only after the effect is committed, or the message is safely parked elsewhere.
        timed(delivery.ack(BasicAckOptions::default())).await?;
        if parked {
            self.observe_dlq(channel).await;
        }
        Ok(())
    }

    async fn process(&self, received: &Received) -> Outcome {
        let prepared = match self.handler.prepare(&self.pool, received).await {
            Ok(prepared) => prepared,
            Err(err) => return self.outcome_of(received.attempt, err),
        };
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            // No connection to be had, whatever the error says (a timeout, a refusal, a
            // server that hung up during the handshake): the database is unavailable.
            Err(err) => {
                return self.outcome_of(
                    received.attempt,
                    HandlerError::Unavailable(format!("database unreachable: {err}")),
                );
            }
        };
        let result: Result<Outcome, sqlx::Error> = async {
            let fresh = sqlx::query(
                "insert into processed_events (consumer, event_id) values ($1, $2) on conflict do nothing",
            )
            .bind(&self.consumer.name)
            .bind(&received.attributes.id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                tracing::debug!(event = %received.attributes.id, "duplicate delivery ignored");
                return Ok(Outcome::Duplicate);
            }
            match self.handler.apply(&mut tx, received, prepared).await {
                Ok(()) => {
                    tx.commit().await?;
                    Ok(Outcome::Done)
                }
                Err(err) => Ok(self.outcome_of(received.attempt, err)),
            }
        }
        .await;
        result.unwrap_or_else(|err| self.outcome_of(received.attempt, HandlerError::database(&err)))
    }

    async fn observe_dlq(&self, channel: &Channel) {
        let consumer = &self.consumer;
        let Some(metrics) = &consumer.metrics else {
            return;
        };
        let dlq = consumer.topology.dlq();
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
                .with_label_values(&[consumer.topology.queue.as_str()])
                .set(i64::from(queue.message_count()));
        }
    }

    fn outcome_of(&self, attempt: u32, err: HandlerError) -> Outcome {
        match err {
            HandlerError::Permanent(reason) => Outcome::DeadLetter(reason),
            HandlerError::Retryable(reason) => self.retry_or_give_up(attempt, reason),
            HandlerError::Unavailable(reason) => {
                match self.consumer.topology.retry_delays.first() {
                    // The same attempt again, after the shortest delay.
                    Some(delay) => Outcome::Retry(Retry {
                        delay: *delay,
                        attempt,
                        reason,
                    }),
                    // No retry queues to wait in: the ordinary rule (parks at once).
                    None => self.retry_or_give_up(attempt, reason),
                }
            }
        }
    }

    /// Attempt `n` waits `retry_delays[n - 1]` before the next; after the last, it is parked.
    fn retry_or_give_up(&self, attempt: u32, reason: String) -> Outcome {
        let delays = &self.consumer.topology.retry_delays;
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        match delays.get(index) {
            Some(delay) => Outcome::Retry(Retry {
                delay: *delay,
                attempt: attempt.saturating_add(1),
                reason,
            }),
            None => Outcome::DeadLetter(format!("gave up after {attempt} attempts: {reason}")),
        }
    }
}

enum Outcome {
    Done,
    Duplicate,
    Retry(Retry),
    DeadLetter(String),
}

/// A delivery to park in a retry queue.
struct Retry {
    /// Which retry queue: how long it waits there.
    delay: Duration,
    /// The `x-attempt` it comes back with.
    attempt: u32,
    /// Why, for the `x-error` header.
    reason: String,
}

#[cfg(test)]
mod tests {
    use lapin::types::AMQPValue;

    use super::*;

    fn with(value: AMQPValue) -> FieldTable {
        let mut table = FieldTable::default();
        table.insert(ATTEMPT_HEADER.into(), value);
        table
    }

    #[test]
    fn any_attempt_header_a_broker_or_a_person_can_send_is_read_without_panicking() {
        assert_eq!(attempt_of(None), 1);
        assert_eq!(attempt_of(Some(&FieldTable::default())), 1);
        assert_eq!(
            attempt_of(Some(&with(AMQPValue::LongString("2".into())))),
            2
        );
        assert_eq!(attempt_of(Some(&with(AMQPValue::LongLongInt(3)))), 3);
        for broken in [
            AMQPValue::LongString("0".into()),
            AMQPValue::LongString("-4".into()),
            AMQPValue::LongString("three".into()),
            AMQPValue::LongString("".into()),
            AMQPValue::LongString("99999999999999999999".into()),
            AMQPValue::LongLongInt(0),
            AMQPValue::LongLongInt(-1),
            AMQPValue::LongLongInt(i64::MIN),
            AMQPValue::Boolean(true),
            AMQPValue::Void,
        ] {
            assert_eq!(
                attempt_of(Some(&with(broken.clone()))),
                1,
                "{broken:?} counts as a first attempt"
            );
        }
        assert_eq!(
            attempt_of(Some(&with(AMQPValue::LongString(
                u32::MAX.to_string().into()
            )))),
            u32::MAX,
            "a huge attempt number is kept (and parked at once: it is past every retry)"
        );
    }

    #[test]
    fn only_an_unreachable_database_is_spared_an_attempt() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for unreachable in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(io()),
        ] {
            assert!(
                matches!(
                    HandlerError::from(unreachable),
                    HandlerError::Unavailable(_)
                ),
                "an unreachable database is not the message's fault"
            );
        }
        for refused in [
            sqlx::Error::RowNotFound,
            sqlx::Error::Protocol("bad".into()),
        ] {
            assert!(matches!(
                HandlerError::from(refused),
                HandlerError::Retryable(_)
            ));
        }
        let outbox = MessagingError::Database(sqlx::Error::PoolTimedOut);
        assert!(matches!(
            HandlerError::from(outbox),
            HandlerError::Unavailable(_)
        ));
        assert!(matches!(
            HandlerError::from(MessagingError::Timeout),
            HandlerError::Retryable(_)
        ));
    }
}
