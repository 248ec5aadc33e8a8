use gateway::config::Quota;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use service_kit::testing::TcpProxy;

use crate::helpers::{Options, problem, spawn_platform};

#[tokio::test]
async fn client_sent_identity_headers_never_reach_an_upstream() {
    let platform = spawn_platform(Options::default()).await;
    let anonymous: Value = platform
        .request(Method::GET, "/api/v1/echo/x")
        .header("x-auth-subject", "forged-admin")
        .header("x-auth-roles", "admin")
        .header("x-auth-session", "s")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headers = anonymous["headers"].as_object().unwrap();
    assert!(
        headers.keys().all(|k| !k.starts_with("x-auth-")),
        "{headers:?}"
    );
    assert!(
        headers.contains_key("traceparent"),
        "the trace continues upstream"
    );
    assert!(headers.contains_key("x-request-id"));

    let (user_id, tokens) = platform.sign_up("pia@example.com").await;
    let signed_in: Value = platform
        .request(Method::GET, "/api/v1/echo-private/x")
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .header("x-auth-subject", "forged-admin")
        .header("x-auth-roles", "admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(signed_in["headers"]["x-auth-subject"], user_id.as_str());
    assert_eq!(signed_in["headers"]["x-auth-roles"], "shopper");
    assert!(signed_in["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn the_request_over_the_quota_gets_429_with_rate_limit_headers() {
    let platform = spawn_platform(Options {
        anonymous_quota: Quota {
            limit: 5,
            window_seconds: 60,
        },
        ..Options::default()
    })
    .await;
    for i in 0..5 {
        let response = platform.get("/api/v1/products", None).await;
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"anonymous\";q=5;w=60"
        );
        assert_eq!(
            response.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .split(';')
                .nth(1)
                .unwrap(),
            format!("r={}", 4 - i)
        );
    }
    let limited = platform.get("/api/v1/products", None).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    assert!(
        limited.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains("r=0")
    );
    problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn a_signed_in_caller_over_the_authenticated_quota_gets_429_while_others_go_on() {
    let platform = spawn_platform(Options {
        authenticated_quota: Quota {
            limit: 3,
            window_seconds: 60,
        },
        ..Options::default()
    })
    .await;
    let (_, first) = platform.sign_up("busy@example.com").await;
    let (_, second) = platform.sign_up("calm@example.com").await;
    let busy = first["access_token"].as_str().unwrap();
    let calm = second["access_token"].as_str().unwrap();
    for i in 0..3 {
        let response = platform.get("/api/v1/products", Some(busy)).await;
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"authenticated\";q=3;w=60"
        );
    }
    let limited = platform.get("/api/v1/products", Some(busy)).await;
    assert!(limited.headers().contains_key("retry-after"));
    problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    let other = platform.get("/api/v1/products", Some(calm)).await;
    assert_eq!(other.status(), StatusCode::OK, "the quota is per subject");
}

#[tokio::test]
async fn when_redis_goes_away_the_gateway_fails_open_and_the_anonymous_limit_still_holds() {
    let redis: std::net::SocketAddr = "127.0.0.1:6379".parse().unwrap();
    let proxy = TcpProxy::start(redis).await;
    let platform = spawn_platform(Options {
        anonymous_quota: Quota {
            limit: 3,
            window_seconds: 60,
        },
        gateway_redis_url: Some(format!("redis://{}", proxy.addr())),
        ..Options::default()
    })
    .await;
    // Registration is in the `auth` class, limited in Redis. (An invalid body: nothing is
    // created, and users answers 422.)
    let register = || {
        platform.post(
            "/api/v1/auth/register",
            serde_json::json!({"email": "not an email", "password": "x", "name": ""}),
        )
    };
    let limited = register().await;
    assert_eq!(limited.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        limited.headers().contains_key("ratelimit"),
        "Redis answers: the limiter runs"
    );

    proxy.cut();
    for _ in 0..5 {
        let response = register().await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "fail open"
        );
        assert!(!response.headers().contains_key("ratelimit"));
    }
    let metrics = platform.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"gateway_redis_failures_total{purpose="rate_limit"} 5"#),
        "{metrics}"
    );
    // The anonymous class is limited in the gateway's own memory: Redis gone or not, it holds
    // (the /metrics call above was not routed, so it did not count).
    for i in 0..3 {
        let response = platform.get("/api/v1/products", None).await;
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
        assert!(response.headers().contains_key("ratelimit"));
    }
    problem(
        platform.get("/api/v1/products", None).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test]
async fn a_garbled_upstream_answer_is_502() {
    let platform = spawn_platform(Options::default()).await;
    let body = problem(
        platform.get("/api/v1/garbled/x", None).await,
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("garbled"));
}

#[tokio::test]
async fn cors_preflight_allows_the_configured_origins_only() {
    let platform = spawn_platform(Options::default()).await;
    let allowed = platform
        .request(Method::OPTIONS, "/api/v1/products")
        .header("origin", "http://localhost:8080")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    let denied = platform
        .request(Method::OPTIONS, "/api/v1/products")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn an_upstream_that_is_down_is_503_and_a_slow_one_is_504() {
    let platform = spawn_platform(Options::default()).await;
    let down = problem(
        platform.get("/api/v1/down/anything", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(down["detail"].as_str().unwrap().contains("down"));
    let slow = problem(
        platform.get("/api/v1/slow/anything", None).await,
        StatusCode::GATEWAY_TIMEOUT,
    )
    .await;
    assert!(slow["detail"].as_str().unwrap().contains("300 ms"));
    // After repeated failures the circuit opens and calls fail fast with Retry-After.
    for _ in 0..3 {
        platform.get("/api/v1/down/anything", None).await;
    }
    let open = platform.get("/api/v1/down/anything", None).await;
    assert!(open.headers().contains_key("retry-after"));
    let body = problem(open, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body["type"].as_str().unwrap().ends_with("circuit-open"),
        "{body}"
    );
    let metrics = platform.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"gateway_upstream_requests_total{outcome="timeout",upstream="slow"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/v1/down/{*rest}""#),
        "metrics by route template"
    );
}

#[tokio::test]
async fn the_public_api_is_documented_in_one_merged_document() {
    let platform = spawn_platform(Options::default()).await;
    let doc: Value = platform
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/products",
        "/api/v1/products/{id}",
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/admin/products/import",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert!(
        doc["paths"].get("/products").is_none(),
        "upstream paths are rewritten"
    );
    assert!(doc["components"]["schemas"]["Product"].is_object());
}
