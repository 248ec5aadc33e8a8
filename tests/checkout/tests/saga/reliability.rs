//! Consistency under load and failure: concurrency on scarce stock, duplicate deliveries,
//! cut connections, a broker restart, poison messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use checkout_tests::{Options, Platform, RabbitNode, queue_depth};
use events::Money;
use events::payloads::InventoryReserved;
use events::{Envelope, Event};
use lapin::types::FieldTable;
use serde_json::Value;
use service_kit::messaging;
use service_kit::testing::TcpProxy;

use crate::SETTLE;

/// Samples `on_hand - reserved` of a SKU until stopped; returns the lowest value seen.
fn watch_availability(
    platform: &Platform,
    sku: &str,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<i64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let pool = platform.inventory_db.clone();
    let sku = sku.to_owned();
    let flag = stop.clone();
    let lowest = Arc::new(AtomicI64::new(i64::MAX));
    let task = tokio::spawn(async move {
        while !flag.load(Ordering::Relaxed) {
            let row: (i32, i32) =
                sqlx::query_as("select on_hand, reserved from stock where sku = $1")
                    .bind(&sku)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            lowest.fetch_min(
                i64::from(row.0 - row.1).min(i64::from(row.0)),
                Ordering::Relaxed,
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        lowest.load(Ordering::Relaxed)
    });
    (stop, task)
}

#[tokio::test]
async fn two_hundred_concurrent_checkouts_for_fifty_units_confirm_exactly_fifty() {
    let platform = Arc::new(Platform::start(Options::default()).await);
    platform.product("HOT-1", 1999, 50).await;
    let (stop, watcher) = watch_availability(&platform, "HOT-1");

    let mut shoppers = Vec::new();
    for _ in 0..200 {
        let shopper = platform.shopper().await;
        platform.add_to_cart(&shopper, "HOT-1", 1).await;
        shoppers.push(shopper);
    }
    let mut handles = Vec::new();
    for shopper in shoppers {
        let platform = platform.clone();
        handles.push(tokio::spawn(async move {
            let response = platform
                .checkout(&shopper, "buy-hot-1", "pm_card_visa")
                .await;
            assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
            response.json::<Value>().await.unwrap()["order_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut ids = Vec::new();
    for handle in handles {
        ids.push(handle.await.unwrap());
    }
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let order = platform.settled(id, Duration::from_secs(180)).await;
        let key = format!(
            "{} {}",
            order["status"].as_str().unwrap(),
            order["cancel_reason"].as_str().unwrap_or("")
        );
        *outcomes.entry(key).or_default() += 1;
    }
    assert_eq!(outcomes.get("CONFIRMED "), Some(&50), "{outcomes:?}");
    assert_eq!(
        outcomes.get("CANCELLED out_of_stock"),
        Some(&150),
        "{outcomes:?}"
    );
    let metrics = platform
        .client
        .get(format!("{}/metrics", platform.orders))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"orders_saga_outcomes_total{outcome="confirmed",reason="",service="orders"} 50"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"orders_saga_outcomes_total{outcome="cancelled",reason="out_of_stock",service="orders"} 150"#), "{metrics}");

    let deadline = tokio::time::Instant::now() + SETTLE;
    while platform.stock("HOT-1").await != (0, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock: {:?}",
            platform.stock("HOT-1").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let lowest = watcher.await.unwrap();
    assert!(lowest >= 0, "available stock went to {lowest}");
    let captured: i64 =
        sqlx::query_scalar("select count(*) from payments where status = 'captured'")
            .fetch_one(&platform.payments_db)
            .await
            .unwrap();
    let deadline = tokio::time::Instant::now() + SETTLE;
    let mut captured = captured;
    while captured != 50 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{captured} payments captured"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        captured = sqlx::query_scalar("select count(*) from payments where status = 'captured'")
            .fetch_one(&platform.payments_db)
            .await
            .unwrap();
    }
    // No payment was ever attempted for an order that could not be reserved.
    let attempted: i64 =
        sqlx::query_scalar("select count(*) from payments where psp_reference is not null")
            .fetch_one(&platform.payments_db)
            .await
            .unwrap();
    assert_eq!(attempted, 50);
    Arc::into_inner(platform).unwrap().stop().await;
}

/// Everything the saga recorded, to compare before and after redeliveries.
async fn snapshot(platform: &Platform, sku: &str) -> Value {
    let timeline: i64 = sqlx::query_scalar("select count(*) from order_timeline")
        .fetch_one(&platform.orders_db)
        .await
        .unwrap();
    let orders: Vec<(String, String)> =
        sqlx::query_as("select id::text, status from orders order by id")
            .fetch_all(&platform.orders_db)
            .await
            .unwrap();
    let ledger: i64 = sqlx::query_scalar("select count(*) from ledger_entries")
        .fetch_one(&platform.payments_db)
        .await
        .unwrap();
    let movements: i64 = sqlx::query_scalar("select count(*) from stock_movements")
        .fetch_one(&platform.inventory_db)
        .await
        .unwrap();
    serde_json::json!({
        "timeline": timeline,
        "orders": orders,
        "ledger": ledger,
        "movements": movements,
        "stock": format!("{:?}", platform.stock(sku).await),
    })
}

async fn queues_idle(platform: &Platform, channel: &lapin::Channel) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let mut busy = 0;
        for service in ["orders", "inventory", "payments"] {
            let queue = platform.queue(service);
            busy += queue_depth(channel, &queue).await;
            for ms in &platform.retry_delays_ms {
                busy += queue_depth(channel, &format!("{queue}.retry.{ms}ms")).await;
            }
        }
        if busy == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{busy} messages never consumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_event_delivered_again_changes_nothing() {
    let platform = Platform::start(Options::default()).await;
    platform.product("DUP-1", 1000, 10).await;
    let confirmed = platform.place("DUP-1", 2, "pm_card_visa").await;
    let declined = platform.place("DUP-1", 1, "pm_card_chargeDeclined").await;
    assert_eq!(
        platform.settled(&confirmed, SETTLE).await["status"],
        "CONFIRMED"
    );
    assert_eq!(
        platform.settled(&declined, SETTLE).await["status"],
        "CANCELLED"
    );
    platform
        .payment_reaches(&confirmed, "captured", SETTLE)
        .await;
    platform.outboxes_drained(SETTLE).await;
    let (_connection, channel) = messaging::connect(&platform.amqp_url).await.unwrap();
    queues_idle(&platform, &channel).await;
    let before = snapshot(&platform, "DUP-1").await;
    let processed: i64 = sqlx::query_scalar("select count(*) from processed_events")
        .fetch_one(&platform.orders_db)
        .await
        .unwrap();

    // The relay "crashed" after publishing and before marking: every event goes out again,
    // same ids, as a restarted relay would send them.
    for pool in [
        &platform.orders_db,
        &platform.inventory_db,
        &platform.payments_db,
    ] {
        let republished = sqlx::query("update outbox set published_at = null")
            .execute(pool)
            .await
            .unwrap()
            .rows_affected();
        assert!(republished > 0);
    }
    platform.outboxes_drained(SETTLE).await;
    queues_idle(&platform, &channel).await;

    assert_eq!(snapshot(&platform, "DUP-1").await, before);
    let processed_after: i64 = sqlx::query_scalar("select count(*) from processed_events")
        .fetch_one(&platform.orders_db)
        .await
        .unwrap();
    assert_eq!(
        processed_after, processed,
        "duplicates must not count as new events"
    );
    for service in ["orders", "inventory", "payments"] {
        assert_eq!(
            queue_depth(&channel, &format!("{}.dlq", platform.queue(service))).await,
            0,
            "{service} parked a duplicate"
        );
    }
    platform.stop().await;
}

#[tokio::test]
async fn a_consumer_whose_connection_is_cut_mid_batch_loses_nothing() {
    let broker: std::net::SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let broker = service_kit::testing::amqp_url()
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|host| host.parse().ok())
        .unwrap_or(broker);
    let proxy = TcpProxy::start(broker).await;
    let via_proxy = service_kit::testing::amqp_url().replacen(
        &broker.to_string(),
        &proxy.addr().to_string(),
        1,
    );
    let platform = Platform::start(Options {
        orders_amqp_url: Some(via_proxy),
        ..Options::default()
    })
    .await;
    platform.product("CUT-1", 500, 100).await;
    let mut ids = Vec::new();
    for round in 0..5 {
        for _ in 0..6 {
            ids.push(platform.place("CUT-1", 1, "pm_card_visa").await);
        }
        // Orders' consumer and relay lose their connections while events are in flight.
        tokio::time::sleep(Duration::from_millis(50 + 30 * round)).await;
        proxy.reset();
    }
    for id in &ids {
        assert_eq!(platform.settled(id, SETTLE).await["status"], "CONFIRMED");
    }
    let deadline = tokio::time::Instant::now() + SETTLE;
    while platform.stock("CUT-1").await != (70, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock: {:?}",
            platform.stock("CUT-1").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    platform.stop().await;
}

#[tokio::test]
async fn orders_flowing_through_a_broker_restart_all_reach_a_terminal_state() {
    let rabbit = RabbitNode::start().await;
    let platform = Arc::new(
        Platform::start(Options {
            amqp_url: rabbit.url.clone(),
            ..Options::default()
        })
        .await,
    );
    platform.product("RST-1", 700, 40).await;
    let placing = {
        let platform = platform.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..40 {
                let token = if i % 4 == 3 {
                    "pm_card_chargeDeclined"
                } else {
                    "pm_card_visa"
                };
                ids.push(platform.place("RST-1", 1, token).await);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    rabbit.stop_app();
    // Checkout keeps accepting orders while the broker is away (the outbox holds the events).
    tokio::time::sleep(Duration::from_secs(2)).await;
    rabbit.start_app().await;
    let ids = placing.await.unwrap();
    let mut confirmed = 0;
    for id in &ids {
        let order = platform.settled(id, Duration::from_secs(120)).await;
        if order["status"] == "CONFIRMED" {
            confirmed += 1;
        } else {
            assert_eq!(order["cancel_reason"], "payment_declined", "{order}");
        }
    }
    // Enough units for all: the 30 visa orders are confirmed, the 10 declined ones cancelled.
    assert_eq!(confirmed, 30);
    let deadline = tokio::time::Instant::now() + SETTLE;
    while platform.stock("RST-1").await != (10, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock: {:?}",
            platform.stock("RST-1").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Arc::into_inner(platform).unwrap().stop().await;
    drop(rabbit);
}

#[tokio::test]
async fn a_poison_message_is_parked_while_others_flow_and_replay_redelivers_it() {
    let platform = Platform::start(Options::default()).await;
    platform.product("PSN-1", 1200, 10).await;
    let (_connection, channel) = messaging::connect(&platform.amqp_url).await.unwrap();
    // Payments cannot authorize an order it never heard of: retried, then parked.
    let stranger = uuid::Uuid::now_v7().to_string();
    let poison = Envelope::new(
        "/inventory",
        &stranger,
        None,
        InventoryReserved {
            order_id: stranger.clone(),
            reservation_id: uuid::Uuid::now_v7().to_string(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            total: Money::parse(1200, "EUR").unwrap(),
        },
    );
    messaging::publish_confirmed(
        &channel,
        &platform.exchange,
        InventoryReserved::TYPE,
        &poison.to_json().unwrap(),
        FieldTable::default(),
        &poison.id,
    )
    .await
    .unwrap();
    // Garbage goes straight to the dead-letter queue, without retries.
    messaging::publish_confirmed(
        &channel,
        &platform.exchange,
        InventoryReserved::TYPE,
        b"{not json",
        FieldTable::default(),
        "garbage-1",
    )
    .await
    .unwrap();
    // Meanwhile orders keep flowing.
    let id = platform.place("PSN-1", 1, "pm_card_visa").await;
    assert_eq!(platform.settled(&id, SETTLE).await["status"], "CONFIRMED");

    let deadline = tokio::time::Instant::now() + SETTLE;
    let letters = loop {
        let letters = messaging::list_dead_letters(&channel, &platform.queue("payments"))
            .await
            .unwrap();
        if letters.len() == 2 {
            break letters;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} dead letters",
            letters.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let parked = letters.iter().find(|l| l.id == poison.id).unwrap();
    let reason = parked.error.clone().unwrap();
    assert!(
        reason.contains("gave up after 3 attempts") && reason.contains(&stranger),
        "{reason}"
    );
    let garbage = letters.iter().find(|l| l.id != poison.id).unwrap();
    assert!(
        garbage.error.clone().unwrap().starts_with("malformed"),
        "{:?}",
        garbage.error
    );

    // Ops fix the cause (the payment now exists) and replay just that message.
    sqlx::query("insert into payments (id, order_id, customer_id, amount, currency, payment_method, status) values ($1, $2, 'c', 1200, 'EUR', 'pm_card_visa', 'created')")
        .bind(uuid::Uuid::now_v7())
        .bind(&stranger)
        .execute(&platform.payments_db)
        .await
        .unwrap();
    assert_eq!(
        messaging::replay_dead_letters(&channel, &platform.queue("payments"), Some(&poison.id))
            .await
            .unwrap(),
        1
    );
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let status: String = sqlx::query_scalar("select status from payments where order_id = $1")
            .bind(&stranger)
            .fetch_one(&platform.payments_db)
            .await
            .unwrap();
        if status == "authorized" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replayed message not handled: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = messaging::list_dead_letters(&channel, &platform.queue("payments"))
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "only the garbage stays parked");
    platform.stop().await;
}
