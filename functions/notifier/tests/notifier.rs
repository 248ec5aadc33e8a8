//! The notifier against moto: real SES v2, SNS SMS and DynamoDB calls, its own tables and
//! addresses per test.

#![allow(clippy::unwrap_used)]

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use events::Envelope;
use events::Event as _;
use events::Money;
use events::payloads::{AccountHolder, UserPasswordResetRequested, UserRegistrationAttempted};
use events::payloads::{Contact, OrderConfirmed, PaymentRefunded};
use events::sealed::SealKey;
use function_kit::topology::{Topology, ensure};
use notifier::{AccountLinks, Notifier};
use serde_json::Value;

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

fn record(id: &str, body: String) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body);
    message
}

async fn sent(email: &str, phone: &str) -> (Vec<Value>, Vec<Value>) {
    // moto now and then answers an error page while its state changes: read again.
    let url = format!("{}/moto-api/data.json", function_kit::aws::test_endpoint());
    let mut data = Value::Null;
    for _ in 0..50 {
        if let Ok(response) = reqwest::get(&url).await
            && let Ok(read) = response.json::<Value>().await
        {
            data = read;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!data.is_null(), "moto's data.json never answered JSON");
    let emails = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.to_string().contains(email))
        .collect();
    let sms = data["sns"]["SMS"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.to_string().contains(phone))
        .collect();
    (emails, sms)
}

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn links() -> AccountLinks {
    AccountLinks::new(
        SealKey::from_base64(KEY).unwrap(),
        "https://shop.example/account/",
    )
}

#[tokio::test]
async fn account_emails_go_out_whatever_the_preferences_with_the_opened_link() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let config = function_kit::aws::for_endpoint(&function_kit::aws::test_endpoint()).await;
    let topology = Topology::committed().unwrap();
    let created = ensure(&config, &topology, &format!("t{}-", &id[..12]))
        .await
        .unwrap();
    let notifier = Notifier::new(
        &config,
        &created.tables["notifier-idempotency"],
        &topology.ses_sender,
        links(),
    );
    let email = format!("{id}@example.com");
    let holder = AccountHolder {
        user_id: format!("u-{id}"),
        email: email.clone(),
        name: "Ada".into(),
        locale: "en".into(),
    };
    let key = SealKey::from_base64(KEY).unwrap();
    let token = format!("tok{id}");
    let reset = |sealed: String| {
        let e = Envelope::new(
            "/users",
            &holder.user_id,
            None,
            UserPasswordResetRequested {
                account: holder.clone(),
                token: sealed,
                expires_at: time::macros::datetime!(2026-12-07 10:30 UTC),
            },
        );
        String::from_utf8(e.to_json().unwrap()).unwrap()
    };
    let good = reset(
        key.seal(&token, UserPasswordResetRequested::TYPE, &holder.user_id)
            .unwrap(),
    );
    // Sealed for another account: refused as unprocessable (it would never open).
    let moved = reset(
        key.seal(&token, UserPasswordResetRequested::TYPE, "someone-else")
            .unwrap(),
    );
    let attempted = Envelope::new(
        "/users",
        &holder.user_id,
        None,
        UserRegistrationAttempted {
            account: holder.clone(),
        },
    );
    let attempted = String::from_utf8(attempted.to_json().unwrap()).unwrap();
    let response = notifier
        .handle(batch(vec![
            record("a-1", good.clone()),
            record("a-2", moved),
            record("a-3", attempted),
        ]))
        .await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["a-2"]);
    notifier.handle(batch(vec![record("a-1", good)])).await;
    let (emails, _) = sent(&email, "+0").await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    let all = Value::Array(emails).to_string();
    assert!(
        all.contains(&format!(
            "https://shop.example/account/reset-password?token={token}"
        )),
        "{all}"
    );
    assert!(all.contains("until 2026-12-07 10:30 UTC"), "{all}");
    assert!(
        all.contains("Someone tried to register with your address"),
        "{all}"
    );
    assert!(
        all.contains("https://shop.example/account/forgot-password"),
        "{all}"
    );
}

#[tokio::test]
async fn a_confirmation_is_emailed_and_texted_once_however_often_it_arrives() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let config = function_kit::aws::for_endpoint(&function_kit::aws::test_endpoint()).await;
    let topology = Topology::committed().unwrap();
    let created = ensure(&config, &topology, &format!("t{}-", &id[..12]))
        .await
        .unwrap();
    let notifier = Notifier::new(
        &config,
        &created.tables["notifier-idempotency"],
        &topology.ses_sender,
        links(),
    );

    let email = format!("{id}@example.com");
    let phone = format!(
        "+4915{}",
        &id.chars()
            .filter(char::is_ascii_digit)
            .chain("0000000000".chars())
            .take(9)
            .collect::<String>()
    );
    let contact = Contact {
        email: email.clone(),
        phone: Some(phone.clone()),
        name: "Jörg".into(),
        locale: "de-DE".into(),
        notify_email: true,
        notify_sms: true,
    };
    let confirmed = Envelope::new(
        "/orders",
        "o-1",
        None,
        OrderConfirmed {
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            total: Money::parse(5900, "EUR").unwrap(),
            contact: contact.clone(),
        },
    );
    let body = String::from_utf8(confirmed.to_json().unwrap()).unwrap();
    let first = batch(vec![
        record("m-1", body.clone()),
        record("m-2", "{broken".into()),
    ]);
    let response = notifier.handle(first).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["m-2"], "only the broken record is reported");

    // Delivered again (SQS is at least once): nothing more is sent.
    let again = notifier.handle(batch(vec![record("m-1", body)])).await;
    assert!(again.batch_item_failures.is_empty());
    let (emails, sms) = sent(&email, &phone).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(sms.len(), 1, "{sms:?}");
    let message = emails[0].to_string();
    assert!(
        message.contains("Ihre Bestellung o-1 ist bestätigt")
            || message.contains("Ihre Bestellung o-1 ist best"),
        "{message}"
    );
    assert!(message.contains("59.00 EUR"), "{message}");

    // A refund without contact details sends nothing and succeeds; one with them is emailed.
    let refund = |contact: Option<Contact>| {
        let e = Envelope::new(
            "/payments",
            "o-1",
            None,
            PaymentRefunded {
                order_id: "o-1".into(),
                payment_id: "p-1".into(),
                refund_id: uuid::Uuid::new_v4().to_string(),
                amount: Money::parse(1500, "EUR").unwrap(),
                contact,
            },
        );
        String::from_utf8(e.to_json().unwrap()).unwrap()
    };
    let mut no_sms = contact.clone();
    no_sms.notify_sms = false;
    let response = notifier
        .handle(batch(vec![
            record("m-3", refund(None)),
            record("m-4", refund(Some(no_sms))),
        ]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let (emails, sms) = sent(&email, &phone).await;
    assert_eq!(emails.len(), 2);
    assert_eq!(sms.len(), 1, "no SMS for a customer who did not opt in");
}
