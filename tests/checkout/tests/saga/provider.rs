//! Payments and Stripe (the simulator speaking Stripe's API): webhook events applied once each,
//! a refund made at the provider followed into the ledger, and reconciliation.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::SETTLE;
use checkout_tests::{Options, Platform};

fn rfc(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn reconcile(platform: &Platform) -> Value {
    let now = time::OffsetDateTime::now_utc();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &rfc(now - time::Duration::hours(1)))
        .append_pair("to", &rfc(now + time::Duration::minutes(5)))
        .finish();
    let response = platform
        .as_admin(
            Method::GET,
            format!(
                "{}/admin/payments/reconciliation?{query}",
                platform.payments
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Calls the simulator's Stripe API directly, as someone in Stripe's Dashboard would.
async fn at_stripe(platform: &Platform, path: &str, form: &[(&str, &str)]) -> Value {
    let response = platform
        .client
        .post(format!("{}{path}", platform.simulator))
        .bearer_auth(&platform.psp_api_key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form.iter()
                .fold(
                    form_urlencoded::Serializer::new(String::new()),
                    |mut s, (k, v)| {
                        s.append_pair(k, v);
                        s
                    },
                )
                .finish(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Waits until the reconciliation's differences are `expected` (their kinds, sorted); a
/// payment's last events may still be on their way when the saga has settled.
async fn differences_become(platform: &Platform, expected: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let report = reconcile(platform).await;
        let mut kinds: Vec<&str> = report["differences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["kind"].as_str().unwrap())
            .collect();
        kinds.sort_unstable();
        if kinds == expected {
            return report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {expected:?}: {report}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn reconciliation_agrees_after_a_normal_run_and_finds_planted_differences() {
    let platform = Platform::start(Options::default()).await;
    platform.product("REC-1", 1800, 20).await;
    let confirmed = platform.place("REC-1", 1, "pm_card_visa").await;
    let declined = platform
        .place("REC-1", 1, "pm_card_chargeDeclinedInsufficientFunds")
        .await;
    let authenticated = platform
        .place("REC-1", 2, "pm_card_threeDSecure2Required")
        .await;
    let failed = platform
        .place("REC-1", 1, "pm_card_threeDSecureRequiredChargeDeclined")
        .await;
    for (id, status) in [
        (&confirmed, "CONFIRMED"),
        (&declined, "CANCELLED"),
        (&authenticated, "CONFIRMED"),
        (&failed, "CANCELLED"),
    ] {
        assert_eq!(platform.settled(id, SETTLE).await["status"], status, "{id}");
    }
    platform
        .payment_reaches(&confirmed, "captured", SETTLE)
        .await;
    platform
        .payment_reaches(&authenticated, "captured", SETTLE)
        .await;
    let declined_payment = platform.payment_reaches(&declined, "failed", SETTLE).await;
    assert_eq!(declined_payment["failure_reason"], "insufficient_funds");
    let response = platform
        .as_admin(
            Method::POST,
            format!("{}/admin/payments/{confirmed}/refunds", platform.payments),
        )
        .json(&json!({"amount": 800, "reason": "scratched"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // A normal run: the ledger and Stripe agree.
    let report = differences_become(&platform, &[]).await;
    assert_eq!(report["intents_checked"], 4, "{report}");
    assert_eq!(report["payments_checked"], 4, "{report}");

    // Planted: a PaymentIntent made at Stripe by someone else, and a capture our ledger
    // recorded with the wrong amount.
    at_stripe(
        &platform,
        "/v1/payment_intents",
        &[
            ("amount", "999"),
            ("currency", "eur"),
            ("payment_method", "pm_card_visa"),
            ("payment_method_types[0]", "card"),
            ("capture_method", "manual"),
            ("confirm", "true"),
        ],
    )
    .await;
    sqlx::query(
        "update ledger_entries set amount = amount - 1 where kind = 'capture' \
         and payment_id = (select id from payments where order_id = $1)",
    )
    .bind(&authenticated)
    .execute(&platform.payments_db)
    .await
    .unwrap();
    let report = differences_become(&platform, &["captured", "unknown_to_ledger"]).await;
    let captured = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "captured")
        .unwrap();
    assert_eq!(captured["order_id"], authenticated.as_str(), "{report}");
    assert_eq!(captured["ours"], "3599");
    assert_eq!(captured["provider"], "3600");
    platform.stop().await;
}

#[tokio::test]
async fn a_refund_made_at_stripe_reaches_the_ledger_once() {
    let platform = Platform::start(Options::default()).await;
    platform.product("REF-9", 2000, 5).await;
    let id = platform.place("REF-9", 1, "pm_card_visa").await;
    assert_eq!(platform.settled(&id, SETTLE).await["status"], "CONFIRMED");
    let payment = platform.payment_reaches(&id, "captured", SETTLE).await;
    let intent = payment["psp_reference"].as_str().unwrap().to_owned();

    // Refunded in Stripe's Dashboard, not through us: Stripe sends `charge.refunded`.
    at_stripe(
        &platform,
        "/v1/refunds",
        &[("payment_intent", intent.as_str()), ("amount", "700")],
    )
    .await;
    let deadline = tokio::time::Instant::now() + SETTLE;
    let payment = loop {
        let payment = platform.payment(&id).await.unwrap();
        if payment["balance"]["refunded"] == 700 {
            break payment;
        }
        assert!(tokio::time::Instant::now() < deadline, "{payment}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(payment["balance"]["net"], 1300);
    assert_eq!(payment["balance"]["reconciles"], true);
    // Our own refund afterwards: only what is left, and it is not counted twice when its own
    // `charge.refunded` (cumulative 2000) arrives.
    let response = platform
        .as_admin(
            Method::POST,
            format!("{}/admin/payments/{id}/refunds", platform.payments),
        )
        .json(&json!({"reason": "the rest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let refund: Value = response.json().await.unwrap();
    assert_eq!(refund["amount"], 1300);
    differences_become(&platform, &[]).await;
    let payment = platform.payment(&id).await.unwrap();
    assert_eq!(payment["balance"]["refunded"], 2000, "{payment}");
    let refunds: Vec<(String, i64)> =
        sqlx::query_as("select requested_by, amount from refunds order by created_at")
            .fetch_all(&platform.payments_db)
            .await
            .unwrap();
    assert_eq!(refunds.len(), 2, "{refunds:?}");
    assert_eq!(refunds[0], ("provider".to_owned(), 700));
    platform.stop().await;
}

#[tokio::test]
async fn webhook_events_are_verified_and_applied_once_by_id() {
    let platform = Platform::start(Options::default()).await;
    platform.product("EVT-1", 1000, 5).await;
    let id = platform.place("EVT-1", 1, "pm_card_visa").await;
    assert_eq!(platform.settled(&id, SETTLE).await["status"], "CONFIRMED");
    let payment = platform.payment_reaches(&id, "captured", SETTLE).await;
    let intent = payment["psp_reference"].as_str().unwrap();
    let charge = json!({
        "id": "ch_x", "object": "charge", "payment_intent": intent, "amount": 1000,
        "amount_captured": 1000, "amount_refunded": 250, "refunded": false, "currency": "eur"
    });
    let event = serde_json::to_vec(&json!({
        "id": "evt_once", "object": "event", "type": "charge.refunded",
        "data": {"object": charge}
    }))
    .unwrap();
    let url = format!("{}/internal/psp/callback", platform.payments);
    let post = |signature: Option<String>, body: Vec<u8>| {
        let client = platform.client.clone();
        let url = url.clone();
        async move {
            let mut request = client.post(url).body(body);
            if let Some(signature) = signature {
                request = request.header(payments::signature::HEADER, signature);
            }
            request.send().await.unwrap()
        }
    };
    let secret = platform.psp_secret.as_bytes();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (signature, why) in [
        (None, "unsigned"),
        (
            Some(psp_signature::sign(b"whsec_other", now, &event)),
            "another secret",
        ),
        (
            Some(psp_signature::sign(secret, now - 301, &event)),
            "stale",
        ),
    ] {
        let response = post(signature, event.clone()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{why}"
        );
    }
    // Delivered, then delivered again (Stripe retries, signed anew): applied once.
    for t in [now, now + 1] {
        let response = post(Some(psp_signature::sign(secret, t, &event)), event.clone()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let payment = platform.payment(&id).await.unwrap();
    assert_eq!(payment["balance"]["refunded"], 250, "{payment}");
    // A body that is not an event: a clear 422 (or 400), and nothing changes.
    let junk = br#"{"hello":"world"}"#.to_vec();
    let response = post(Some(psp_signature::sign(secret, now, &junk)), junk).await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    platform.stop().await;
}

#[tokio::test]
async fn a_pending_payment_cancelled_at_stripe_fails_and_cancels_its_order() {
    // 3-D Secure that would take a minute: the payment waits in `pending`.
    let platform = Platform::start(Options {
        callback_delay: Duration::from_secs(60),
        ..Options::default()
    })
    .await;
    platform.product("CXL-1", 1500, 5).await;
    let id = platform
        .place("CXL-1", 1, "pm_card_threeDSecure2Required")
        .await;
    let payment = platform.payment_reaches(&id, "pending", SETTLE).await;
    let intent = payment["psp_reference"].as_str().unwrap().to_owned();
    at_stripe(
        &platform,
        &format!("/v1/payment_intents/{intent}/cancel"),
        &[("cancellation_reason", "requested_by_customer")],
    )
    .await;
    let order = platform.settled(&id, SETTLE).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["cancel_reason"], "payment_declined", "{order}");
    let payment = platform.payment_reaches(&id, "failed", SETTLE).await;
    assert_eq!(
        payment["failure_reason"],
        "canceled at the provider (requested_by_customer)"
    );
    differences_become(&platform, &[]).await;
    platform.stop().await;
}
