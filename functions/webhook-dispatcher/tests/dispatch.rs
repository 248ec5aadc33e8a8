//! The dispatcher against moto (DynamoDB, Secrets Manager, SQS) and partner endpoints served
//! by the test: signed deliveries, a redelivery that skips delivered endpoints, 410 disabling,
//! 503 with Retry-After retried with the visibility extended.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse as _;
use axum::routing::post;
use events::Envelope;
use events::payloads::StockLow;
use function_kit::topology::{Topology, ensure};
use webhook_dispatcher::{Dispatcher, signing};

type Seen = Arc<tokio::sync::Mutex<Vec<(String, bool)>>>;

#[tokio::test]
async fn events_are_signed_delivered_once_retried_on_503_and_410_disables() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("w{}-", &id[..12]);
    let config = function_kit::aws::for_endpoint(&function_kit::aws::test_endpoint()).await;
    let created = ensure(&config, &Topology::committed().unwrap(), &prefix)
        .await
        .unwrap();
    let subscriptions = created.tables["webhook-subscriptions"].clone();
    let deliveries = created.tables["webhook-deliveries"].clone();
    let secret_prefix = format!("{prefix}webhooks/");
    let dispatcher =
        Dispatcher::new(&config, &subscriptions, &deliveries, &secret_prefix, true).unwrap();

    // Partner endpoints: /ok verifies the signature; /flaky answers 503 once; /gone answers 410.
    let key = b"partner-secret-key-0123456789abcdef".to_vec();
    let seen: Seen = Arc::default();
    let flaky_calls = Arc::new(AtomicU32::new(0));
    let app = {
        let seen = seen.clone();
        let key = key.clone();
        let flaky_calls = flaky_calls.clone();
        axum::Router::new()
            .route(
                "/ok",
                post(move |headers: HeaderMap, body: axum::body::Bytes| {
                    let seen = seen.clone();
                    let key = key.clone();
                    async move {
                        let id = headers["webhook-id"].to_str().unwrap().to_owned();
                        let ts: i64 = headers["webhook-timestamp"]
                            .to_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        let valid = signing::verify(
                            &key,
                            &id,
                            ts,
                            &body,
                            headers["webhook-signature"].to_str().unwrap(),
                        );
                        seen.lock().await.push((id, valid));
                        StatusCode::NO_CONTENT
                    }
                }),
            )
            .route(
                "/flaky",
                post(move || {
                    let flaky_calls = flaky_calls.clone();
                    async move {
                        let calls = flaky_calls.fetch_add(1, Ordering::SeqCst) + 1;
                        if calls == 1 {
                            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "30")])
                                .into_response()
                        } else {
                            (StatusCode::OK, [("retry-after", "0")]).into_response()
                        }
                    }
                }),
            )
            .route("/gone", post(|| async { StatusCode::GONE }))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    for (sub, path) in [
        ("sub-ok", "/ok"),
        ("sub-flaky", "/flaky"),
        ("sub-gone", "/gone"),
    ] {
        dynamo
            .put_item()
            .table_name(&subscriptions)
            .item("event_type", AttributeValue::S("stock.low".into()))
            .item("subscription_id", AttributeValue::S(sub.into()))
            .item("url", AttributeValue::S(format!("http://{addr}{path}")))
            .item("status", AttributeValue::S("active".into()))
            .send()
            .await
            .unwrap();
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&key);
        secrets
            .create_secret()
            .name(format!("{secret_prefix}{sub}"))
            .secret_string(format!("whsec_{encoded}"))
            .send()
            .await
            .unwrap();
    }
    // A queue so the visibility extension has something to act on.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = created.queue_urls["webhook-dispatcher"].clone();
    let envelope = Envelope::new(
        "/inventory",
        "SKU-1",
        None,
        StockLow {
            sku: "SKU-1".into(),
            available: 1,
            threshold: 5,
        },
    );
    let body = String::from_utf8(envelope.to_json().unwrap()).unwrap();
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(&body)
        .send()
        .await
        .unwrap();
    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let message = &received.messages()[0];
    let mut record = SqsMessage::default();
    record.message_id = message.message_id().map(str::to_owned);
    record.receipt_handle = message.receipt_handle().map(str::to_owned);
    record.body = Some(body.clone());
    record.event_source_arn = Some(format!(
        "arn:aws:sqs:us-east-1:123456789012:{prefix}webhook-dispatcher"
    ));
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), "1".into());
    let mut batch = SqsEvent::default();
    batch.records = vec![record.clone()];

    // First delivery: /ok gets it signed, /gone disables its subscription, /flaky asks for a retry.
    let response = dispatcher.handle(batch.clone()).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "the record is retried because of /flaky"
    );
    let gone = dynamo
        .get_item()
        .table_name(&subscriptions)
        .key("event_type", AttributeValue::S("stock.low".into()))
        .key("subscription_id", AttributeValue::S("sub-gone".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.item().unwrap()["status"].as_s().unwrap(), "disabled");

    // Redelivered: /ok is not called again, /flaky now succeeds, /gone is no longer subscribed.
    let response = dispatcher.handle(batch).await;
    assert!(response.batch_item_failures.is_empty());
    let calls = seen.lock().await.clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0],
        (envelope.id.clone(), true),
        "the signature verifies"
    );
    assert_eq!(flaky_calls.load(Ordering::SeqCst), 2);

    let (flaky_log, _) = dispatcher
        .store
        .deliveries("sub-flaky", 10, None)
        .await
        .unwrap();
    let outcomes: Vec<&str> = flaky_log.iter().map(|d| d.outcome.as_str()).collect();
    assert_eq!(outcomes, ["delivered", "retrying"]);
    assert_eq!(flaky_log[1].status_code, Some(503));
    assert_eq!(flaky_log[1].attempt, 1);
    let (gone_log, _) = dispatcher
        .store
        .deliveries("sub-gone", 10, None)
        .await
        .unwrap();
    assert_eq!(gone_log.len(), 1);
    assert_eq!(gone_log[0].outcome, "disabled");
}
