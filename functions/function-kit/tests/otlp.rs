//! A batch's record spans reach an OTLP/HTTP receiver before `process` answers (Lambda may
//! freeze the process right after), as children of the trace each record carries; a trace its
//! caller did not sample is not exported. Its own test binary: it installs the global
//! subscriber.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use axum::body::Bytes;
use axum::routing::post;
use function_kit::batch::{self, RecordError};
use function_kit::telemetry::{self, Logs};

fn bytes_of(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn record(id: &str, traceparent: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(id.into());
    record.body = Some("{}".into());
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = Some(traceparent.into());
    attribute.data_type = Some("String".into());
    record
        .message_attributes
        .insert(function_kit::trace::ATTRIBUTE.into(), attribute);
    record
}

#[tokio::test]
async fn a_batch_exports_its_spans_in_the_callers_trace_before_it_answers() {
    let received = Arc::new(tokio::sync::Mutex::new(Vec::<u8>::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().await.extend_from_slice(&body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    telemetry::init_with(
        "otlp-test-fn",
        Logs::Stderr,
        Some(&format!("http://{addr}")),
    )
    .unwrap();

    let sampled = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let unsampled = "5cf92f3577b34da6a3ce929d0e0e4737";
    let mut event = SqsEvent::default();
    event.records = vec![
        record("m-1", &format!("00-{sampled}-{parent}-01")),
        record("m-2", &format!("00-{unsampled}-1111111111111111-00")),
    ];
    let response = batch::process(event, |_| async {
        tracing::info!("handled");
        Ok::<(), RecordError>(())
    })
    .await;
    assert!(response.batch_item_failures.is_empty());

    // No waiting: `process` flushed before answering.
    let exported = received.lock().await.clone();
    assert!(!exported.is_empty(), "nothing was exported");
    assert!(
        contains(&exported, &bytes_of(sampled)),
        "the record's trace id"
    );
    assert!(
        contains(&exported, &bytes_of(parent)),
        "the publisher's span as parent"
    );
    assert!(contains(&exported, b"process sqs record"));
    assert!(contains(&exported, b"otlp-test-fn"), "the service name");
    assert!(
        !contains(&exported, &bytes_of(unsampled)),
        "an unsampled trace"
    );
}
