//! Integration tests: the real inventory service (HTTP, consumer, relay, sweeper) on
//! PostgreSQL and RabbitMQ, with its own database, exchange and queues per test.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use events::Money;
use events::payloads::{Contact, OrderCancelled, OrderConfirmed, OrderLine, OrderPlaced};
use events::{Attributes, Envelope, Event};
use inventory::Application;
use inventory::config::Settings;
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use reqwest::StatusCode;
use serde_json::{Value, json};
use service_kit::messaging;
use service_kit::testing::{TestDatabase, amqp_url};
use sqlx::PgPool;
use tokio::sync::oneshot;

struct TestApp {
    base: String,
    client: reqwest::Client,
    pool: PgPool,
    exchange: String,
    queues: Vec<String>,
    probe: String,
    channel: lapin::Channel,
    _connection: lapin::Connection,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _db: TestDatabase,
}

async fn spawn(hold_seconds: u64) -> TestApp {
    let db = TestDatabase::create("inventory_test").await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let exchange = format!("test.events.{id}");
    let queue = format!("test.inventory.{id}");
    let probe = format!("test.probe.{id}");
    let (connection, channel) = messaging::connect(&amqp_url()).await.unwrap();
    messaging::declare_exchange(&channel, &exchange)
        .await
        .unwrap();
    channel
        .queue_declare(
            probe.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for key in ["inventory.*", "stock.low"] {
        channel
            .queue_bind(
                probe.as_str().into(),
                exchange.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }
    let mut settings = Settings::load().unwrap();
    settings.http.port = 0;
    settings.database.url = db.url.clone().into();
    settings.amqp.url = amqp_url().into();
    settings.amqp.exchange = exchange.clone();
    settings.amqp.queue = queue.clone();
    settings.amqp.retry_delays_ms = vec![100, 200];
    settings.reservations.hold_seconds = hold_seconds;
    settings.reservations.sweep_interval_ms = 100;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let pool = PgPool::connect(&db.url).await.unwrap();
    let queues = vec![
        queue.clone(),
        format!("{queue}.dlq"),
        format!("{queue}.retry.100ms"),
        format!("{queue}.retry.200ms"),
        probe.clone(),
    ];
    TestApp {
        base,
        client: reqwest::Client::new(),
        pool,
        exchange,
        queues,
        probe,
        channel,
        _connection: connection,
        shutdown: Some(tx),
        server: Some(server),
        _db: db,
    }
}

fn contact() -> Contact {
    Contact {
        email: "a@example.com".into(),
        phone: None,
        name: "A".into(),
        locale: "en".into(),
        notify_email: true,
        notify_sms: false,
    }
}

fn eur(amount: i64) -> Money {
    Money::parse(amount, "EUR").unwrap()
}

impl TestApp {
    async fn stock(&self, sku: &str, on_hand: i32) {
        let response = self
            .client
            .put(format!("{}/admin/inventory/{sku}", self.base))
            .header("x-auth-subject", "admin")
            .header("x-auth-roles", "admin")
            .json(&json!({"on_hand": on_hand, "reason": "initial count"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    async fn available(&self, sku: &str) -> i64 {
        let body: Value = self
            .client
            .get(format!("{}/inventory/{sku}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["available"].as_i64().unwrap()
    }

    async fn publish<T: Event>(&self, order_id: &str, data: T) {
        let envelope = Envelope::new("/orders", order_id, None, data);
        let headers = FieldTable::default();
        messaging::publish_confirmed(
            &self.channel,
            &self.exchange,
            T::TYPE,
            &envelope.to_json().unwrap(),
            headers,
            &envelope.id,
        )
        .await
        .unwrap();
    }

    async fn place(&self, order_id: &str, lines: &[(&str, u32)]) {
        let lines: Vec<OrderLine> = lines
            .iter()
            .map(|(sku, quantity)| OrderLine {
                sku: (*sku).into(),
                quantity: *quantity,
                unit_price: eur(100),
            })
            .collect();
        let placed = OrderPlaced {
            order_id: order_id.into(),
            customer_id: "c-1".into(),
            lines,
            total: eur(100),
            contact: contact(),
            payment_method: None,
        };
        self.publish(order_id, placed).await;
    }

    /// Waits for an event of `event_type` about `order_id` (or SKU) on the probe queue.
    async fn expect(&self, event_type: &str, key: &str) -> Value {
        let mut seen = Vec::new();
        for _ in 0..200 {
            if let Some(message) = self
                .channel
                .basic_get(self.probe.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()
            {
                let attributes = Attributes::peek(&message.delivery.data).unwrap();
                let body: Value = serde_json::from_slice(&message.delivery.data).unwrap();
                if attributes.event_type == event_type
                    && (body["data"]["order_id"] == key || body["data"]["sku"] == key)
                {
                    return body;
                }
                seen.push(attributes.event_type);
                continue;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {event_type} for {key}; saw {seen:?}");
    }

    async fn cleanup(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The consumer must be gone first, or it declares its queues again.
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        for queue in &self.queues {
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self
            .channel
            .exchange_delete(
                self.exchange.as_str().into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await;
    }
}

#[tokio::test]
async fn an_order_is_reserved_then_shipped_and_another_is_released() {
    let app = spawn(900).await;
    app.stock("LAMP-1", 10).await;
    app.stock("MUG-1", 3).await;

    app.place("o-1", &[("LAMP-1", 2), ("MUG-1", 1)]).await;
    let reserved = app.expect("inventory.reserved", "o-1").await;
    assert!(reserved["causationid"].as_str().is_some());
    assert_eq!(reserved["correlationid"], "o-1");
    assert_eq!(app.available("LAMP-1").await, 8);
    assert_eq!(app.available("MUG-1").await, 2);

    app.publish(
        "o-1",
        OrderConfirmed {
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            total: eur(100),
            contact: contact(),
        },
    )
    .await;
    // Reserving left MUG-1 at 2 available (threshold 5): a stock.low alert.
    app.expect("stock.low", "MUG-1").await;
    let mut on_hand = 0;
    for _ in 0..100 {
        on_hand = sqlx::query_scalar("select on_hand from stock where sku = 'LAMP-1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if on_hand == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(on_hand, 8, "shipping takes the units off the shelf");

    app.place("o-2", &[("LAMP-1", 5)]).await;
    app.expect("inventory.reserved", "o-2").await;
    assert_eq!(app.available("LAMP-1").await, 3);
    app.publish(
        "o-2",
        OrderCancelled {
            order_id: "o-2".into(),
            customer_id: "c-1".into(),
            reason: "payment_declined".into(),
            contact: contact(),
        },
    )
    .await;
    let released = app.expect("inventory.released", "o-2").await;
    assert_eq!(released["data"]["reason"], "order_cancelled");
    assert_eq!(app.available("LAMP-1").await, 8);
    app.cleanup().await;
}

#[tokio::test]
async fn an_order_with_a_short_line_reserves_nothing() {
    let app = spawn(900).await;
    app.stock("A-1", 5).await;
    app.stock("B-1", 1).await;
    app.place("o-3", &[("A-1", 2), ("B-1", 2), ("NEVER-STOCKED", 1)])
        .await;
    let rejected = app.expect("inventory.rejected", "o-3").await;
    let shortages: HashMap<String, u64> = rejected["data"]["shortages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["sku"].as_str().unwrap().to_owned(),
                s["available"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shortages,
        HashMap::from([("B-1".to_owned(), 1), ("NEVER-STOCKED".to_owned(), 0)])
    );
    assert_eq!(app.available("A-1").await, 5, "all or nothing");
    app.cleanup().await;
}

#[tokio::test]
async fn concurrent_reservations_never_oversell() {
    let app = spawn(900).await;
    app.stock("HOT-1", 25).await;
    // 30 orders of 2 units race for 25 units, each in its own transaction.
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let pool = app.pool.clone();
            tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                let outcome = inventory::store::reserve(
                    &mut tx,
                    &format!("race-{i}"),
                    &[("HOT-1".into(), 2)],
                    Duration::from_secs(60),
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                matches!(outcome, inventory::store::Reservation::Held { .. })
            })
        })
        .collect();
    let mut held = 0;
    for task in tasks {
        if task.await.unwrap() {
            held += 1;
        }
    }
    assert_eq!(held, 12);
    assert_eq!(app.available("HOT-1").await, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_reservation_without_an_outcome_expires_and_is_released() {
    let app = spawn(0).await;
    app.stock("SLOW-1", 4).await;
    app.place("o-4", &[("SLOW-1", 3)]).await;
    app.expect("inventory.reserved", "o-4").await;
    let released = app.expect("inventory.released", "o-4").await;
    assert_eq!(released["data"]["reason"], "expired");
    assert_eq!(app.available("SLOW-1").await, 4);

    // The confirmation was already on its way: the units are still there, so they ship.
    let confirm = |order: &str| OrderConfirmed {
        order_id: order.into(),
        customer_id: "c-1".into(),
        total: eur(100),
        contact: contact(),
    };
    app.publish("o-4", confirm("o-4")).await;
    let mut on_hand = 0;
    for _ in 0..100 {
        on_hand = sqlx::query_scalar("select on_hand from stock where sku = 'SLOW-1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if on_hand == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(on_hand, 1);
    assert_eq!(app.available("SLOW-1").await, 1);

    // Another expired order whose units were sold meanwhile: parked for operations, with why.
    app.place("o-6", &[("SLOW-1", 1)]).await;
    app.expect("inventory.reserved", "o-6").await;
    app.expect("inventory.released", "o-6").await;
    app.stock("SLOW-1", 0).await;
    app.publish("o-6", confirm("o-6")).await;
    let mut parked = None;
    for _ in 0..100 {
        let letters = messaging::list_dead_letters(&app.channel, &app.queues[0])
            .await
            .unwrap();
        if let Some(letter) = letters.into_iter().next() {
            parked = letter.error;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let parked = parked.expect("a dead letter");
    assert!(
        parked.contains("o-6") && parked.contains("stock is short"),
        "{parked}"
    );

    // The same dead letter through the admin API: listed with its depth and reason, then
    // discarded; unknown queues and ids are 404, non-admins 403.
    let admin = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, format!("{}{path}", app.base))
            .header("x-auth-subject", "ops")
            .header("x-auth-roles", "admin")
    };
    let queue = &app.queues[0];
    let queues: Value = admin(reqwest::Method::GET, "/admin/dead-letters")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queues["items"], json!([{"queue": queue, "depth": 1}]));
    let letters: Value = admin(
        reqwest::Method::GET,
        &format!("/admin/dead-letters/{queue}"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let letter = &letters["items"][0];
    assert_eq!(letter["event_type"], "order.confirmed");
    assert!(letter["error"].as_str().unwrap().contains("stock is short"));
    assert_eq!(letter["body"]["data"]["order_id"], "o-6");
    let id = letter["id"].as_str().unwrap().to_owned();
    let shopper = app
        .client
        .get(format!("{}/admin/dead-letters", app.base))
        .header("x-auth-subject", "u-1")
        .header("x-auth-roles", "shopper")
        .send()
        .await
        .unwrap();
    assert_eq!(shopper.status(), 403);
    for (method, path) in [
        (
            reqwest::Method::GET,
            "/admin/dead-letters/other-queue".to_owned(),
        ),
        (
            reqwest::Method::POST,
            format!("/admin/dead-letters/{queue}/no-such-id/replay"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/admin/dead-letters/{queue}/no-such-id"),
        ),
    ] {
        let response = admin(method.clone(), &path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let discarded = admin(
        reqwest::Method::DELETE,
        &format!("/admin/dead-letters/{queue}/{id}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(discarded.status(), 204);
    let queues: Value = admin(reqwest::Method::GET, "/admin/dead-letters")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queues["items"][0]["depth"], 0);
    app.cleanup().await;
}

#[tokio::test]
async fn the_same_order_event_twice_reserves_once() {
    let app = spawn(900).await;
    app.stock("DUP-1", 10).await;
    let lines = vec![OrderLine {
        sku: "DUP-1".into(),
        quantity: 4,
        unit_price: eur(100),
    }];
    let placed = OrderPlaced {
        order_id: "o-5".into(),
        customer_id: "c-1".into(),
        lines,
        total: eur(400),
        contact: contact(),
        payment_method: None,
    };
    let envelope = Envelope::new("/orders", "o-5", None, placed);
    let body = envelope.to_json().unwrap();
    for _ in 0..2 {
        messaging::publish_confirmed(
            &app.channel,
            &app.exchange,
            "order.placed",
            &body,
            FieldTable::default(),
            &envelope.id,
        )
        .await
        .unwrap();
    }
    app.expect("inventory.reserved", "o-5").await;
    // Give the duplicate time to be consumed, then check it changed nothing.
    app.stock("OTHER-1", 1).await;
    app.place("o-6", &[("OTHER-1", 1)]).await;
    app.expect("inventory.reserved", "o-6").await;
    assert_eq!(app.available("DUP-1").await, 6);
    app.cleanup().await;
}

#[tokio::test]
async fn stock_changes_are_validated_and_cannot_undercut_reservations() {
    let app = spawn(900).await;
    app.stock("VAL-1", 5).await;
    app.place("o-7", &[("VAL-1", 4)]).await;
    app.expect("inventory.reserved", "o-7").await;
    let put = |body: Value| {
        app.client
            .put(format!("{}/admin/inventory/VAL-1", app.base))
            .header("x-auth-subject", "admin")
            .header("x-auth-roles", "admin")
            .json(&body)
            .send()
    };
    assert_eq!(
        put(json!({"on_hand": 2, "reason": "count"}))
            .await
            .unwrap()
            .status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        put(json!({"on_hand": -1, "reason": "count"}))
            .await
            .unwrap()
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        put(json!({"on_hand": 1, "adjust": 1, "reason": "x"}))
            .await
            .unwrap()
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        put(json!({"adjust": 3, "reason": "restock"}))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.available("VAL-1").await, 4);
    let shopper = app
        .client
        .put(format!("{}/admin/inventory/VAL-1", app.base))
        .header("x-auth-subject", "u")
        .header("x-auth-roles", "shopper")
        .json(&json!({"adjust": 1, "reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(shopper.status(), StatusCode::FORBIDDEN);
    app.cleanup().await;
}

#[tokio::test]
async fn a_stock_count_sets_many_skus_at_once_or_none() {
    let app = spawn(900).await;
    let post = |body: Value| {
        app.client
            .post(format!("{}/admin/inventory", app.base))
            .header("x-auth-subject", "admin")
            .header("x-auth-roles", "admin")
            .json(&body)
            .send()
    };
    let ok = post(json!({"reason": "initial load", "items": [{"sku": "C-1", "on_hand": 7}, {"sku": "c-2", "on_hand": 0}]}))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(app.available("C-1").await, 7);
    assert_eq!(app.available("C-2").await, 0);
    let bad = post(json!({"reason": "x", "items": [{"sku": "C-1", "on_hand": 9}, {"sku": "bad sku", "on_hand": 1}, {"sku": "C-3", "on_hand": -1}]}))
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["items[1].sku", "items[2].on_hand"]);
    assert_eq!(app.available("C-1").await, 7, "nothing applied");
    app.cleanup().await;
}

#[tokio::test]
async fn operators_page_through_stock_and_see_reservations_in_flight() {
    let app = spawn(900).await;
    for i in 0..5 {
        app.stock(&format!("LST-{i}"), i * 3).await;
    }
    app.place("o-list", &[("LST-4", 2), ("LST-3", 1)]).await;
    app.expect("inventory.reserved", "o-list").await;
    let get = |path: String| {
        let request = app
            .client
            .get(format!("{}{path}", app.base))
            .header("x-auth-subject", "ops")
            .header("x-auth-roles", "admin");
        async move { request.send().await.unwrap() }
    };

    // Every SKU once, in order, two per page.
    let mut seen = Vec::new();
    let mut path = "/admin/inventory?limit=2".to_owned();
    loop {
        let page: Value = get(path.clone()).await.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item.clone());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/admin/inventory?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let skus: Vec<&str> = seen.iter().map(|i| i["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, ["LST-0", "LST-1", "LST-2", "LST-3", "LST-4"]);
    let four = &seen[4];
    assert_eq!(
        (
            four["on_hand"].as_i64(),
            four["reserved"].as_i64(),
            four["available"].as_i64()
        ),
        (Some(12), Some(2), Some(10))
    );

    // Low only: at or below the threshold (5 by default).
    let low: Value = get("/admin/inventory?low_only=true".into())
        .await
        .json()
        .await
        .unwrap();
    let low: Vec<&str> = low["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(low, ["LST-0", "LST-1"]);

    // Reservations in flight, one row per line.
    let held: Value = get("/admin/inventory/reservations".into())
        .await
        .json()
        .await
        .unwrap();
    let lines: Vec<(String, i64)> = held["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["order_id"], "o-list");
            (
                l["sku"].as_str().unwrap().to_owned(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, [("LST-3".to_owned(), 1), ("LST-4".to_owned(), 2)]);

    // Bad paging is a 400 naming the parameter.
    for (path, field) in [
        ("/admin/inventory?limit=0", "limit"),
        ("/admin/inventory?cursor=%25%25", "cursor"),
        ("/admin/inventory?low_only=perhaps", "low_only"),
        ("/admin/inventory/reservations?cursor=bm9waXBl", "cursor"),
    ] {
        let response = get(path.into()).await;
        assert_eq!(response.status(), 400, "{path}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn readiness_is_postgres_and_the_background_tasks_and_no_redis() {
    // inventory keeps nothing in Redis: a Redis check would only report an outage it cannot
    // feel (and in the clusters it has no Redis address or credentials at all).
    let app = spawn(900).await;
    let response = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    let checks = report["checks"].as_object().unwrap();
    let mut names: Vec<&str> = checks.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["background_tasks", "postgres"], "{report}");
    app.cleanup().await;
}
