//! Checkout's `Idempotency-Key` rules, price re-checks, and the cart's durability.

use std::sync::Arc;
use std::time::Duration;

use checkout_tests::{Options, Platform};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::SETTLE;

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

async fn order_count(platform: &Platform) -> i64 {
    sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&platform.orders_db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_same_key_replays_another_body_is_refused_and_a_running_request_conflicts() {
    let platform = Arc::new(Platform::start(Options::default()).await);
    platform.product("IDEM-1", 1000, 100).await;
    let shopper = platform.shopper().await;
    let checkout = |key: Option<&str>, body: Value| {
        let mut request = platform
            .as_user(
                Method::POST,
                format!("{}/checkout", platform.orders),
                &shopper.id,
                "shopper",
            )
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send()
    };

    // No key, a bad key: 400, nothing created.
    let missing = problem(
        checkout(None, json!({"payment_method": "tok_visa"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(missing["errors"][0]["field"], "Idempotency-Key");
    let long = "k".repeat(300);
    problem(
        checkout(Some(&long), json!({"payment_method": "tok_visa"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // An empty cart: 422, and the key is released for a later, valid attempt.
    let empty = problem(
        checkout(Some("key-a"), json!({"payment_method": "tok_visa"}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(empty["errors"][0]["field"], "cart");
    // A bad payment method: 422 naming the field.
    platform.add_to_cart(&shopper, "IDEM-1", 2).await;
    let bad = problem(
        checkout(Some("key-b"), json!({"payment_method": "4111111111111111"}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "payment_method");
    let unknown = problem(
        checkout(
            Some("key-b"),
            json!({"payment_method": "tok_visa", "coupon": "x"}),
        )
        .await
        .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(unknown.to_string().contains("coupon"), "{unknown}");

    let first = checkout(Some("key-a"), json!({"payment_method": "tok_visa"}))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    // Same key, same body (keys in another order): the stored answer, marked as a replay.
    let again = checkout(Some("key-a"), json!({"payment_method": "tok_visa"}))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()["location"],
        format!("/orders/{}", first["order_id"].as_str().unwrap()).as_str()
    );
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // Same key, another body: 422.
    let other = problem(
        checkout(Some("key-a"), json!({"payment_method": "tok_mastercard"}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(other["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(order_count(&platform).await, 1);

    // A request with this key still running (claimed, not finished): 409.
    sqlx::query("insert into idempotency_keys (customer_id, key, request_hash, state) values ($1, 'key-busy', $2, 'in_progress')")
        .bind(&shopper.id)
        .bind(orders::checkout::fingerprint(&json!({"payment_method": "tok_visa"})))
        .execute(&platform.orders_db)
        .await
        .unwrap();
    platform.add_to_cart(&shopper, "IDEM-1", 1).await;
    problem(
        checkout(Some("key-busy"), json!({"payment_method": "tok_visa"}))
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    // A claim left by a crashed instance lapses after a minute.
    sqlx::query("update idempotency_keys set created_at = now() - interval '2 minutes' where key = 'key-busy'")
        .execute(&platform.orders_db)
        .await
        .unwrap();
    assert_eq!(
        checkout(Some("key-busy"), json!({"payment_method": "tok_visa"}))
            .await
            .unwrap()
            .status(),
        StatusCode::ACCEPTED
    );

    // Eight identical requests at once: one order; the others replay it or are told to wait.
    platform.add_to_cart(&shopper, "IDEM-1", 1).await;
    let mut racers = Vec::new();
    for _ in 0..8 {
        let platform = platform.clone();
        let shopper = shopper.clone();
        racers.push(tokio::spawn(async move {
            let response = platform.checkout(&shopper, "key-race", "tok_visa").await;
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body["order_id"].clone())
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for racer in racers {
        let (status, id) = racer.await.unwrap();
        assert!(
            status == StatusCode::ACCEPTED || status == StatusCode::CONFLICT,
            "{status}"
        );
        if status == StatusCode::ACCEPTED {
            ids.insert(id.to_string());
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(order_count(&platform).await, 3);

    // Keys are forgotten after 24 hours.
    sqlx::query(
        "update idempotency_keys set created_at = now() - interval '25 hours' where key = 'key-a'",
    )
    .execute(&platform.orders_db)
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let left: i64 =
            sqlx::query_scalar("select count(*) from idempotency_keys where key = 'key-a'")
                .fetch_one(&platform.orders_db)
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "old key never swept"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Arc::into_inner(platform).unwrap().stop().await;
}

#[tokio::test]
async fn a_price_change_is_caught_at_checkout_and_the_cart_survives_losing_redis() {
    let platform = Platform::start(Options::default()).await;
    platform.product("PRICE-1", 1000, 10).await;
    let shopper = platform.shopper().await;
    platform.add_to_cart(&shopper, "PRICE-1", 2).await;

    // Unknown SKU, bad quantity: 422 naming the field; a malformed SKU: 400.
    let url = |sku: &str| format!("{}/cart/lines/{sku}", platform.orders);
    let unknown = platform
        .as_user(Method::PUT, url("NOPE-1"), &shopper.id, "shopper")
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"],
        "sku"
    );
    let zero = platform
        .as_user(Method::PUT, url("PRICE-1"), &shopper.id, "shopper")
        .json(&json!({"quantity": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(zero, StatusCode::UNPROCESSABLE_ENTITY).await["errors"][0]["field"],
        "quantity"
    );
    let malformed = platform
        .as_user(Method::PUT, url("bad sku!"), &shopper.id, "shopper")
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    problem(malformed, StatusCode::BAD_REQUEST).await;
    let anonymous = platform
        .client
        .get(format!("{}/cart", platform.orders))
        .send()
        .await
        .unwrap();
    problem(anonymous, StatusCode::UNAUTHORIZED).await;

    // Redis loses every cart (a restart without persistence): PostgreSQL still has it.
    let mut redis = redis::Client::open(service_kit::testing::redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*orders:cart:*")
        .query(&mut redis)
        .unwrap();
    let ours: Vec<&String> = keys.iter().filter(|k| k.ends_with(&shopper.id)).collect();
    assert_eq!(ours.len(), 1, "the cart is cached: {keys:?}");
    let _: () = redis::cmd("DEL").arg(ours[0]).query(&mut redis).unwrap();
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
    assert_eq!(cart["lines"][0]["quantity"], 2);
    assert_eq!(cart["subtotal"]["amount"], 2000);

    // The price goes up after the shopper added the product: checkout stops and shows it.
    let product: Value = platform
        .client
        .get(format!("{}/products/by-sku/PRICE-1", platform.catalog))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let patched = platform
        .as_admin(
            Method::PATCH,
            format!(
                "{}/admin/products/{}",
                platform.catalog,
                product["id"].as_str().unwrap()
            ),
        )
        .header("if-match", format!("\"{}\"", product["version"]))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"price": {"amount": 1200, "currency": "EUR"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        patched.status(),
        StatusCode::OK,
        "{}",
        patched.text().await.unwrap()
    );
    let changed = problem(
        platform.checkout(&shopper, "p-1", "tok_visa").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        changed["detail"]
            .as_str()
            .unwrap()
            .contains("price changed from 1000 to 1200"),
        "{changed}"
    );
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
    assert_eq!(cart["subtotal"]["amount"], 2400);
    // Reviewed: the same key may be used again, now at the new price.
    let accepted = platform.checkout(&shopper, "p-1", "tok_visa").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(body["total"]["amount"], 2400);
    assert_eq!(
        platform
            .settled(body["order_id"].as_str().unwrap(), SETTLE)
            .await["status"],
        "CONFIRMED"
    );
    platform.stop().await;
}

#[tokio::test]
async fn a_shopper_signs_in_and_buys_through_the_gateway() {
    let platform = Platform::start(Options::default()).await;
    platform.product("GW-1", 3000, 5).await;
    let gateway = &platform.gateway;
    let client = &platform.client;
    let registered = client
        .post(format!("{gateway}/api/v1/auth/register"))
        .json(&json!({"email": "buyer@example.com", "password": "correct horse battery", "name": "Buyer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::ACCEPTED);
    let tokens: Value = client
        .post(format!("{gateway}/api/v1/auth/login"))
        .json(&json!({"email": "buyer@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();

    let anonymous = client
        .get(format!("{gateway}/api/v1/cart"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let cart = client
        .put(format!("{gateway}/api/v1/cart/lines/GW-1"))
        .bearer_auth(token)
        .json(&json!({"quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(cart.status(), StatusCode::OK);
    let placed = client
        .post(format!("{gateway}/api/v1/checkout"))
        .bearer_auth(token)
        .header("idempotency-key", "gw-key-1")
        .json(&json!({"payment_method": "tok_visa"}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), StatusCode::ACCEPTED);
    let location = placed.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/api/v1/orders/"), "{location}");
    let deadline = tokio::time::Instant::now() + SETTLE;
    let order = loop {
        let order: Value = client
            .get(format!("{gateway}{location}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if order["status"] == "CONFIRMED" {
            break order;
        }
        assert!(tokio::time::Instant::now() < deadline, "{order}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(order["contact"]["email"], "buyer@example.com");
    // Shoppers cannot reach the back office.
    let admin = client
        .get(format!("{gateway}/api/v1/admin/orders"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
    platform.stop().await;
}
