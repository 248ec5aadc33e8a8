//! A local event source mapping: what AWS Lambda does between an SQS queue and a function,
//! for `cargo lambda watch` on a developer machine. It long-polls the queue, invokes the
//! function over the Lambda invoke API with an `SqsEvent` batch, deletes the records the
//! function did not report in `batchItemFailures` (`ReportBatchItemFailures`), and leaves the
//! others to become visible again (the queue's redrive policy moves them to the DLQ after
//! `maxReceiveCount` receives). A failed invocation leaves the whole batch.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use tokio::sync::watch;

/// One queue -> function mapping.
#[derive(Debug, Clone)]
pub struct EventSourceMapping {
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// Queue URL.
    pub queue_url: String,
    /// Queue ARN (`eventSourceARN` of the records).
    pub queue_arn: String,
    /// `http://127.0.0.1:9000/2015-03-31/functions/<name>/invocations`.
    pub invoke_url: String,
    /// Records per invocation (1 to 10).
    pub batch_size: i32,
    /// HTTP client for invocations.
    pub http: reqwest::Client,
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polled {
    /// Records received.
    pub received: usize,
    /// Records deleted (handled).
    pub deleted: usize,
}

impl EventSourceMapping {
    /// Polls until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            tokio::select! {
                polled = self.poll_once(Duration::from_secs(2)) => {
                    if let Err(err) = polled {
                        tracing::warn!(queue = %self.queue_url, error = %err, "event source mapping: poll failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Receives one batch (waiting up to `wait`), invokes the function, deletes what it handled.
    pub async fn poll_once(&self, wait: Duration) -> anyhow::Result<Polled> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(1))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let messages = output.messages();
        if messages.is_empty() {
            return Ok(Polled::default());
        }
        let mut event = SqsEvent::default();
        for m in messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id().map(str::to_owned);
            record.receipt_handle = m.receipt_handle().map(str::to_owned);
            record.body = m.body().map(str::to_owned);
            record.md5_of_body = m.md5_of_body().map(str::to_owned);
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(self.queue_arn.clone());
            record.aws_region = Some("us-east-1".into());
            if let Some(attributes) = m.attributes() {
                for (k, v) in attributes {
                    record.attributes.insert(k.as_str().to_owned(), v.clone());
                }
            }
            if let Some(attributes) = m.message_attributes() {
                for (k, v) in attributes {
                    let mut value = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
                    value.string_value = v.string_value().map(str::to_owned);
                    value.data_type = Some(v.data_type().to_owned());
                    record.message_attributes.insert(k.clone(), value);
                }
            }
            event.records.push(record);
        }
        let received = event.records.len();
        let response = self.http.post(&self.invoke_url).json(&event).send().await?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            tracing::warn!(%status, error = %text, "function failed; the batch will be delivered again");
            return Ok(Polled {
                received,
                deleted: 0,
            });
        }
        let answer: SqsBatchResponse = response.json().await.unwrap_or_default();
        let failed: Vec<String> = answer
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.iter().any(|f| Some(f.as_str()) == m.message_id()))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        let deleted = entries.len();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
        }
        Ok(Polled { received, deleted })
    }
}
