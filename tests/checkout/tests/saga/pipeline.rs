//! The concurrent event pipeline: deliveries handled side by side, out of order and twice,
//! still drive every order to its one right outcome; a payments process that dies between the
//! provider's answer and its record never charges twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use checkout_tests::{Options, Platform, queue_depth};
use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use payments::provider::{
    Authorization, AuthorizeRequest, BoxFuture, PaymentProvider, Provider, ProviderError,
    ProviderPayment,
};
use serde_json::Value;
use service_kit::messaging;
use service_kit::money::Money;

use crate::SETTLE;

/// A number below `n` drawn from a fresh UUID (good enough to shuffle test deliveries).
fn below(n: u64) -> u64 {
    u64::try_from(uuid::Uuid::new_v4().as_u128() % u128::from(n)).unwrap()
}

/// Takes every event the orders service consumes off its queue's bindings and hands each to
/// the queue later, after a random delay (so one order's events arrive in any order), and
/// about a third of them twice.
async fn shuffle_deliveries_to_orders(
    platform: &Platform,
) -> (String, tokio::task::JoinHandle<()>) {
    let (connection, channel) = messaging::connect(&platform.amqp_url).await.unwrap();
    let orders_queue = platform.queue("orders");
    let shuffler = format!("{orders_queue}.shuffler");
    channel
        .queue_declare(
            shuffler.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for key in orders::consumer::CONSUMES {
        channel
            .queue_unbind(
                orders_queue.as_str().into(),
                platform.exchange.as_str().into(),
                (*key).into(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                shuffler.as_str().into(),
                platform.exchange.as_str().into(),
                (*key).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }
    let mut deliveries = channel
        .basic_consume(
            shuffler.as_str().into(),
            "shuffler".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _connection = connection;
        while let Some(Ok(delivery)) = deliveries.next().await {
            let copies = if below(3) == 0 { 2 } else { 1 };
            for _ in 0..copies {
                let channel = channel.clone();
                let queue = orders_queue.clone();
                let body = delivery.data.clone();
                let properties = delivery.properties.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(below(250))).await;
                    channel
                        .basic_publish(
                            "".into(),
                            queue.as_str().into(),
                            BasicPublishOptions::default(),
                            &body,
                            properties,
                        )
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                });
            }
            delivery.ack(BasicAckOptions::default()).await.unwrap();
        }
    });
    (shuffler, task)
}

#[tokio::test]
async fn a_hundred_orders_delivered_concurrently_reordered_and_twice_each_end_right() {
    let platform = Arc::new(Platform::start(Options::default()).await);
    platform.product("MIX-A", 1250, 1000).await;
    platform.product("MIX-B", 990, 0).await;
    let (shuffler, shuffling) = shuffle_deliveries_to_orders(&platform).await;

    // 60 paid and in stock, 20 declined, 20 out of stock: all at once.
    let mut placing = Vec::new();
    for n in 0..100 {
        let (sku, quantity, token, expected) = match n % 5 {
            0 => (
                "MIX-A",
                1,
                "pm_card_chargeDeclined",
                "CANCELLED payment_declined",
            ),
            1 => ("MIX-B", 1, "pm_card_visa", "CANCELLED out_of_stock"),
            _ => ("MIX-A", 2, "pm_card_visa", "CONFIRMED "),
        };
        let platform = platform.clone();
        placing.push(tokio::spawn(async move {
            let id = platform.place(sku, quantity, token).await;
            (id, expected)
        }));
    }
    let mut expected = HashMap::new();
    for placed in placing {
        let (id, outcome) = placed.await.unwrap();
        expected.insert(id, outcome);
    }
    for (id, outcome) in &expected {
        let order = platform.settled(id, SETTLE * 3).await;
        let got = format!(
            "{} {}",
            order["status"].as_str().unwrap(),
            order["cancel_reason"].as_str().unwrap_or("")
        );
        assert_eq!(&got, outcome, "order {id}: {order}");
    }

    // Stock: exactly the 60 confirmed orders' units left, nothing held.
    let deadline = tokio::time::Instant::now() + SETTLE;
    while platform.stock("MIX-A").await != (1000 - 120, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock {:?}",
            platform.stock("MIX-A").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(platform.stock("MIX-B").await, (0, 0));

    // Ledger: every confirmed order captured once for its total; nothing else moved money.
    for (id, outcome) in &expected {
        let want = match *outcome {
            "CONFIRMED " => "captured",
            "CANCELLED payment_declined" => "failed",
            _ => "cancelled",
        };
        let payment = platform.payment_reaches(id, want, SETTLE).await;
        let balance = &payment["balance"];
        assert_eq!(balance["reconciles"], true, "{payment}");
        if want == "captured" {
            assert_eq!(balance["authorized"], 2500, "{payment}");
            assert_eq!(balance["captured"], 2500, "{payment}");
        } else {
            assert_eq!(balance["authorized"], 0, "{payment}");
            assert_eq!(balance["captured"], 0, "{payment}");
        }
    }
    let captures: i64 =
        sqlx::query_scalar("select count(*) from ledger_entries where kind = 'capture'")
            .fetch_one(&platform.payments_db)
            .await
            .unwrap();
    assert_eq!(captures, 60);
    platform.outboxes_drained(SETTLE).await;
    let (_connection, channel) = messaging::connect(&platform.amqp_url).await.unwrap();
    for service in ["orders", "inventory", "payments"] {
        assert_eq!(
            queue_depth(&channel, &format!("{}.dlq", platform.queue(service))).await,
            0,
            "{service} parked a message"
        );
    }
    shuffling.abort();
    let _ = channel
        .queue_delete(shuffler.as_str().into(), QueueDeleteOptions::default())
        .await;
    Arc::into_inner(platform).unwrap().stop().await;
}

/// The provider adapter, except that the first authorization "crashes the process" right
/// after the provider answered, before payments could record the answer.
#[derive(Debug)]
struct CrashAfterFirstAuthorization {
    inner: Provider,
    crashed: AtomicBool,
}

impl PaymentProvider for CrashAfterFirstAuthorization {
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizeRequest,
    ) -> BoxFuture<'a, Result<Authorization, ProviderError>> {
        Box::pin(async move {
            let answer = self.inner.authorize(request).await;
            assert!(
                self.crashed.swap(true, Ordering::SeqCst),
                "crash: the provider answered {answer:?}, and the process died before recording it"
            );
            answer
        })
    }

    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.inner.capture(reference, amount, key)
    }

    fn void<'a>(
        &'a self,
        reference: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.inner.void(reference, key)
    }

    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        self.inner.refund(reference, amount, key)
    }

    fn payment<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProviderPayment>, ProviderError>> {
        self.inner.payment(reference)
    }

    fn payments<'a>(
        &'a self,
        from: i64,
        to: i64,
    ) -> BoxFuture<'a, Result<Vec<ProviderPayment>, ProviderError>> {
        self.inner.payments(from, to)
    }
}

fn crash_after_first_authorization(inner: Provider) -> Provider {
    Arc::new(CrashAfterFirstAuthorization {
        inner,
        crashed: AtomicBool::new(false),
    })
}

#[tokio::test]
async fn a_crash_between_the_provider_call_and_its_record_authorizes_exactly_once() {
    // Without webhooks: Stripe's `amount_capturable_updated` would record the authorization
    // by itself; this test is about the saga's own recovery.
    let mut platform = Platform::start(Options {
        provider_wrapper: Some(crash_after_first_authorization),
        provider_webhooks: false,
        ..Options::default()
    })
    .await;
    platform.product("CRASH-1", 1500, 10).await;
    let order = platform.place("CRASH-1", 1, "pm_card_visa").await;

    // The handler died after the provider authorized: payments takes itself down, with an
    // error (its process exits non-zero), and the payment shows the intent only.
    let ended = platform.payments_stopped(SETTLE).await;
    let error = ended.expect_err("payments must fail when its consumer dies");
    assert!(
        error.to_string().contains("event consumer panicked"),
        "{error}"
    );
    let (payment_id, status): (uuid::Uuid, String) =
        sqlx::query_as("select id, status from payments where order_id = $1")
            .bind(&order)
            .fetch_one(&platform.payments_db)
            .await
            .unwrap();
    assert_eq!(status, "authorizing");

    // Restarted, it gets the delivery again and asks again with the same key.
    platform.restart_payments().await;
    let settled = platform.settled(&order, SETTLE).await;
    assert_eq!(settled["status"], "CONFIRMED", "{settled}");
    let payment = platform.payment_reaches(&order, "captured", SETTLE).await;
    assert_eq!(payment["balance"]["authorized"], 1500, "{payment}");
    assert_eq!(payment["balance"]["captured"], 1500, "{payment}");
    assert_eq!(payment["balance"]["reconciles"], true, "{payment}");

    let made: Value = platform
        .client
        .get(format!("{}/_simulator/payment_intents", platform.simulator))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        made["by_payment_id"][payment_id.to_string()],
        1,
        "the provider authorized once for this payment: {made}"
    );
    assert_eq!(
        made["by_key"][format!("{payment_id}:authorize")],
        1,
        "{made}"
    );
    platform.stop().await;
}

/// The payments database of the test below, for its provider wrapper.
static RACE_DB: std::sync::OnceLock<sqlx::PgPool> = std::sync::OnceLock::new();

/// The provider adapter, except that while the first authorization is with the provider,
/// another replica records the order's cancellation (the payment goes from `authorizing` to
/// `cancelled` in the database, as that replica's cancellation step does).
#[derive(Debug)]
struct CancelledWhileAuthorizing {
    inner: Provider,
    raced: AtomicBool,
}

impl PaymentProvider for CancelledWhileAuthorizing {
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizeRequest,
    ) -> BoxFuture<'a, Result<Authorization, ProviderError>> {
        Box::pin(async move {
            let answer = self.inner.authorize(request).await;
            if !self.raced.swap(true, Ordering::SeqCst) {
                let pool = RACE_DB.get().expect("the test set the database");
                sqlx::query(
                    "update payments set status = 'cancelled', failure_reason = 'order cancelled' \
                     where id = $1::uuid and status = 'authorizing'",
                )
                .bind(&request.reference)
                .execute(pool)
                .await
                .unwrap();
            }
            answer
        })
    }

    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.inner.capture(reference, amount, key)
    }

    fn void<'a>(
        &'a self,
        reference: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.inner.void(reference, key)
    }

    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        self.inner.refund(reference, amount, key)
    }

    fn payment<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProviderPayment>, ProviderError>> {
        self.inner.payment(reference)
    }

    fn payments<'a>(
        &'a self,
        from: i64,
        to: i64,
    ) -> BoxFuture<'a, Result<Vec<ProviderPayment>, ProviderError>> {
        self.inner.payments(from, to)
    }
}

fn cancelled_while_authorizing(inner: Provider) -> Provider {
    Arc::new(CancelledWhileAuthorizing {
        inner,
        raced: AtomicBool::new(false),
    })
}

#[tokio::test]
async fn an_approval_that_arrives_after_another_replica_cancelled_is_voided() {
    // Without webhooks, so the cancellation lands while the authorization is in flight (an
    // `amount_capturable_updated` event could record the approval first).
    let platform = Platform::start(Options {
        provider_wrapper: Some(cancelled_while_authorizing),
        provider_webhooks: false,
        ..Options::default()
    })
    .await;
    RACE_DB.set(platform.payments_db.clone()).unwrap();
    platform.product("RACE-1", 2200, 10).await;
    let order = platform.place("RACE-1", 1, "pm_card_visa").await;

    // The provider approved after the payment was cancelled: the hold is released, and the
    // ledger shows the authorization and its void.
    let payment = platform.payment_reaches(&order, "voided", SETTLE).await;
    let balance = &payment["balance"];
    assert_eq!(balance["authorized"], 2200, "{payment}");
    assert_eq!(balance["voided"], 2200, "{payment}");
    assert_eq!(balance["captured"], 0, "{payment}");
    assert_eq!(balance["reconciles"], true, "{payment}");
    let payment_id = payment["id"].as_str().unwrap().to_owned();
    let made: Value = platform
        .client
        .get(format!("{}/_simulator/payment_intents", platform.simulator))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(made["by_payment_id"][&payment_id], 1, "{made}");
    let reference = payment["psp_reference"].as_str().unwrap();
    assert_eq!(made["status"][reference], "canceled", "{made}");

    // The order was never confirmed; the shop cancels it, which releases the stock.
    assert_ne!(platform.order(&order).await["status"], "CONFIRMED");
    let response = platform
        .as_admin(
            reqwest::Method::POST,
            format!("{}/admin/orders/{order}/cancel", platform.orders),
        )
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    assert_eq!(
        platform.settled(&order, SETTLE).await["status"],
        "CANCELLED"
    );
    let deadline = tokio::time::Instant::now() + SETTLE;
    while platform.stock("RACE-1").await != (10, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock never released"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let payment = platform.payment_reaches(&order, "voided", SETTLE).await;
    assert_eq!(payment["balance"]["voided"], 2200, "{payment}");
    platform.stop().await;
}
