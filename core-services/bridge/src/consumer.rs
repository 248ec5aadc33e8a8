//! The forwarding loop: RabbitMQ queue -> SNS topic.
//!
//! Each event is sent as soon as it arrives: a batch is the first delivery plus those already
//! waiting in the prefetch buffer, at most `batch_size` events with **distinct aggregates** (a
//! second event of an aggregate already in the batch starts the next batch), sent with
//! `PublishBatch`. A quiet queue never waits for company; a busy one fills batches while the
//! previous one is with SNS. Each delivery is acked only after SNS accepted its entry. Entries
//! SNS refused are retried, with exponential backoff, before anything newer is taken, so the
//! events of an aggregate reach SNS in the order they left their producer. Messages that can
//! never be published (not an event, or larger than SNS allows) go to the queue's DLQ with the
//! reason.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sns::types::PublishBatchRequestEntry;
use events::Attributes;
use futures::{FutureExt as _, StreamExt as _};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use secrecy::{ExposeSecret as _, SecretString};
use service_kit::messaging::{self, AGGREGATE_HEADER, MessagingError, Topology};
use tokio::sync::watch;

use crate::attributes;
use crate::metrics::BridgeMetrics;

/// SNS's largest message, body and attributes together.
pub const SNS_MAX_BYTES: usize = 256 * 1024;

/// Forwards until `shutdown`.
#[derive(Debug, Clone)]
pub struct Forwarder {
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// Topic ARN.
    pub topic_arn: String,
    /// Broker URL (holds a password).
    pub amqp_url: SecretString,
    /// Queue and binding (`#`).
    pub topology: Topology,
    /// Most entries per batch (1 to 10).
    pub batch_size: usize,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Counters and gauges.
    pub metrics: BridgeMetrics,
    /// Whether the broker connection is up (for readiness).
    pub connected: watch::Sender<bool>,
}

struct Pending {
    delivery: Delivery,
    entry: PublishBatchRequestEntry,
}

enum Prepared {
    Ready(Pending),
    Unpublishable(Delivery, String),
}

impl Forwarder {
    /// Runs until `shutdown` turns true, reconnecting after broker failures.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            match self.forward(&mut shutdown).await {
                Ok(()) => return,
                Err(err) => {
                    let _ = self.connected.send(false);
                    tracing::warn!(error = %err, "bridge: broker failure; reconnecting");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    fn prepare(&self, delivery: Delivery, index: usize) -> Prepared {
        let attributes = match Attributes::peek(&delivery.data) {
            Ok(a) => a,
            Err(err) => return Prepared::Unpublishable(delivery, format!("malformed: {err}")),
        };
        let size = delivery.data.len();
        if size > SNS_MAX_BYTES - 4096 {
            return Prepared::Unpublishable(
                delivery,
                format!("{size} bytes: larger than SNS accepts"),
            );
        }
        let Ok(body) = String::from_utf8(delivery.data.clone()) else {
            return Prepared::Unpublishable(delivery, "body is not UTF-8".into());
        };
        let aggregate =
            messaging::header_text(delivery.properties.headers().as_ref(), AGGREGATE_HEADER);
        let mut entry = PublishBatchRequestEntry::builder()
            .id(index.to_string())
            .message(body);
        for (name, value) in attributes::for_event(&attributes, aggregate.as_deref()) {
            entry = entry.message_attributes(name, value);
        }
        match entry.build() {
            Ok(entry) => Prepared::Ready(Pending { delivery, entry }),
            Err(err) => Prepared::Unpublishable(delivery, format!("cannot build: {err}")),
        }
    }

    fn aggregate_of(delivery: &Delivery) -> Option<String> {
        messaging::header_text(delivery.properties.headers().as_ref(), AGGREGATE_HEADER).or_else(
            || {
                Attributes::peek(&delivery.data)
                    .ok()
                    .map(|a| a.correlationid)
            },
        )
    }

    async fn forward(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), MessagingError> {
        let (_connection, channel) = messaging::connect(self.amqp_url.expose_secret()).await?;
        self.topology.declare(&channel).await?;
        let prefetch = u16::try_from(self.batch_size * 4).unwrap_or(40);
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let mut deliveries = channel
            .basic_consume(
                self.topology.queue.as_str().into(),
                "bridge".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let _ = self.connected.send(true);
        let mut carry: Option<Delivery> = None;
        loop {
            // The first event of a batch: wait for it as long as it takes.
            let first = match carry.take() {
                Some(d) => d,
                None => tokio::select! {
                    next = deliveries.next() => match next {
                        Some(d) => d?,
                        None => return Err(MessagingError::Rejected("the broker cancelled the consumer".into())),
                    },
                    _ = shutdown.changed() => return Ok(()),
                },
            };
            let mut batch = vec![first];
            let mut aggregates: HashSet<String> =
                batch.iter().filter_map(Self::aggregate_of).collect();
            // Only what has already arrived joins the batch: a quiet queue sends at once, a
            // busy one fills batches while the previous one is with SNS.
            while batch.len() < self.batch_size {
                let Some(next) = deliveries.next().now_or_never() else {
                    break;
                };
                let Some(delivery) = next else { break };
                let delivery = delivery?;
                if let Some(aggregate) = Self::aggregate_of(&delivery)
                    && !aggregates.insert(aggregate)
                {
                    carry = Some(delivery);
                    break;
                }
                batch.push(delivery);
            }
            self.publish(&channel, batch, shutdown).await?;
            if *shutdown.borrow() {
                return Ok(());
            }
        }
    }

    async fn publish(
        &self,
        channel: &lapin::Channel,
        batch: Vec<Delivery>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), MessagingError> {
        let mut pending = Vec::with_capacity(batch.len());
        for (index, delivery) in batch.into_iter().enumerate() {
            match self.prepare(delivery, index) {
                Prepared::Ready(p) => pending.push(p),
                Prepared::Unpublishable(delivery, reason) => {
                    self.dead_letter(channel, &delivery, &reason).await?;
                }
            }
        }
        let mut backoff = Duration::from_millis(100);
        while !pending.is_empty() {
            let started = std::time::Instant::now();
            let entries: Vec<PublishBatchRequestEntry> =
                pending.iter().map(|p| p.entry.clone()).collect();
            let result = self
                .sns
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await;
            self.metrics
                .publish_seconds
                .observe(started.elapsed().as_secs_f64());
            let accepted: HashSet<String> = match &result {
                Ok(output) => output
                    .successful()
                    .iter()
                    .filter_map(|s| s.id().map(str::to_owned))
                    .collect(),
                Err(err) => {
                    tracing::warn!(error = %aws_sdk_sns::error::DisplayErrorContext(err), "bridge: SNS refused a batch; retrying");
                    HashSet::new()
                }
            };
            let mut still = Vec::new();
            for p in pending {
                if p.entry.id() == "" || !accepted.contains(p.entry.id()) {
                    still.push(p);
                    continue;
                }
                p.delivery.ack(BasicAckOptions::default()).await?;
                self.metrics.forwarded.inc();
                if let Some(lag) = event_age(&p.delivery) {
                    self.metrics.lag_seconds.set(lag);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            self.metrics
                .failures
                .inc_by(u64::try_from(pending.len()).unwrap_or(0));
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return Ok(()),
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        channel: &lapin::Channel,
        delivery: &Delivery,
        reason: &str,
    ) -> Result<(), MessagingError> {
        tracing::warn!(reason, "bridge: parking a message SNS cannot take");
        messaging::park(channel, delivery, &self.topology.dlq(), reason, &[]).await?;
        delivery.ack(BasicAckOptions::default()).await?;
        self.metrics.dead_lettered.inc();
        Ok(())
    }
}

/// Seconds since the event was created (its CloudEvents `time`).
fn event_age(delivery: &Delivery) -> Option<f64> {
    let time = messaging::header_text(delivery.properties.headers().as_ref(), "cloudEvents:time")?;
    let at =
        time::OffsetDateTime::parse(&time, &time::format_description::well_known::Rfc3339).ok()?;
    Some(
        (time::OffsetDateTime::now_utc() - at)
            .as_seconds_f64()
            .max(0.0),
    )
}
