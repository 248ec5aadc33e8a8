//! The shared middleware stack, exercised through a router in memory.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use service_kit::config::HttpSettings;
use service_kit::extract::ApiJson;
use service_kit::http::ServiceApp;
use service_kit::metrics::Metrics;
use tower::ServiceExt;

async fn explode() -> &'static str {
    panic!("boom")
}

fn app() -> (Router, Metrics) {
    let metrics = Metrics::new("kit-test").unwrap();
    let settings = HttpSettings {
        host: "127.0.0.1".into(),
        port: 0,
        request_timeout_ms: 100,
        body_limit_bytes: 64,
    };
    let routes = Router::new()
        .route("/panic", get(explode))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/echo",
            post(|ApiJson(v): ApiJson<serde_json::Value>| async move { v.to_string() }),
        );
    let router = ServiceApp::new(metrics.clone(), settings)
        .routes(routes)
        .into_router();
    (router, metrics)
}

async fn call(
    router: Router,
    request: Request<Body>,
) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn a_panicking_handler_answers_an_opaque_500_problem_and_is_counted() {
    let (router, metrics) = app();
    let (status, headers, body) =
        call(router, Request::get("/panic").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        !body.to_string().contains("boom"),
        "the panic message stays in the logs"
    );
    assert!(
        metrics
            .render()
            .contains(r#"route="/panic",service="kit-test",status="500"} 1"#)
    );
}

#[tokio::test]
async fn a_request_over_its_time_limit_answers_503() {
    let (router, _) = app();
    let (status, _, body) = call(router, Request::get("/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["instance"], "/slow");
}

#[tokio::test]
async fn bodies_over_the_limit_answer_413() {
    let (router, _) = app();
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100));
    let request = Request::post("/echo")
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    let (status, _, _) = call(router, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems_with_a_request_id() {
    let (router, metrics) = app();
    let (status, headers, body) = call(
        router.clone(),
        Request::get("/nope").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["request_id"],
        headers["x-request-id"].to_str().unwrap()
    );
    let (status, _, _) = call(
        router,
        Request::delete("/echo").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        metrics.render().contains(r#"route="unmatched""#),
        "unknown paths share one label"
    );
}
