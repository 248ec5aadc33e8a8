//! What the dispatcher decides for an SQS batch as Lambda delivers it
//! (`fixtures/sqs_batch.json`: events the bridge published to SNS, delivered raw to the
//! `retail-dev-webhook-dispatcher` queue), without AWS or HTTP: which event a record carries
//! ([`incoming`]), the signed request an endpoint gets ([`signed_request`], with the endpoint
//! secret as Secrets Manager holds it mid-rotation: `fixtures/endpoint_secret.json`), how its
//! answer ends the attempt ([`outcome_of`]) and how long a retried record waits ([`backoff`]).
//!
//! The batch holds, in order: a `stock.low`, a `payment.captured` on its third receive, a
//! `user.password_reset_requested` (an account event, which the filter policy should have kept
//! away), and a record whose body is SNS's JSON envelope (what arrives if raw message delivery
//! is off).

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use function_kit::batch::{RecordError, process};
use webhook_dispatcher::signing::{StoredSecret, key_bytes, verify};
use webhook_dispatcher::{MAX_BACKOFF, Outcome, backoff, incoming, outcome_of, signed_request};
use webhooks::store::Endpoint;

const STOCK_LOW_EVENT: &str = "019ceba0-af76-7846-9bf1-899a391cfa5f";
/// When the delivery is signed (2026-03-14T09:15:03Z), inside the rotation's grace period.
const SIGNED_AT: i64 = 1_773_479_703;
/// When the previous secret stops signing (`previous_until` in the fixture).
const GRACE_ENDS: i64 = 1_773_565_200;

fn fixture() -> SqsEvent {
    serde_json::from_str(include_str!("fixtures/sqs_batch.json"))
        .expect("fixtures/sqs_batch.json is an SQS event")
}

fn record(index: usize) -> SqsMessage {
    fixture().records.remove(index)
}

fn secret() -> StoredSecret {
    StoredSecret::parse(include_str!("fixtures/endpoint_secret.json"))
}

fn endpoint() -> Endpoint {
    Endpoint {
        id: "019ceda1-5e20-7b43-9c1d-2f7a8e6b0c91".into(),
        url: "https://hooks.nordlicht-erp.example/retail/webhooks".into(),
    }
}

fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn an_event_is_signed_for_its_endpoint_with_both_secrets_during_a_rotation() {
    let record = record(0);
    let event = incoming(&record)
        .expect("an event")
        .expect("stock.low is delivered");
    assert_eq!(event.attributes.id, STOCK_LOW_EVENT);
    assert_eq!(event.attributes.event_type, "stock.low");
    assert_eq!(event.attempt, 1);
    assert_eq!(Some(event.body.as_str()), record.body.as_deref());

    let stored = secret();
    let keys = stored
        .keys(SIGNED_AT)
        .expect("the stored secrets are base64");
    assert_eq!(keys.len(), 2, "the new and the previous secret");
    let request = signed_request(
        &endpoint(),
        &event.attributes.id,
        event.body.as_bytes(),
        &keys,
        SIGNED_AT,
    );
    assert_eq!(
        request.url,
        "https://hooks.nordlicht-erp.example/retail/webhooks"
    );
    let names: Vec<&str> = request.headers.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "content-type",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature"
        ]
    );
    assert_eq!(header(&request.headers, "content-type"), "application/json");
    assert_eq!(header(&request.headers, "webhook-id"), STOCK_LOW_EVENT);
    assert_eq!(header(&request.headers, "webhook-timestamp"), "1773479703");
    assert_eq!(
        request.body,
        record.body.as_deref().unwrap_or_default().as_bytes(),
        "the event goes out unchanged"
    );
    let signature = header(&request.headers, "webhook-signature");
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    assert!(
        signature.split(' ').all(|s| s.starts_with("v1,")),
        "{signature}"
    );
    // What a partner does with either secret: both verify during the grace period.
    for secret in [Some(&stored.current), stored.previous.as_ref()] {
        let key = key_bytes(secret.expect("both secrets are stored")).expect("base64");
        assert!(verify(
            &key,
            STOCK_LOW_EVENT,
            SIGNED_AT,
            &request.body,
            signature
        ));
    }
    // Any change to the body, id or time breaks it.
    let current = key_bytes(&stored.current).expect("base64");
    assert!(!verify(
        &current,
        STOCK_LOW_EVENT,
        SIGNED_AT,
        b"{}",
        signature
    ));
    assert!(!verify(
        &current,
        "019ceba0-0000-7000-8000-000000000000",
        SIGNED_AT,
        &request.body,
        signature
    ));
    assert!(!verify(
        &current,
        STOCK_LOW_EVENT,
        SIGNED_AT + 1,
        &request.body,
        signature
    ));
}

#[test]
fn after_the_grace_period_only_the_current_secret_signs() {
    let event = incoming(&record(0)).expect("an event").expect("delivered");
    let stored = secret();
    let keys = stored.keys(GRACE_ENDS).expect("base64");
    assert_eq!(keys.len(), 1);
    let request = signed_request(
        &endpoint(),
        &event.attributes.id,
        event.body.as_bytes(),
        &keys,
        GRACE_ENDS,
    );
    let signature = header(&request.headers, "webhook-signature");
    let current = key_bytes(&stored.current).expect("base64");
    let previous = key_bytes(stored.previous.as_deref().expect("a previous secret")).expect("b64");
    assert!(verify(
        &current,
        STOCK_LOW_EVENT,
        GRACE_ENDS,
        &request.body,
        signature
    ));
    assert!(!verify(
        &previous,
        STOCK_LOW_EVENT,
        GRACE_ENDS,
        &request.body,
        signature
    ));
}

#[test]
fn the_receive_count_is_the_attempt_and_sets_the_backoff() {
    let third = record(1);
    let event = incoming(&third).expect("an event").expect("delivered");
    assert_eq!(event.attributes.event_type, "payment.captured");
    assert_eq!(event.attempt, 3, "ApproximateReceiveCount");
    assert_eq!(backoff(event.attempt, None), Duration::from_secs(40));
    assert_eq!(
        backoff(event.attempt, Some(Duration::from_secs(120))),
        Duration::from_secs(120),
        "no sooner than the endpoint's Retry-After"
    );
    assert_eq!(backoff(1, None), Duration::from_secs(10));
    assert_eq!(backoff(2, None), Duration::from_secs(20));
    assert_eq!(backoff(40, None), MAX_BACKOFF);
    assert_eq!(backoff(1, Some(Duration::from_secs(86_400))), MAX_BACKOFF);

    let mut without = third;
    without.attributes.clear();
    let event = incoming(&without).expect("an event").expect("delivered");
    assert_eq!(event.attempt, 1, "no receive count: the first attempt");
}

#[test]
fn endpoint_answers_decide_the_outcome() {
    for (status, retry_after, expected) in [
        (200, None, Outcome::Delivered),
        (204, None, Outcome::Delivered),
        (410, None, Outcome::Disabled),
        (
            429,
            Some("30"),
            Outcome::Retry(Some(Duration::from_secs(30))),
        ),
        (
            503,
            Some(" 120 "),
            Outcome::Retry(Some(Duration::from_secs(120))),
        ),
        (500, None, Outcome::Retry(None)),
        // An HTTP date is not read: the record backs off exponentially instead.
        (
            503,
            Some("Sat, 14 Mar 2026 09:20:00 GMT"),
            Outcome::Retry(None),
        ),
        (301, None, Outcome::Rejected),
        (400, None, Outcome::Rejected),
        (401, None, Outcome::Rejected),
        (404, None, Outcome::Rejected),
    ] {
        assert_eq!(
            outcome_of(status, retry_after),
            expected,
            "{status} {retry_after:?}"
        );
    }
    assert_eq!(Outcome::Retry(None).label(), "retrying");
    assert_eq!(Outcome::Rejected.label(), "failed");
}

#[test]
fn account_events_are_never_delivered_and_sns_envelopes_are_unprocessable() {
    let account = record(2);
    assert_eq!(
        account
            .message_attributes
            .get("event_type")
            .and_then(|a| a.string_value.as_deref()),
        Some("user.password_reset_requested")
    );
    assert_eq!(incoming(&account).expect("ignored, not failed"), None);

    match incoming(&record(3)) {
        Err(RecordError::Unprocessable(reason)) => {
            assert!(reason.contains("missing field `id`"), "{reason}");
        }
        other => panic!("an SNS envelope is not an event: {other:?}"),
    }
    let mut empty = record(0);
    empty.body = None;
    assert!(matches!(
        incoming(&empty),
        Err(RecordError::Unprocessable(_))
    ));
}

#[tokio::test]
async fn the_batch_reports_only_the_record_that_is_not_an_event() {
    let response = process(fixture(), |record: SqsMessage| {
        let read = incoming(&record).map(|_| ());
        async move { read }
    })
    .await;
    assert_eq!(
        serde_json::to_value(&response).expect("the batch response serialises"),
        serde_json::json!({"batchItemFailures": [
            {"itemIdentifier": "9c9520ae-a05e-45f6-9cc3-1afc760ef18e"}
        ]})
    );
}
