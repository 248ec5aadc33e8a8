//! What the notifier decides for an SQS batch as Lambda delivers it (`fixtures/sqs_batch.json`:
//! events the bridge published to SNS, delivered raw to the `retail-dev-notifier` queue with
//! the bridge's message attributes), without AWS: [`notifier::plan`] is the part of the handler
//! before the idempotency claims, SES and SNS.
//!
//! The batch holds, in order: an `order.confirmed` for a German customer who opted in to SMS,
//! a `user.password_reset_requested` with a sealed token, the same `order.confirmed` published
//! a second time by the bridge (another SQS message, the same event), a `stock.low` (not a
//! notification), a `payment.refunded` without contact details, an `order.cancelled` missing its
//! contact snapshot (second receive), and a password reset whose token was sealed for another
//! account.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use events::sealed::SealKey;
use function_kit::batch::{RecordError, process};
use notifier::{AccountLinks, Email, Plan, Sms, plan};

/// The account token key of the fixture's sealed tokens (shared with the users service).
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const ORDER: &str = "019ceba0-3596-770b-8231-74d06cde3e3a";
const CONFIRMED_EVENT: &str = "019ceba0-af91-7aef-af7a-3a52da987a82";
const RESET_EVENT: &str = "019cebbc-1e2c-7435-8cce-26321b7f206b";
/// The token sealed in the reset event.
const RESET_TOKEN: &str = "klQ5NJb2wVupDZovdUvXLau8aOFdGJduZ7sw4--4zTc";

fn fixture() -> SqsEvent {
    serde_json::from_str(include_str!("fixtures/sqs_batch.json"))
        .expect("fixtures/sqs_batch.json is an SQS event")
}

fn record(index: usize) -> SqsMessage {
    fixture().records.remove(index)
}

fn links() -> AccountLinks {
    AccountLinks::new(
        SealKey::from_base64(KEY).expect("the fixture key is 32 bytes of base64"),
        "https://shop.retail-platform.dev/account/",
    )
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[test]
fn an_order_confirmation_becomes_an_email_and_an_sms_in_the_customers_language() {
    let record = record(0);
    let planned = plan(&record, &links()).expect("a confirmed order is planned");
    let subject = format!("Ihre Bestellung {ORDER} ist bestätigt");
    let line = format!(
        "wir haben Ihre Zahlung über 59.98 EUR erhalten und bereiten Ihre Bestellung {ORDER} vor."
    );
    assert_eq!(
        planned,
        Plan {
            email: Some(Email {
                claim: format!("{CONFIRMED_EVENT}#email"),
                to: "joerg.mueller@example.de".into(),
                subject: subject.clone(),
                text: format!("Hallo Jörg Müller,\n\n{line}\n\nIhr Retail-Platform-Team\n"),
                html: format!(
                    "<!doctype html><html lang=\"de\"><body><p>Hallo Jörg Müller,</p><p>{line}</p><p>Ihr Retail-Platform-Team</p></body></html>"
                ),
            }),
            sms: Some(Sms {
                claim: format!("{CONFIRMED_EVENT}#sms"),
                to: "+4915112345678".into(),
                text: format!("{subject}."),
            }),
        }
    );
    // The work is logged in the trace of the checkout that caused it: the bridge copies the
    // event's trace context into the `traceparent` message attribute.
    let parent = function_kit::trace::of_record(&record).expect("the record carries a trace");
    let body: serde_json::Value =
        serde_json::from_str(record.body.as_deref().expect("the record has a body"))
            .expect("the body is the CloudEvents JSON itself (raw message delivery)");
    assert_eq!(
        body["traceparent"].as_str(),
        Some(format!("00-{}-{}-01", parent.trace_id, parent.parent_id).as_str())
    );
}

#[test]
fn a_password_reset_is_emailed_with_the_opened_token_in_its_link() {
    let planned = plan(&record(1), &links()).expect("a reset request is planned");
    let link =
        format!("https://shop.retail-platform.dev/account/reset-password?token={RESET_TOKEN}");
    assert_eq!(
        planned.email,
        Some(Email {
            claim: format!("{RESET_EVENT}#email"),
            to: "ana.silva@example.com".into(),
            subject: "Set a new password".into(),
            text: format!(
                "Hello Ana Silva,\n\nuse this link to set a new password (it works once, until 2026-03-14 10:15 UTC). If you did not ask for it, ignore this email:\n{link}\n\nThe retail-platform team\n"
            ),
            html: format!(
                "<!doctype html><html lang=\"en\"><body><p>Hello Ana Silva,</p><p>use this link to set a new password (it works once, until 2026-03-14 10:15 UTC). If you did not ask for it, ignore this email:</p><p><a href=\"{link}\">{link}</a></p><p>The retail-platform team</p></body></html>"
            ),
        })
    );
    assert_eq!(planned.sms, None, "account emails never go out by SMS");
    let sealed = record(1).body.expect("the record has a body");
    assert!(
        !sealed.contains(RESET_TOKEN),
        "the token travels sealed through SNS and SQS"
    );
}

#[test]
fn a_republished_event_plans_the_same_claims_so_it_is_sent_once() {
    let (first, again) = (record(0), record(2));
    assert_ne!(first.message_id, again.message_id, "two SQS messages");
    assert_eq!(first.body, again.body, "one event");
    let links = links();
    let first = plan(&first, &links).expect("planned");
    let again = plan(&again, &links).expect("planned");
    // The claims are keyed by the event id, not the message id: the second attempt finds them
    // taken and sends nothing.
    assert_eq!(first, again);
    let claims: Vec<&str> = [
        again.email.as_ref().map(|e| e.claim.as_str()),
        again.sms.as_ref().map(|s| s.claim.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(
        claims,
        [
            format!("{CONFIRMED_EVENT}#email"),
            format!("{CONFIRMED_EVENT}#sms")
        ]
    );
}

#[test]
fn events_that_are_not_notifications_or_have_no_contact_plan_nothing() {
    let links = links();
    for (index, what) in [(3, "stock.low"), (4, "a refund without contact details")] {
        let planned = plan(&record(index), &links).expect("ignored, not failed");
        assert!(planned.is_empty(), "{what}: {planned:?}");
        assert_eq!(planned, Plan::default(), "{what}");
    }
}

#[test]
fn malformed_events_and_foreign_tokens_are_unprocessable() {
    let links = links();
    match plan(&record(5), &links) {
        Err(RecordError::Unprocessable(reason)) => {
            assert!(reason.contains("missing field `contact`"), "{reason}");
        }
        other => panic!("an order.cancelled without contact: {other:?}"),
    }
    match plan(&record(6), &links) {
        Err(RecordError::Unprocessable(reason)) => {
            assert!(reason.contains("cannot be opened"), "{reason}");
        }
        other => panic!("a token sealed for another account: {other:?}"),
    }
    for body in [Some("{\"specversion\":\"1.0\""), Some("not json"), None] {
        let mut broken = record(0);
        broken.body = body.map(str::to_owned);
        assert!(
            matches!(
                plan(&broken, &links),
                Err(RecordError::Unprocessable(reason)) if reason.contains("not a CloudEvents envelope")
            ),
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn the_batch_reports_exactly_the_records_that_cannot_be_planned() {
    let event = fixture();
    for record in &event.records {
        // SNS filters on the bridge's `event_type` attribute, which names the body's type.
        let attribute = record
            .message_attributes
            .get("event_type")
            .and_then(|a| a.string_value.as_deref());
        let body: serde_json::Value =
            serde_json::from_str(record.body.as_deref().unwrap_or_default()).expect("JSON");
        assert_eq!(attribute, body["type"].as_str());
    }
    let links = links();
    let response = process(event, |record: SqsMessage| {
        let planned = plan(&record, &links).map(|_| ());
        async move { planned }
    })
    .await;
    assert_eq!(
        failed_ids(&response),
        [
            "fba1610c-21dd-446b-b550-42cb59b6e4ef",
            "7da5828b-cf25-4901-855f-3377239370d6"
        ],
        "the order.cancelled without contact and the foreign token; nothing else is retried"
    );
    assert_eq!(
        serde_json::to_value(&response).expect("the batch response serialises"),
        serde_json::json!({"batchItemFailures": [
            {"itemIdentifier": "fba1610c-21dd-446b-b550-42cb59b6e4ef"},
            {"itemIdentifier": "7da5828b-cf25-4901-855f-3377239370d6"}
        ]})
    );
}
