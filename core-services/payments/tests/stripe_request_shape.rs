//! What the Stripe adapter puts on the wire, checked against Stripe's API reference
//! (docs.stripe.com/api: payment_intents/create, /capture, /cancel, refunds/create,
//! payment_intents/list; authentication; idempotent_requests; versioning), not against the
//! simulator, so the adapter and the simulator cannot drift apart together. A recording server
//! answers with fixed Stripe-shaped bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use payments::provider::{AuthorizeRequest, PaymentProvider};
use payments::stripe::{StripeConfig, StripeProvider};
use serde_json::json;
use service_kit::money::Money;
use tokio::sync::Mutex;

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    form: Vec<(String, String)>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn record(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let query = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    log.lock().await.push(Seen {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        form: form_urlencoded::parse(&body).into_owned().collect(),
    });
    let intent = json!({
        "id": "pi_123", "object": "payment_intent", "status": "requires_capture", "amount": 1999,
        "currency": "eur", "amount_capturable": 1999, "amount_received": 0, "created": 1_700_000_000,
        "metadata": {"payment_id": "p-1", "order_id": "o-1"}, "latest_charge": null
    });
    let body = if uri.path() == "/v1/refunds" {
        json!({"id": "re_1", "object": "refund", "status": "succeeded", "amount": 500})
    } else if uri.path() == "/v1/payment_intents" && uri.query().is_some() {
        json!({"object": "list", "data": [intent], "has_more": false, "url": "/v1/payment_intents"})
    } else {
        intent
    };
    axum::Json(body).into_response()
}

async fn adapter() -> (StripeProvider, Log) {
    let log: Log = Arc::default();
    let app = axum::Router::new().fallback(record).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let adapter = StripeProvider::new(StripeConfig {
        base_url: format!("http://{addr}/"),
        api_key: "sk_test_shape".to_owned().into(),
        timeout: Duration::from_secs(2),
        attempts: 1,
        backoff: Duration::from_millis(1),
    })
    .unwrap();
    (adapter, log)
}

fn fields(pairs: &[(String, String)]) -> BTreeMap<&str, &str> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Stripe's transport rules: Bearer secret key, form-encoded POST bodies, a pinned
/// `Stripe-Version`, and an `Idempotency-Key` on every POST (none on GET).
fn assert_transport(seen: &Seen, key: Option<&str>) {
    assert_eq!(seen.headers["authorization"], "Bearer sk_test_shape");
    assert!(
        seen.headers["stripe-version"]
            .to_str()
            .unwrap()
            .ends_with(".dahlia"),
        "{:?}",
        seen.headers["stripe-version"]
    );
    assert_eq!(
        seen.headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap()),
        key
    );
    if seen.method == Method::POST {
        assert_eq!(
            seen.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
    } else {
        assert!(seen.headers.get("content-type").is_none());
        assert!(seen.form.is_empty());
    }
}

#[tokio::test]
async fn every_call_sends_stripes_documented_fields() {
    let (adapter, log) = adapter().await;
    adapter
        .authorize(&AuthorizeRequest {
            reference: "p-1".into(),
            order_id: "o-1".into(),
            amount: Money::parse(1999, "EUR").unwrap(),
            payment_method: "pm_card_visa".into(),
        })
        .await
        .unwrap();
    adapter
        .capture("pi_123", Money::parse(1999, "EUR").unwrap(), "p-1:capture")
        .await
        .unwrap();
    adapter.void("pi_123", "p-1:void").await.unwrap();
    adapter
        .refund(
            "pi_123",
            Money::parse(500, "EUR").unwrap(),
            "p-1:refund:r-1",
        )
        .await
        .unwrap();
    adapter
        .payments(1_700_000_000, 1_700_086_400)
        .await
        .unwrap();
    adapter.payment("pi_123").await.unwrap();

    let log = log.lock().await.clone();
    assert_eq!(log.len(), 6);

    // POST /v1/payment_intents: amount in minor units, lowercase currency, the payment
    // method, manual capture, confirm now, our ids as metadata.
    let create = &log[0];
    assert_eq!(
        (&create.method, create.path.as_str()),
        (&Method::POST, "/v1/payment_intents")
    );
    assert_transport(create, Some("p-1:authorize"));
    assert_eq!(
        fields(&create.form),
        BTreeMap::from([
            ("amount", "1999"),
            ("currency", "eur"),
            ("payment_method", "pm_card_visa"),
            ("payment_method_types[0]", "card"),
            ("capture_method", "manual"),
            ("confirm", "true"),
            ("metadata[order_id]", "o-1"),
            ("metadata[payment_id]", "p-1"),
        ])
    );

    // POST /v1/payment_intents/{id}/capture with amount_to_capture.
    let capture = &log[1];
    assert_eq!(capture.path, "/v1/payment_intents/pi_123/capture");
    assert_transport(capture, Some("p-1:capture"));
    assert_eq!(
        fields(&capture.form),
        BTreeMap::from([("amount_to_capture", "1999")])
    );

    // POST /v1/payment_intents/{id}/cancel with one of Stripe's cancellation reasons.
    let cancel = &log[2];
    assert_eq!(cancel.path, "/v1/payment_intents/pi_123/cancel");
    assert_transport(cancel, Some("p-1:void"));
    let reason = fields(&cancel.form)["cancellation_reason"];
    assert!(
        [
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned"
        ]
        .contains(&reason),
        "{reason}"
    );

    // POST /v1/refunds with payment_intent and amount.
    let refund = &log[3];
    assert_eq!(refund.path, "/v1/refunds");
    assert_transport(refund, Some("p-1:refund:r-1"));
    assert_eq!(
        fields(&refund.form),
        BTreeMap::from([("payment_intent", "pi_123"), ("amount", "500")])
    );

    // GET /v1/payment_intents with created[gte]/created[lt], limit and the charge expanded.
    let list = &log[4];
    assert_eq!(
        (&list.method, list.path.as_str()),
        (&Method::GET, "/v1/payment_intents")
    );
    assert_transport(list, None);
    assert_eq!(
        fields(&list.query),
        BTreeMap::from([
            ("created[gte]", "1700000000"),
            ("created[lt]", "1700086400"),
            ("limit", "100"),
            ("expand[]", "data.latest_charge"),
        ])
    );

    // GET /v1/payment_intents/{id}.
    let retrieve = &log[5];
    assert_eq!(
        (&retrieve.method, retrieve.path.as_str()),
        (&Method::GET, "/v1/payment_intents/pi_123")
    );
    assert_transport(retrieve, None);
    assert_eq!(
        fields(&retrieve.query),
        BTreeMap::from([("expand[]", "latest_charge")])
    );
}

#[test]
fn brackets_are_percent_encoded_as_stripe_accepts() {
    assert_eq!(
        payments::stripe::form(&[("metadata[order_id]", "o 1&x".into())]),
        "metadata%5Border_id%5D=o+1%26x"
    );
}
