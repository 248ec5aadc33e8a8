//! The outcomes a shopper sees: confirmed, declined, out of stock, asynchronous, timed out,
//! cancelled by the shopper, expired reservations, refunds.

use std::time::Duration;

use checkout_tests::{Options, Platform};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::SETTLE;

fn steps(order: &Value) -> Vec<String> {
    order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_visa_checkout_is_confirmed_with_stock_taken_and_payment_captured() {
    let platform = Platform::start(Options::default()).await;
    platform.product("LAMP-1", 2500, 10).await;
    platform.product("MUG-1", 900, 5).await;
    let shopper = platform.shopper().await;
    platform.add_to_cart(&shopper, "LAMP-1", 2).await;
    platform.add_to_cart(&shopper, "MUG-1", 1).await;

    let response = platform.checkout(&shopper, "key-1", "pm_card_visa").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/orders/{id}"));
    assert_eq!(body["status"], "PENDING");
    assert_eq!(body["total"], json!({"amount": 5900, "currency": "EUR"}));

    let order = platform.settled(&id, SETTLE).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    let steps = steps(&order);
    assert_eq!(
        &steps[..4],
        [
            "placed",
            "stock_reserved",
            "payment_authorized",
            "confirmed"
        ],
        "{steps:?}"
    );
    assert_eq!(order["contact"]["locale"], "de-DE");
    assert_eq!(order["contact"]["notify_sms"], true);

    let payment = platform.payment_reaches(&id, "captured", SETTLE).await;
    assert_eq!(payment["amount"], 5900);
    assert_eq!(payment["balance"]["authorized"], 5900);
    assert_eq!(payment["balance"]["captured"], 5900);
    assert_eq!(payment["balance"]["reconciles"], true);
    let kinds: Vec<&str> = payment["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["authorization", "capture"]);

    // Stock: shipped units leave on_hand, nothing stays reserved.
    let deadline = tokio::time::Instant::now() + SETTLE;
    while platform.stock("LAMP-1").await != (8, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock never committed: {:?}",
            platform.stock("LAMP-1").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(platform.stock("MUG-1").await, (4, 0));

    // The cart was emptied by checkout; the shopper sees the order in their list.
    let cart: Value = platform
        .as_user(
            Method::GET,
            format!("{}/cart", platform.orders),
            &shopper.id,
            "shopper",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cart["lines"], json!([]));
    let mine: Value = platform
        .as_user(
            Method::GET,
            format!("{}/orders", platform.orders),
            &shopper.id,
            "shopper",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"][0]["id"], id.as_str());
    // Another shopper cannot see it.
    let other = platform
        .as_user(
            Method::GET,
            format!("{}/orders/{id}", platform.orders),
            "someone-else",
            "shopper",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    // The admin ships it: order.shipped, SHIPPED with tracking.
    let shipped: Value = platform
        .as_admin(
            Method::POST,
            format!("{}/admin/orders/{id}/ship", platform.orders),
        )
        .json(&json!({"carrier": "DHL", "tracking_number": "JJD000123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shipped["status"], "SHIPPED");
    assert_eq!(shipped["tracking_number"], "JJD000123");
    let again = platform
        .as_admin(
            Method::POST,
            format!("{}/admin/orders/{id}/ship", platform.orders),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    platform.stop().await;
}

#[tokio::test]
async fn a_declined_card_cancels_the_order_and_returns_the_stock() {
    let platform = Platform::start(Options::default()).await;
    platform.product("LAMP-2", 2500, 10).await;
    let id = platform.place("LAMP-2", 3, "pm_card_chargeDeclined").await;
    let order = platform.settled(&id, SETTLE).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(order["cancel_reason"], "payment_declined");
    let payment = platform.payment_reaches(&id, "failed", SETTLE).await;
    // Stripe's decline code for pm_card_chargeDeclined.
    assert_eq!(payment["failure_reason"], "generic_decline");
    assert_eq!(payment["ledger"], json!([]));
    let deadline = tokio::time::Instant::now() + SETTLE;
    while platform.stock("LAMP-2").await != (10, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    platform.stop().await;
}

#[tokio::test]
async fn an_out_of_stock_line_cancels_the_order_without_a_payment_attempt() {
    let platform = Platform::start(Options::default()).await;
    platform.product("LAMP-3", 2500, 10).await;
    platform.product("RARE-1", 99_900, 1).await;
    let shopper = platform.shopper().await;
    platform.add_to_cart(&shopper, "LAMP-3", 1).await;
    platform.add_to_cart(&shopper, "RARE-1", 2).await;
    let response = platform.checkout(&shopper, "k", "pm_card_visa").await;
    let id = response.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = platform.settled(&id, SETTLE).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(order["cancel_reason"], "out_of_stock");
    let cancelled = order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "cancelled")
        .unwrap();
    assert_eq!(cancelled["detail"]["shortages"][0]["sku"], "RARE-1");
    // Nothing was held, nothing was authorized.
    assert_eq!(platform.stock("LAMP-3").await, (10, 0));
    let payment = platform.payment_reaches(&id, "cancelled", SETTLE).await;
    assert_eq!(payment["psp_reference"], Value::Null);
    assert_eq!(payment["ledger"], json!([]));
    platform.stop().await;
}

#[tokio::test]
async fn asynchronous_and_timed_out_payments_reach_their_outcomes() {
    let platform = Platform::start(Options {
        provider_timeout_ms: 300,
        ..Options::default()
    })
    .await;
    platform.product("LAMP-4", 1000, 10).await;
    let confirmed_later = platform
        .place("LAMP-4", 1, "pm_card_threeDSecure2Required")
        .await;
    let declined_later = platform
        .place("LAMP-4", 1, "pm_card_threeDSecureRequiredChargeDeclined")
        .await;
    let timed_out = platform
        .place("LAMP-4", 1, "pm_card_simulatorTimeout")
        .await;

    let order = platform.settled(&confirmed_later, SETTLE).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    platform
        .payment_reaches(&confirmed_later, "captured", SETTLE)
        .await;

    let order = platform.settled(&declined_later, SETTLE).await;
    assert_eq!(order["cancel_reason"], "payment_declined", "{order}");

    let order = platform.settled(&timed_out, SETTLE).await;
    assert_eq!(order["cancel_reason"], "payment_timeout", "{order}");
    let payment = platform.payment(&timed_out).await.unwrap();
    assert_eq!(payment["status"], "failed");

    let deadline = tokio::time::Instant::now() + SETTLE;
    while platform.stock("LAMP-4").await != (9, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock: {:?}",
            platform.stock("LAMP-4").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    platform.stop().await;
}

#[tokio::test]
async fn a_callback_with_a_bad_signature_is_refused() {
    let platform = Platform::start(Options::default()).await;
    let body = r#"{"authorization":"auth_x","status":"approved"}"#;
    for header in [None, Some("t=1,v1=00"), Some("garbage")] {
        let mut request = platform
            .client
            .post(format!("{}/internal/psp/callback", platform.payments))
            .header("content-type", "application/json")
            .body(body);
        if let Some(h) = header {
            request = request.header("psp-signature", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    platform.stop().await;
}

#[tokio::test]
async fn a_shopper_cancels_a_pending_order_and_an_expired_reservation_cancels_another() {
    // A one-second hold, and a provider whose answer comes too late for it.
    let platform = Platform::start(Options {
        hold_seconds: 1,
        callback_delay: Duration::from_secs(30),
        ..Options::default()
    })
    .await;
    platform.product("LAMP-5", 1000, 10).await;
    let id = platform
        .place("LAMP-5", 2, "pm_card_threeDSecure2Required")
        .await;
    let order = platform.settled(&id, SETTLE).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(order["cancel_reason"], "reservation_expired", "{order}");
    platform.payment_reaches(&id, "cancelled", SETTLE).await;
    assert_eq!(platform.stock("LAMP-5").await, (10, 0));

    // Cancelling: only the owner, only while PENDING. Stop inventory from answering by
    // cancelling before any event could be handled is racy, so cancel a settled order
    // (refused) and check the rule through the API.
    let shopper = platform.shopper().await;
    platform.add_to_cart(&shopper, "LAMP-5", 1).await;
    let response = platform.checkout(&shopper, "k1", "pm_card_visa").await;
    let id = response.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = platform
        .as_user(
            Method::POST,
            format!("{}/orders/{id}/cancel", platform.orders),
            "intruder",
            "shopper",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = platform
        .as_user(
            Method::POST,
            format!("{}/orders/{id}/cancel", platform.orders),
            &shopper.id,
            "shopper",
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    let order = platform.settled(&id, SETTLE).await;
    if status == StatusCode::OK {
        assert_eq!(order["cancel_reason"], "cancelled_by_customer");
    } else {
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(order["status"], "CONFIRMED");
    }
    platform.stop().await;
}

#[tokio::test]
async fn an_admin_refunds_part_then_the_rest_and_the_ledger_balances() {
    let platform = Platform::start(Options::default()).await;
    platform.product("LAMP-6", 4000, 10).await;
    let id = platform.place("LAMP-6", 1, "pm_card_visa").await;
    assert_eq!(platform.settled(&id, SETTLE).await["status"], "CONFIRMED");
    platform.payment_reaches(&id, "captured", SETTLE).await;
    let url = format!("{}/admin/payments/{id}/refunds", platform.payments);

    let shopper = platform
        .as_user(Method::POST, url.clone(), "s", "shopper")
        .json(&json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(shopper.status(), StatusCode::FORBIDDEN);
    let too_much = platform
        .as_admin(Method::POST, url.clone())
        .json(&json!({"amount": 4001, "reason": "damaged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_much.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let first = platform
        .as_admin(Method::POST, url.clone())
        .header("idempotency-key", "r-1")
        .json(&json!({"amount": 1500, "reason": "damaged box"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let replay = platform
        .as_admin(Method::POST, url.clone())
        .header("idempotency-key", "r-1")
        .json(&json!({"amount": 1500, "reason": "damaged box"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], first["id"]);

    let rest = platform
        .as_admin(Method::POST, url.clone())
        .json(&json!({"reason": "returned"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), StatusCode::CREATED);
    assert_eq!(rest.json::<Value>().await.unwrap()["amount"], 2500);
    let nothing_left = platform
        .as_admin(Method::POST, url)
        .json(&json!({"reason": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(nothing_left.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let payment = platform.payment(&id).await.unwrap();
    assert_eq!(payment["balance"]["captured"], 4000);
    assert_eq!(payment["balance"]["refunded"], 4000);
    assert_eq!(payment["balance"]["net"], 0);
    assert_eq!(payment["balance"]["reconciles"], true);

    // An order id that is not a UUID is an order that does not exist, as an unknown one is:
    // 404 problems, before the body is read.
    for (path, detail) in [
        ("not-a-uuid", "no such order"),
        (
            "00000000-0000-4000-8000-000000000000",
            "no payment for this order",
        ),
    ] {
        let detail_url = format!("{}/admin/payments/{path}", platform.payments);
        let refund_url = format!("{detail_url}/refunds");
        for request in [
            platform.as_admin(Method::GET, detail_url),
            platform
                .as_admin(Method::POST, refund_url)
                .json(&json!({"reason": "x"})),
        ] {
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                answer.headers()["content-type"],
                "application/problem+json",
                "{path}"
            );
            let problem: Value = answer.json().await.unwrap();
            assert_eq!(problem["detail"], detail, "{path}: {problem}");
        }
    }
    // The order's timeline shows both refunds.
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let order = platform.order(&id).await;
        if steps(&order)
            .iter()
            .filter(|s| *s == "payment_refunded")
            .count()
            == 2
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{order}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    platform.stop().await;
}

#[tokio::test]
async fn a_callback_queued_by_the_psp_webhook_settles_the_payment_and_a_forged_one_does_not() {
    let platform = Platform::start(Options {
        callbacks_queue: true,
        ..Options::default()
    })
    .await;
    platform.product("LAMP-7", 1000, 10).await;
    // A forged event on the queue (wrong secret) settles nothing and is not deleted.
    let (queue, aws) = platform.callbacks.clone().unwrap();
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let forged = json!({
        "id": "evt_forged", "object": "event", "type": "payment_intent.amount_capturable_updated",
        "data": {"object": {"id": "pi_forged", "object": "payment_intent", "status": "requires_capture"}}
    })
    .to_string();
    let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(psp_signature::sign(
            b"not-the-secret",
            now,
            forged.as_bytes(),
        ))
        .build()
        .unwrap();
    sqs.send_message()
        .queue_url(&queue)
        .message_body(&forged)
        .message_attributes(psp_signature::MESSAGE_ATTRIBUTE, attribute)
        .send()
        .await
        .unwrap();

    // The provider's real events travel provider -> (psp-webhook) -> SQS -> payments.
    let id = platform
        .place("LAMP-7", 1, "pm_card_threeDSecure2Required")
        .await;
    assert_eq!(platform.settled(&id, SETTLE).await["status"], "CONFIRMED");
    platform.payment_reaches(&id, "captured", SETTLE).await;
    // Every genuine event (3-D Secure done, the capture) is applied and deleted; only the
    // forged one stays (for the DLQ).
    let deadline = tokio::time::Instant::now() + SETTLE;
    let mut remaining;
    loop {
        let left = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            )
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        let count = |name| {
            left.attributes()
                .unwrap()
                .get(&name)
                .map(|v| v.parse::<i64>().unwrap())
                .unwrap_or(0)
        };
        remaining =
            count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages);
        if remaining <= 1 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(remaining, 1, "only the forged callback stays (for the DLQ)");
    platform.stop().await;
}

#[tokio::test]
async fn the_back_office_summaries_count_orders_revenue_cancellations_and_money_moved() {
    let platform = Platform::start(Options::default()).await;
    platform.product("SUM-1", 2500, 10).await;
    platform.product("SUM-2", 1000, 1).await;
    let confirmed = platform.place("SUM-1", 2, "pm_card_visa").await;
    let declined = platform.place("SUM-1", 1, "pm_card_chargeDeclined").await;
    let short = platform.place("SUM-2", 2, "pm_card_visa").await;
    for (id, status) in [
        (&confirmed, "CONFIRMED"),
        (&declined, "CANCELLED"),
        (&short, "CANCELLED"),
    ] {
        assert_eq!(platform.settled(id, SETTLE).await["status"], status);
    }
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let window = |from: time::OffsetDateTime, to: time::OffsetDateTime| -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("from", &rfc(from))
            .append_pair("to", &rfc(to))
            .finish()
    };
    let summary = |from: time::OffsetDateTime, to: time::OffsetDateTime| {
        platform
            .as_admin(
                Method::GET,
                format!(
                    "{}/admin/orders/summary?{}",
                    platform.orders,
                    window(from, to)
                ),
            )
            .send()
    };
    let hour = time::Duration::hours(1);
    let response = summary(now - hour, now + hour).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "orders_placed": 3,
            "revenue": [{"amount": 5000, "currency": "EUR"}],
            "by_status": [{"status": "CANCELLED", "count": 2}, {"status": "CONFIRMED", "count": 1}],
            "cancellations": [
                {"reason": "out_of_stock", "count": 1},
                {"reason": "payment_declined", "count": 1}
            ]
        })
    );
    // Another window sees nothing; a window that ends before it starts is refused.
    let earlier: Value = summary(now - hour * 3, now - hour * 2)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(earlier["orders_placed"], 0);
    let backwards = summary(now, now - hour).await.unwrap();
    assert_eq!(backwards.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = backwards.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "to");

    // Money moved, from the payments ledger: captured, refunded and what the shop keeps.
    platform
        .payment_reaches(&confirmed, "captured", SETTLE)
        .await;
    let refund = platform
        .as_admin(
            Method::POST,
            format!("{}/admin/payments/{confirmed}/refunds", platform.payments),
        )
        .json(&json!({"amount": 1200, "reason": "one lamp returned"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), StatusCode::CREATED);
    let money = |from: time::OffsetDateTime, to: time::OffsetDateTime| {
        platform
            .as_admin(
                Method::GET,
                format!(
                    "{}/admin/payments/summary?{}",
                    platform.payments,
                    window(from, to)
                ),
            )
            .send()
    };
    let now = time::OffsetDateTime::now_utc();
    let moved: Value = money(now - hour, now + hour)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        moved,
        json!({"currencies": [{
            "currency": "EUR", "captured": 5000, "refunded": 1200, "net": 3800,
            "captures": 1, "refunds": 1
        }]})
    );
    let quiet: Value = money(now - hour * 3, now - hour * 2)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(quiet, json!({"currencies": []}));
    let backwards = money(now, now - hour).await.unwrap();
    assert_eq!(backwards.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let shopper = platform
        .as_user(
            Method::GET,
            format!(
                "{}/admin/payments/summary?{}",
                platform.payments,
                window(now - hour, now)
            ),
            "s",
            "shopper",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(shopper.status(), StatusCode::FORBIDDEN);
    platform.stop().await;
}
