//! `batch::process` on an SQS event as Lambda delivers it (`fixtures/sqs_batch.json`): every
//! record is handled, in order, and the answer lists exactly the failed records' ids, which is
//! what makes SQS redeliver only those (`ReportBatchItemFailures`).

use std::cell::{Cell, RefCell};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use function_kit::batch::{RecordError, process};

fn fixture() -> SqsEvent {
    serde_json::from_str(include_str!("fixtures/sqs_batch.json"))
        .expect("fixtures/sqs_batch.json is an SQS event")
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// The Lambda answer as JSON: the shape the runtime returns to the event source mapping.
fn answer(response: &SqsBatchResponse) -> serde_json::Value {
    serde_json::to_value(response).expect("the batch response serialises")
}

#[tokio::test]
async fn a_batch_that_succeeds_reports_no_failures() {
    let seen = RefCell::new(Vec::new());
    let response = process(fixture(), |record: SqsMessage| {
        seen.borrow_mut().push(record.body.unwrap_or_default());
        async { Ok(()) }
    })
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        answer(&response),
        serde_json::json!({"batchItemFailures": []})
    );
    assert_eq!(
        *seen.borrow(),
        [
            "{\"id\":\"evt-1\"}",
            "{\"id\":\"evt-2\"}",
            "not json at all"
        ],
        "every record is handled once, in the order of the batch"
    );
}

#[tokio::test]
async fn only_the_failed_records_are_reported_whatever_the_kind_of_failure() {
    let response = process(fixture(), |record: SqsMessage| async move {
        let body = record.body.unwrap_or_default();
        if body.contains("evt-2") {
            return Err(RecordError::Retryable("SES throttled".into()));
        }
        if serde_json::from_str::<serde_json::Value>(&body).is_err() {
            return Err(RecordError::Unprocessable("not JSON".into()));
        }
        Ok(())
    })
    .await;
    assert_eq!(
        failed_ids(&response),
        [
            "3f1c1bde-4d1b-4a53-9d1a-5f0f3a0b1a02",
            "3f1c1bde-4d1b-4a53-9d1a-5f0f3a0b1a03"
        ]
    );
    assert_eq!(
        answer(&response),
        serde_json::json!({"batchItemFailures": [
            {"itemIdentifier": "3f1c1bde-4d1b-4a53-9d1a-5f0f3a0b1a02"},
            {"itemIdentifier": "3f1c1bde-4d1b-4a53-9d1a-5f0f3a0b1a03"}
        ]})
    );
}

#[tokio::test]
async fn a_failure_does_not_stop_the_records_after_it() {
    let handled = Cell::new(0_usize);
    let response = process(fixture(), |record: SqsMessage| {
        handled.set(handled.get() + 1);
        let first = record.message_id.as_deref() == Some("3f1c1bde-4d1b-4a53-9d1a-5f0f3a0b1a01");
        async move {
            if first {
                Err(RecordError::Retryable("table unavailable".into()))
            } else {
                Ok(())
            }
        }
    })
    .await;
    assert_eq!(handled.get(), 3);
    assert_eq!(
        failed_ids(&response),
        ["3f1c1bde-4d1b-4a53-9d1a-5f0f3a0b1a01"]
    );
}

#[tokio::test]
async fn an_empty_batch_answers_an_empty_list() {
    let event: SqsEvent =
        serde_json::from_str(r#"{"Records": []}"#).expect("an empty SQS event parses");
    let response = process(event, |_record: SqsMessage| async { Ok(()) }).await;
    assert_eq!(
        answer(&response),
        serde_json::json!({"batchItemFailures": []})
    );
}
