//! The local event source mapping against moto's SQS and a stub function that fails some
//! records: handled records are deleted, failed ones come back and reach the DLQ after
//! `maxReceiveCount` receives.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use axum::Json;
use axum::routing::post;
use function_kit::local::EventSourceMapping;

async fn arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

#[tokio::test]
async fn handled_records_are_deleted_and_failed_ones_retried_then_dead_lettered() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let config = function_kit::aws::for_endpoint(&function_kit::aws::test_endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dlq = sqs
        .create_queue()
        .queue_name(format!("esm-{id}-dlq"))
        .send()
        .await
        .unwrap();
    let dlq_url = dlq.queue_url().unwrap().to_owned();
    let redrive = serde_json::json!({"deadLetterTargetArn": arn(&sqs, &dlq_url).await, "maxReceiveCount": "2"});
    let queue = sqs
        .create_queue()
        .queue_name(format!("esm-{id}"))
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .unwrap();
    let url = queue.queue_url().unwrap().to_owned();
    for body in ["ok-1", "fail-1", "ok-2"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    // A stand-in for `cargo lambda watch`: fails the records whose body starts with "fail".
    let invocations = Arc::new(AtomicUsize::new(0));
    let counter = invocations.clone();
    let app = axum::Router::new().route(
        "/2015-03-31/functions/stub/invocations",
        post(move |Json(event): Json<SqsEvent>| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                let mut response = SqsBatchResponse::default();
                for record in event.records {
                    assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
                    if record.body.unwrap_or_default().starts_with("fail") {
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = record.message_id.unwrap_or_default();
                        response.batch_item_failures.push(failure);
                    }
                }
                Json(response)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let esm = EventSourceMapping {
        sqs: sqs.clone(),
        queue_url: url.clone(),
        queue_arn: arn(&sqs, &url).await,
        invoke_url: format!("http://{addr}/2015-03-31/functions/stub/invocations"),
        batch_size: 10,
        http: reqwest::Client::new(),
    };
    let first = esm.poll_once(Duration::from_secs(1)).await.unwrap();
    assert_eq!((first.received, first.deleted), (3, 2));
    // The failed record becomes visible again after the visibility timeout, fails again, and
    // after its second receive the queue's redrive policy parks it.
    let mut parked = Vec::new();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let polled = esm.poll_once(Duration::from_secs(1)).await.unwrap();
        assert_eq!(polled.deleted, 0);
        let output = sqs
            .receive_message()
            .queue_url(&dlq_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        parked.extend(
            output
                .messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_owned)),
        );
        if !parked.is_empty() {
            break;
        }
    }
    assert_eq!(parked, ["fail-1"]);
    assert!(invocations.load(Ordering::Relaxed) >= 2);
}
