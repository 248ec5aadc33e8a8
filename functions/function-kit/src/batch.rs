//! SQS batches with partial failures: each record is handled on its own; the answer lists only
//! the records that failed, which SQS makes visible again (and moves to the DLQ after
//! `maxReceiveCount`). Requires `ReportBatchItemFailures` on the event source mapping. Each
//! record is handled inside a span carrying its trace context ([`crate::trace`]).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument as _;

/// Why one record failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Worth another delivery (a dependency failed).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will never work; logged and reported as failed so it reaches the DLQ after its retries.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
}

/// Handles every record with `handle`, in order, and reports the failed ones.
pub async fn process<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let span = crate::trace::record_span(&record);
        if let Err(err) = handle(record).instrument(span).await {
            tracing::warn!(message = %id, error = %err, "record failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    // Lambda may freeze the process once this returns: export the batch's spans first.
    crate::telemetry::flush().await;
    response
}
