//! What analytics records for an SQS batch as Lambda delivers it (`fixtures/sqs_batch.json`:
//! events the bridge published to SNS, delivered raw to the `retail-dev-analytics` queue), with
//! no AWS at all: [`analytics::documents`] turns one body into CloudWatch Embedded Metric Format
//! documents and [`analytics::handle`] prints them and answers the batch.
//!
//! The batch holds, in order: `order.placed`, `payment.captured`, `order.confirmed` and
//! `order.cancelled` of a declined payment, `payment.refunded`, an `order.shipped` (no business
//! figure), and a `payment.captured` whose amount a producer wrote as a decimal string (fourth
//! receive).

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use function_kit::batch::RecordError;
use serde_json::{Value, json};

const NAMESPACE: &str = "Retail/Business";

fn fixture() -> SqsEvent {
    serde_json::from_str(include_str!("fixtures/sqs_batch.json"))
        .expect("fixtures/sqs_batch.json is an SQS event")
}

fn body(record: &SqsMessage) -> &[u8] {
    record.body.as_deref().unwrap_or_default().as_bytes()
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .expect("milliseconds since 1970 fit an i64")
}

#[test]
fn each_business_event_becomes_one_emf_document() {
    let event = fixture();
    let before = now_ms();
    // (metric, value, unit, dimension, dimension value) per record.
    let expected = [
        ("OrdersPlaced", 1.0, "Count", "Currency", "EUR"),
        ("Revenue", 5998.0, "None", "Currency", "EUR"),
        ("OrdersConfirmed", 1.0, "Count", "Currency", "EUR"),
        (
            "OrdersCancelled",
            1.0,
            "Count",
            "Reason",
            "payment_declined",
        ),
        ("Refunds", 1999.0, "None", "Currency", "EUR"),
    ];
    for (record, (metric, value, unit, dimension, dimension_value)) in
        event.records.iter().zip(expected)
    {
        let docs = analytics::documents(NAMESPACE, body(record)).expect("a business event");
        assert_eq!(docs.len(), 1, "{metric}: {docs:?}");
        let doc = &docs[0];
        assert_eq!(doc[metric], value, "{doc}");
        assert_eq!(doc[dimension], dimension_value, "{doc}");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"],
            json!([{
                "Namespace": NAMESPACE,
                "Dimensions": [[dimension]],
                "Metrics": [{"Name": metric, "Unit": unit}]
            }]),
            "{doc}"
        );
        let at = doc["_aws"]["Timestamp"].as_i64().expect("a timestamp");
        assert!(
            at >= before && at <= now_ms(),
            "{at}: stamped when recorded"
        );
        let fields: Vec<&String> = doc.as_object().expect("an object").keys().collect();
        assert_eq!(
            fields.len(),
            3,
            "only _aws, the metric and its dimension: {fields:?}"
        );
    }
}

#[test]
fn an_event_type_without_a_business_figure_yields_nothing() {
    let event = fixture();
    let shipped = &event.records[5];
    assert_eq!(
        shipped
            .message_attributes
            .get("event_type")
            .and_then(|a| a.string_value.as_deref()),
        Some("order.shipped")
    );
    let docs = analytics::documents(NAMESPACE, body(shipped)).expect("ignored, not failed");
    assert!(docs.is_empty(), "{docs:?}");
}

#[test]
fn malformed_events_are_unprocessable() {
    let event = fixture();
    match analytics::documents(NAMESPACE, body(&event.records[6])) {
        Err(RecordError::Unprocessable(reason)) => {
            assert!(
                reason.contains("invalid type: string \"24.99\""),
                "{reason}"
            );
        }
        other => panic!("an amount written as a string: {other:?}"),
    }
    for broken in [
        &b"not json"[..],
        b"",
        br#"{"specversion":"1.0","type":"order.placed"}"#,
    ] {
        assert!(
            matches!(
                analytics::documents(NAMESPACE, broken),
                Err(RecordError::Unprocessable(_))
            ),
            "{}",
            String::from_utf8_lossy(broken)
        );
    }
}

#[tokio::test]
async fn the_handler_reports_only_the_malformed_record() {
    let response = analytics::handle(NAMESPACE, fixture()).await;
    let answer: Value = serde_json::to_value(&response).expect("the batch response serialises");
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "0caf5663-c6f3-462d-af73-536720fbd086"}]}),
        "the six good records are done (the shipped one with nothing to record); the bad one goes back and on to the DLQ"
    );
}
