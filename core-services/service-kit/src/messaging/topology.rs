//! The broker side of a consumer: the durable topic exchange, the consumer's quorum queue with
//! its bindings, its delayed retry queues and its dead-letter queue.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::{MessagingError, timed};

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
