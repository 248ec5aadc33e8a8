//! The metric names the running services export, after real traffic, for the observability
//! cross-check (`cargo xtask test` runs `observability/tests/check_observability.py` against the
//! file this writes: every metric a rule, dashboard or canary analysis uses must be here).

use std::collections::BTreeSet;
use std::time::Duration;

use checkout_tests::{Options, Platform};
use serde_json::{Value, json};

use crate::SETTLE;

#[tokio::test]
async fn services_export_the_metrics_that_dashboards_and_alerts_use() {
    let platform = Platform::start(Options::default()).await;
    platform.product("OBS-1", 1500, 5).await;
    let gateway = &platform.gateway;
    let client = &platform.client;
    let registered = client
        .post(format!("{gateway}/api/v1/auth/register"))
        .json(&json!({"email": "metrics@example.com", "password": "correct horse battery", "name": "M"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 202);
    let tokens: Value = client
        .post(format!("{gateway}/api/v1/auth/login"))
        .json(&json!({"email": "metrics@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    for _ in 0..2 {
        let listed = client
            .get(format!("{gateway}/api/v1/products?q=product"))
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200);
    }
    let put = client
        .put(format!("{gateway}/api/v1/cart/lines/OBS-1"))
        .bearer_auth(token)
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let placed = client
        .post(format!("{gateway}/api/v1/checkout"))
        .bearer_auth(token)
        .header("idempotency-key", "metrics-1")
        .json(&json!({"payment_method": "pm_card_visa"}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 202);
    let id = placed.json::<Value>().await.unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(platform.settled(&id, SETTLE).await["status"], "CONFIRMED");
    platform.payment_reaches(&id, "captured", SETTLE).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut names = BTreeSet::new();
    for base in [
        &platform.gateway,
        &platform.users,
        &platform.catalog,
        &platform.inventory,
        &platform.orders,
        &platform.payments,
    ] {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        names.extend(service_kit::testing::metric_names(&text));
    }
    for required in [
        "http_server_requests_total",
        "http_server_request_duration_seconds",
        "messaging_outbox_pending",
        "messaging_outbox_lag_seconds",
        "messaging_outbox_published_total",
        "messaging_outbox_publish_failures_total",
        "messaging_events_consumed_total",
        "messaging_dead_letter_depth",
        "orders_saga_outcomes_total",
        "catalog_cache_lookups_total",
        "gateway_rate_limit_decisions_total",
        "gateway_upstream_requests_total",
        "gateway_redis_failures_total",
        "users_redis_errors_total",
    ] {
        assert!(
            names.contains(required),
            "{required} is not exported: {names:?}"
        );
    }
    service_kit::testing::write_exported_metrics("exported-metrics.txt", &names).unwrap();
    platform.stop().await;
}
