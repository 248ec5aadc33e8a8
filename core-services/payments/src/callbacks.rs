//! Stripe's webhook events from SQS: in AWS the psp-webhook function verifies each event and
//! queues it on `payments-psp-callbacks`, its `Stripe-Signature` in a message attribute. This
//! poller verifies the signature again (as of the time SQS received the message, so a queue
//! backlog does not make a genuine event stale), applies the event ([`crate::webhooks`]), and
//! deletes the message only when that worked. An event that could not be applied yet stays in
//! the queue and comes back; the queue's redrive policy parks what never works.

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use psp_signature::Secrets;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::provider::Provider;
use crate::webhooks;

/// The poller.
#[derive(Debug, Clone)]
pub struct CallbackQueue {
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// Queue URL.
    pub queue_url: String,
    /// PostgreSQL.
    pub pool: PgPool,
    /// The provider (to void late approvals of cancelled orders).
    pub provider: Provider,
    /// The webhook signing secrets.
    pub secrets: Secrets,
    /// Long-poll wait.
    pub wait: Duration,
}

impl CallbackQueue {
    /// Polls until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            tokio::select! {
                polled = self.poll_once() => {
                    if let Err(err) = polled {
                        tracing::warn!(error = %err, "callback queue: poll failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One receive; returns how many callbacks were applied.
    pub async fn poll_once(&self) -> anyhow::Result<usize> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(i32::try_from(self.wait.as_secs()).unwrap_or(1))
            .message_attribute_names(psp_signature::MESSAGE_ATTRIBUTE)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let mut applied = 0;
        for message in output.messages() {
            let body = message.body().unwrap_or_default();
            let signature = message
                .message_attributes()
                .and_then(|a| a.get(psp_signature::MESSAGE_ATTRIBUTE))
                .and_then(|v| v.string_value())
                .unwrap_or_default();
            let sent = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|ms| ms.parse::<i64>().ok())
                .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1000).ok())
                .unwrap_or_else(time::OffsetDateTime::now_utc);
            let result = webhooks::receive(
                &self.pool,
                &self.provider,
                &self.secrets,
                signature,
                body.as_bytes(),
                sent,
            )
            .await;
            match result {
                Ok(()) => {
                    applied += 1;
                    if let Some(handle) = message.receipt_handle() {
                        self.sqs
                            .delete_message()
                            .queue_url(&self.queue_url)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .map_err(|e| {
                                anyhow::anyhow!(
                                    aws_sdk_sqs::error::DisplayErrorContext(e).to_string()
                                )
                            })?;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "webhook event not applied; it will come back");
                }
            }
        }
        Ok(applied)
    }
}
