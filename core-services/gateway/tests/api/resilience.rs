use std::time::Duration;

use gateway::config::Quota;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
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
    // A request from an allowed origin sees what it may read; one without an origin gets no
    // CORS headers, and the same `Vary` (its answer may be cached and reused).
    let cross = platform
        .request(Method::GET, "/api/v1/echo/x")
        .header("origin", "http://localhost:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(
        cross.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    assert!(
        cross.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("ratelimit")
    );
    let plain = platform
        .request(Method::GET, "/api/v1/echo/x")
        .send()
        .await
        .unwrap();
    assert!(
        plain
            .headers()
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        plain.headers()
    );
    let vary = |response: &reqwest::Response| -> Vec<String> {
        response
            .headers()
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(vary(&plain), vary(&cross));
    assert!(vary(&plain).iter().any(|v| v.contains("origin")));
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

/// Announces a 200-byte JSON body to `path` and sends one byte of it; then either goes away
/// (`abandon`) or waits for the answer, which it returns.
async fn send_a_partial_body(addr: &str, path: &str, abandon: bool) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    if abandon {
        // Give the gateway time to start reading, then close halfway through the body.
        tokio::time::sleep(Duration::from_millis(100)).await;
        return String::new();
    }
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Finding 1 of the abuse review: five slow bodies once timed the users upstream out, opened
/// its circuit and took sign-in down for every shopper.
#[tokio::test]
async fn slow_or_abandoned_request_bodies_cost_only_their_client() {
    let platform = spawn_platform(Options::default()).await;
    let addr = platform.base.trim_start_matches("http://").to_owned();
    let slow: Vec<_> = (0..5)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(
                async move { send_a_partial_body(&addr, "/api/v1/auth/refresh", false).await },
            )
        })
        .collect();
    for task in slow {
        let answer = task.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
    for _ in 0..3 {
        send_a_partial_body(&addr, "/api/v1/auth/refresh", true).await;
    }
    // Everyone else still reaches users: its circuit never opened.
    let answer = platform
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": "not-a-token"}),
        )
        .await;
    problem(answer, StatusCode::UNAUTHORIZED).await;
    // Counted as the clients' doing, not the upstream's. (An abandoned request is counted
    // too when the gateway sees the body end before the connection's task is dropped; that
    // race is hyper's, so only the slow ones are counted here.)
    let metrics = platform.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains(r#"outcome="client_timeout",upstream="users"} 5"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"outcome="timeout",upstream="users""#),
        "{metrics}"
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
    // The gateway's own answers are declared on each operation, with what they depend on.
    let reference = |path: &str, method: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["$ref"]
            .as_str()
            .map(str::to_owned)
    };
    for status in ["401", "429", "502", "503", "504"] {
        assert!(
            reference("/api/v1/products", "get", status).is_some(),
            "{status}"
        );
    }
    assert_eq!(reference("/api/v1/products", "get", "403"), None, "public");
    assert_eq!(reference("/api/v1/products", "get", "413"), None, "no body");
    for status in ["403", "408"] {
        assert!(
            reference("/api/v1/admin/products/import", "post", status).is_some(),
            "{status}"
        );
    }
    // 413 is the service's own answer too (service_kit::openapi), which the gateway keeps.
    assert!(doc["paths"]["/api/v1/admin/products/import"]["post"]["responses"]["413"].is_object());
    assert_eq!(
        doc["paths"]["/api/v1/me"]["get"]["security"],
        json!([{"bearer": []}])
    );
    let too_many = &doc["components"]["responses"]["TooManyRequests"];
    for header in ["RateLimit", "RateLimit-Policy", "Retry-After"] {
        assert!(too_many["headers"][header].is_object(), "{header}");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

/// Finding 5 of the abuse review: the anonymous document route fetched every upstream's
/// document on each call, with no rate limit.
#[tokio::test]
async fn the_merged_document_is_built_once_served_with_an_etag_and_rate_limited() {
    let platform = spawn_platform(Options {
        anonymous_quota: Quota {
            limit: 4,
            window_seconds: 60,
        },
        ..Options::default()
    })
    .await;
    let before = platform
        .cacheable_calls
        .load(std::sync::atomic::Ordering::SeqCst);
    // Four at once: one build asks each upstream once; the others wait for it.
    let (a, b, c) = tokio::join!(
        platform.get("/api/v1/openapi.json", None),
        platform.get("/api/v1/openapi.json", None),
        platform.get("/api/v1/openapi.json", None),
    );
    let etag = a.headers()["etag"].to_str().unwrap().to_owned();
    for response in [a, b, c] {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
        assert!(response.headers().contains_key("ratelimit"));
    }
    assert_eq!(
        platform
            .cacheable_calls
            .load(std::sync::atomic::Ordering::SeqCst)
            - before,
        1,
        "the stub upstream's document was fetched once"
    );
    let revalidated = platform
        .request(Method::GET, "/api/v1/openapi.json")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    // The fifth request of the window is over the anonymous quota.
    problem(
        platform.get("/api/v1/openapi.json", None).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}
