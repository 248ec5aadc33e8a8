use std::net::SocketAddr;

use reqwest::StatusCode;
use service_kit::testing::TcpProxy;

use crate::helpers::{product_json, spawn_app, spawn_app_with};

#[tokio::test]
async fn with_redis_unreachable_reads_still_answer_from_postgres_and_are_counted() {
    let app = spawn_app_with(|settings, _| {
        // Nothing listens on port 1: every Redis call fails at once.
        settings.redis.url = "redis://127.0.0.1:1".to_owned().into();
    })
    .await;
    let created = app
        .create_product(&product_json("nored-1", "Resilient Toaster"))
        .await;
    let id = created["id"].as_str().unwrap();

    let by_id = app.get(&format!("/products/{id}")).await;
    assert_eq!(by_id.status(), StatusCode::OK);
    assert_eq!(by_id.headers()["x-cache"], "error");
    assert_eq!(
        by_id.json::<serde_json::Value>().await.unwrap()["name"],
        "Resilient Toaster"
    );
    let list = app.get("/products?q=toaster").await;
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(
        list.json::<serde_json::Value>().await.unwrap()["items"][0]["id"],
        id
    );

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"catalog_cache_lookups_total{cache="product",result="error"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"catalog_cache_lookups_total{cache="list",result="error"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("catalog_cache_invalidation_failures_total 1"),
        "{metrics}"
    );

    // Redis is optional: the service stays ready and says what is down.
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let report: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(report["checks"]["redis"]["status"], "down");
}

#[tokio::test]
async fn readyz_answers_503_when_postgres_is_unreachable() {
    let postgres: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = TcpProxy::start(postgres).await;
    let proxy_addr = proxy.addr();
    let app = spawn_app_with(move |settings, db| {
        let url = format!("postgres://postgres:postgres@{proxy_addr}/{}", db.name);
        settings.database.url = url.into();
    })
    .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);

    proxy.cut();
    let unready = app.get("/readyz").await;
    assert_eq!(unready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let report: serde_json::Value = unready.json().await.unwrap();
    assert_eq!(report["status"], "unready");
    assert_eq!(report["checks"]["postgres"]["status"], "down");
    // Liveness is not readiness: the process is fine.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn red_metrics_use_route_templates_and_the_api_is_documented() {
    let app = spawn_app().await;
    let created = app
        .create_product(&product_json("met-1", "Measured Thing"))
        .await;
    app.get(&format!("/products/{}", created["id"].as_str().unwrap()))
        .await;
    app.get("/products/00000000-0000-0000-0000-000000000000")
        .await;
    let metrics = app.metrics().await;
    assert!(metrics.contains(
        r#"http_server_requests_total{method="GET",route="/products/{id}",service="catalog",status="200"} 1"#
    ), "{metrics}");
    assert!(metrics.contains(
        r#"http_server_requests_total{method="GET",route="/products/{id}",service="catalog",status="404"} 1"#
    ));
    assert!(metrics.contains(r#"http_server_request_duration_seconds_bucket{method="POST",route="/admin/products",service="catalog",status="201",le="#));
    assert!(
        !metrics.contains(created["id"].as_str().unwrap()),
        "no ids in labels"
    );

    let doc = app.get_json("/openapi.json").await;
    for path in [
        "/products",
        "/products/{id}",
        "/products/by-sku/{sku}",
        "/categories",
        "/admin/products/import",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn request_ids_and_traceparents_are_honoured() {
    let app = spawn_app().await;
    let response = app
        .request(reqwest::Method::GET, "/products")
        .header("x-request-id", "req-abc-123")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    let generated = app.get("/products").await;
    assert!(uuid::Uuid::parse_str(generated.headers()["x-request-id"].to_str().unwrap()).is_ok());
}
