//! The Stripe adapter against the simulator: each outcome the saga relies on, retries with the
//! same key, and refusals. The simulator runs in-process on its own port; no database is
//! needed (the adapter keeps no state).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use payments::provider::{Authorization, AuthorizeRequest, PaymentProvider, ProviderError};
use payments::signature::Secrets;
use payments::simulator::{SimulatorConfig, router};
use payments::stripe::{StripeConfig, StripeProvider};
use serde_json::{Value, json};
use service_kit::money::Money;
use uuid::Uuid;

struct Sim {
    base: String,
    client: reqwest::Client,
}

impl Sim {
    async fn start(authentication_delay: Duration) -> Self {
        let app = router(SimulatorConfig {
            api_key: "sk_test_adapter".to_owned().into(),
            webhook_url: None,
            webhook_secrets: Secrets::one(b"whsec_adapter"),
            authentication_delay,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    fn adapter(&self, timeout: Duration) -> StripeProvider {
        StripeProvider::new(StripeConfig {
            base_url: self.base.clone(),
            api_key: "sk_test_adapter".to_owned().into(),
            timeout,
            attempts: 3,
            backoff: Duration::from_millis(10),
        })
        .unwrap()
    }

    async fn fault(&self, operation: &str, kind: &str, delay_ms: u64, times: u32) {
        let status = self
            .client
            .post(format!("{}/_simulator/faults", self.base))
            .json(&json!({"operation": operation, "kind": kind, "delay_ms": delay_ms, "times": times}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 204);
    }

    async fn made(&self) -> Value {
        self.client
            .get(format!("{}/_simulator/payment_intents", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn events(&self) -> Vec<Value> {
        let body: Value = self
            .client
            .get(format!("{}/_simulator/events", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["data"].as_array().unwrap().clone()
    }

    async fn intent(&self, id: &str) -> Value {
        self.client
            .get(format!("{}/v1/payment_intents/{id}", self.base))
            .bearer_auth("sk_test_adapter")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn eur(amount: i64) -> Money {
    Money::parse(amount, "EUR").unwrap()
}

fn request(method: &str, amount: i64) -> AuthorizeRequest {
    AuthorizeRequest {
        reference: Uuid::now_v7().to_string(),
        order_id: Uuid::now_v7().to_string(),
        amount: eur(amount),
        payment_method: method.into(),
    }
}

const SECOND: Duration = Duration::from_secs(2);

async fn approved(adapter: &StripeProvider, request: &AuthorizeRequest) -> String {
    match adapter.authorize(request).await.unwrap() {
        Authorization::Approved { reference } => reference,
        other => panic!("not approved: {other:?}"),
    }
}

#[tokio::test]
async fn approve_then_capture_takes_the_money_once() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    let adapter = sim.adapter(SECOND);
    let req = request("pm_card_visa", 2500);
    let pi = approved(&adapter, &req).await;
    assert!(pi.starts_with("pi_"), "{pi}");
    let held = sim.intent(&pi).await;
    assert_eq!(held["status"], "requires_capture");
    assert_eq!(held["amount_capturable"], 2500);
    assert_eq!(held["currency"], "eur");
    assert_eq!(held["metadata"]["payment_id"], req.reference.as_str());
    assert_eq!(held["metadata"]["order_id"], req.order_id.as_str());

    adapter.capture(&pi, eur(2500), "k:capture").await.unwrap();
    // The same capture again (our record of it was lost): the key replays it.
    adapter.capture(&pi, eur(2500), "k:capture").await.unwrap();
    // Even with another key, a capture the intent already had counts as done.
    adapter
        .capture(&pi, eur(2500), "k:capture-2")
        .await
        .unwrap();
    let taken = sim.intent(&pi).await;
    assert_eq!(taken["status"], "succeeded");
    assert_eq!(taken["amount_received"], 2500);
    let kinds: Vec<String> = sim
        .events()
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "payment_intent.amount_capturable_updated",
            "payment_intent.succeeded"
        ]
    );
}

#[tokio::test]
async fn declines_keep_their_codes() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    let adapter = sim.adapter(SECOND);
    for (method, code) in [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_visa_chargeDeclined", "generic_decline"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
    ] {
        let answer = adapter.authorize(&request(method, 1000)).await.unwrap();
        assert_eq!(
            answer,
            Authorization::Declined { code: code.into() },
            "{method}"
        );
    }
    // The declined intents exist at the provider, waiting for another payment method.
    let made = sim.made().await;
    assert!(
        made["status"]
            .as_object()
            .unwrap()
            .values()
            .all(|s| s == "requires_payment_method"),
        "{made}"
    );
}

async fn settles(sim: &Sim, pi: &str, status: &str) -> Value {
    for _ in 0..100 {
        let intent = sim.intent(pi).await;
        if intent["status"] == status {
            return intent;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{pi} never reached {status}: {}", sim.intent(pi).await);
}

#[tokio::test]
async fn pending_authentications_end_by_webhook_either_way() {
    let sim = Sim::start(Duration::from_millis(100)).await;
    let adapter = sim.adapter(SECOND);
    let Authorization::Pending { reference: ok } = adapter
        .authorize(&request("pm_card_threeDSecure2Required", 1500))
        .await
        .unwrap()
    else {
        panic!("3-D Secure is pending first");
    };
    let Authorization::Pending { reference: bad } = adapter
        .authorize(&request("pm_card_threeDSecureRequiredChargeDeclined", 1500))
        .await
        .unwrap()
    else {
        panic!("3-D Secure is pending first");
    };
    assert_eq!(
        sim.intent(&ok).await["next_action"]["type"],
        "redirect_to_url"
    );
    settles(&sim, &ok, "requires_capture").await;
    let failed = settles(&sim, &bad, "requires_payment_method").await;
    assert_eq!(
        failed["last_payment_error"]["decline_code"],
        "generic_decline"
    );
    let events = sim.events().await;
    let of = |pi: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["data"]["object"]["id"] == pi)
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        of(&ok),
        [
            "payment_intent.requires_action",
            "payment_intent.amount_capturable_updated"
        ]
    );
    assert_eq!(
        of(&bad),
        [
            "payment_intent.requires_action",
            "payment_intent.payment_failed"
        ]
    );
}

#[tokio::test]
async fn a_timeout_is_retried_with_the_same_key_and_makes_one_intent() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    // The first answer comes after the adapter gave up; the intent is made all the same.
    sim.fault("create", "delay", 600, 1).await;
    let adapter = sim.adapter(Duration::from_millis(300));
    let req = request("pm_card_visa", 4200);
    let pi = approved(&adapter, &req).await;
    let made = sim.made().await;
    assert_eq!(made["by_payment_id"][&req.reference], 1, "{made}");
    assert_eq!(
        made["by_key"][format!("{}:authorize", req.reference)],
        1,
        "{made}"
    );
    assert_eq!(made["status"].as_object().unwrap().len(), 1, "{made}");
    assert_eq!(made["status"][&pi], "requires_capture");

    // A provider that never answers: a timeout after every attempt, and nothing made.
    let hanging = adapter
        .authorize(&request("pm_card_simulatorTimeout", 100))
        .await;
    assert!(
        matches!(hanging, Err(ProviderError::Timeout)),
        "{hanging:?}"
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    let adapter = sim.adapter(SECOND);
    sim.fault("create", "rate_limit", 0, 1).await;
    sim.fault("create", "error_before", 0, 1).await;
    let req = request("pm_card_visa", 990);
    approved(&adapter, &req).await;
    assert_eq!(sim.made().await["by_payment_id"][&req.reference], 1);

    // Three 429s in a row exhaust the attempts: unavailable, for the saga to retry later.
    sim.fault("capture", "rate_limit", 0, 3).await;
    let pi = approved(&adapter, &request("pm_card_visa", 500)).await;
    let busy = adapter.capture(&pi, eur(500), "busy:capture").await;
    assert!(
        matches!(busy, Err(ProviderError::Unavailable(_))),
        "{busy:?}"
    );
    adapter
        .capture(&pi, eur(500), "busy:capture")
        .await
        .unwrap();

    // A 500 after the work is stored under the key and replayed: retrying with the same key is
    // pointless, so the adapter stops and says so.
    let pi = approved(&adapter, &request("pm_card_visa", 700)).await;
    sim.fault("cancel", "error_after", 0, 1).await;
    let stored = adapter.void(&pi, "stored:void").await;
    assert!(
        matches!(&stored, Err(ProviderError::Unavailable(m)) if m.contains("500")),
        "{stored:?}"
    );
    assert_eq!(
        sim.intent(&pi).await["status"],
        "canceled",
        "the work was done"
    );
}

#[tokio::test]
async fn a_void_releases_the_hold_and_a_repeated_void_is_done() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    let adapter = sim.adapter(SECOND);
    let pi = approved(&adapter, &request("pm_card_visa", 1200)).await;
    adapter.void(&pi, "v:void").await.unwrap();
    let released = sim.intent(&pi).await;
    assert_eq!(released["status"], "canceled");
    assert_eq!(released["amount_capturable"], 0);
    assert_eq!(released["cancellation_reason"], "abandoned");
    // Again with another key: the intent is canceled already, which is what was asked.
    adapter.void(&pi, "v:void-again").await.unwrap();
    // A captured intent cannot be voided: refused, not retried.
    let taken = approved(&adapter, &request("pm_card_visa", 800)).await;
    adapter
        .capture(&taken, eur(800), "t:capture")
        .await
        .unwrap();
    let refused = adapter.void(&taken, "t:void").await;
    assert!(
        matches!(&refused, Err(ProviderError::Rejected(m)) if m.contains("payment_intent_unexpected_state")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn partial_and_full_refunds() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    let adapter = sim.adapter(SECOND);
    let pi = approved(&adapter, &request("pm_card_visa", 3000)).await;
    // Nothing captured yet: refused (cancel instead).
    let early = adapter.refund(&pi, eur(100), "r0").await;
    assert!(
        matches!(early, Err(ProviderError::Rejected(_))),
        "{early:?}"
    );
    adapter.capture(&pi, eur(3000), "c").await.unwrap();

    let first = adapter.refund(&pi, eur(1000), "r1").await.unwrap();
    assert!(first.starts_with("re_"), "{first}");
    // The same key replays the same refund.
    assert_eq!(adapter.refund(&pi, eur(1000), "r1").await.unwrap(), first);
    let second = adapter.refund(&pi, eur(2000), "r2").await.unwrap();
    assert_ne!(first, second);
    let intent = sim.intent(&format!("{pi}?expand[]=latest_charge")).await;
    assert_eq!(intent["latest_charge"]["amount_refunded"], 3000, "{intent}");
    assert_eq!(intent["latest_charge"]["refunded"], true);
    // Nothing is left.
    let over = adapter.refund(&pi, eur(1), "r3").await;
    assert!(
        matches!(&over, Err(ProviderError::Rejected(m)) if m.contains("charge_already_refunded")),
        "{over:?}"
    );
    let refunded: Vec<Value> = sim
        .events()
        .await
        .into_iter()
        .filter(|e| e["type"] == "charge.refunded")
        .collect();
    assert_eq!(refunded.len(), 2);
    assert_eq!(refunded[1]["data"]["object"]["amount_refunded"], 3000);
}

#[tokio::test]
async fn a_bad_request_is_refused_once_with_stripes_type_and_code() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    let adapter = sim.adapter(SECOND);
    let unknown = adapter
        .authorize(&request("pm_card_nonexistent", 1000))
        .await;
    assert!(
        matches!(&unknown, Err(ProviderError::Rejected(m)) if m.contains("invalid_request_error/resource_missing") && m.contains("payment_method")),
        "{unknown:?}"
    );
    // A rate limit first: the retry meets the bad request, which is then not retried.
    sim.fault("create", "rate_limit", 0, 1).await;
    let zero = adapter.authorize(&request("pm_card_visa", 0)).await;
    assert!(
        matches!(&zero, Err(ProviderError::Rejected(m)) if m.contains("parameter_invalid_integer")),
        "{zero:?}"
    );
    let made = sim.made().await;
    assert!(made["status"].as_object().unwrap().is_empty(), "{made}");
    assert_eq!(
        made["requests"]["create"], 2,
        "the 429 and the 400, nothing after: {made}"
    );

    // The wrong key: 401, refused.
    let wrong = StripeProvider::new(StripeConfig {
        base_url: sim.base.clone(),
        api_key: "sk_test_wrong".to_owned().into(),
        timeout: SECOND,
        attempts: 3,
        backoff: Duration::from_millis(10),
    })
    .unwrap();
    // Stripe also takes the key as a Basic user name with no password.
    let basic = sim
        .client
        .get(format!("{}/v1/payment_intents", sim.base))
        .basic_auth("sk_test_adapter", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let refused = wrong.authorize(&request("pm_card_visa", 1000)).await;
    assert!(
        matches!(&refused, Err(ProviderError::Rejected(m)) if m.starts_with("stripe 401")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_same_key_with_other_parameters_is_an_idempotency_error() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    let adapter = sim.adapter(SECOND);
    let mut req = request("pm_card_visa", 1000);
    approved(&adapter, &req).await;
    req.amount = eur(1001);
    let changed = adapter.authorize(&req).await;
    assert!(
        matches!(&changed, Err(ProviderError::Rejected(m)) if m.contains("idempotency_error")),
        "{changed:?}"
    );
}

#[tokio::test]
async fn reconciliation_reads_every_page_of_a_window() {
    let sim = Sim::start(Duration::from_millis(50)).await;
    let adapter = sim.adapter(SECOND);
    let from = time::OffsetDateTime::now_utc().unix_timestamp() - 5;
    let mut made = Vec::new();
    for _ in 0..105 {
        made.push(approved(&adapter, &request("pm_card_visa", 100)).await);
    }
    let to = time::OffsetDateTime::now_utc().unix_timestamp() + 5;
    let listed = adapter.payments(from, to).await.unwrap();
    assert_eq!(listed.len(), 105);
    let mut ids: Vec<String> = listed.iter().map(|p| p.id.clone()).collect();
    ids.sort();
    made.sort();
    assert_eq!(ids, made);
    assert!(
        listed
            .iter()
            .all(|p| p.payment_id.is_some() && p.currency == "EUR")
    );
    assert!(adapter.payments(to, to + 10).await.unwrap().is_empty());
    let one = adapter.payment(&made[0]).await.unwrap().unwrap();
    assert_eq!(one.amount_capturable, 100);
    assert!(adapter.payment("pi_missing").await.unwrap().is_none());
}
