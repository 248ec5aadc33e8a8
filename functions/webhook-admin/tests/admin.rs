//! The admin API against moto's DynamoDB and Secrets Manager, called as the gateway calls it
//! (identity in `x-auth-*` headers): create, list with paging, show, rotate, disable, enable,
//! the delivery log, and every bad input answered as a problem naming its field.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use function_kit::topology::{Topology, ensure};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use webhook_admin::{AdminApi, router};
use webhooks::signing::{key_bytes, sign_all, verify};
use webhooks::store::{Delivery, now_rfc3339};

struct Fixture {
    api: AdminApi,
}

impl Fixture {
    async fn new(allow_private: bool) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("a{}-", &id[..12]);
        let config = function_kit::aws::for_endpoint(&function_kit::aws::test_endpoint()).await;
        let created = ensure(&config, &Topology::committed().unwrap(), &prefix)
            .await
            .unwrap();
        let api = AdminApi::new(
            &config,
            &created.tables["webhook-subscriptions"],
            &created.tables["webhook-deliveries"],
            &format!("{prefix}webhooks/"),
            allow_private,
        );
        Self { api }
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        roles: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if !roles.is_empty() {
            request = request
                .header("x-auth-subject", "0190f000-0000-7000-8000-000000000001")
                .header("x-auth-roles", roles);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = router(self.api.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(content_type, "application/problem+json", "{status}");
        }
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }

    async fn admin(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(method, uri, "shopper,admin", body).await
    }
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn subscriptions_are_created_listed_rotated_disabled_and_enabled() {
    let fixture = Fixture::new(true).await;
    let store = fixture.api.store.clone();

    // Create three; the first subscribes to two types, the others to everything.
    let (status, created) = fixture
        .admin(
            "POST",
            "/admin/webhooks",
            Some(json!({
                "url": "http://127.0.0.1:9/hooks",
                "event_types": ["order.confirmed", "order.shipped", "order.confirmed"],
                "description": "ERP"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["subscription"]["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        created["subscription"]["event_types"],
        json!(["order.confirmed", "order.shipped"])
    );
    assert_eq!(created["subscription"]["status"], "active");
    for _ in 0..2 {
        let (status, _) = fixture
            .admin(
                "POST",
                "/admin/webhooks",
                Some(json!({"url": "http://127.0.0.1:9/all"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }

    // The dispatcher finds them by event type; `*` subscriptions get every type.
    let confirmed = store.endpoints_for("order.confirmed").await.unwrap();
    assert_eq!(confirmed.len(), 3);
    assert_eq!(store.endpoints_for("stock.low").await.unwrap().len(), 2);

    // Paging visits each once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/admin/webhooks?limit=2&cursor={c}"),
            None => "/admin/webhooks?limit=2".to_owned(),
        };
        let (status, page) = fixture.admin("GET", &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen.last().unwrap(), &id, "oldest last");

    // Rotation: the new secret signs, and the old one too during the grace period.
    let (status, rotated) = fixture
        .admin("POST", &format!("/admin/webhooks/{id}/rotate-secret"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let now = time_now();
    let keys = store.stored_secret(&id).await.unwrap().keys(now).unwrap();
    let header = sign_all(&keys, "msg_1", now, b"{}");
    for s in [&secret, new_secret] {
        assert!(verify(&key_bytes(s).unwrap(), "msg_1", now, b"{}", &header));
    }

    // Disable removes it from deliveries; enable brings it back.
    let (status, disabled) = fixture
        .admin("POST", &format!("/admin/webhooks/{id}/disable"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(disabled["status"], "disabled");
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("disabled by")
    );
    assert_eq!(store.endpoints_for("order.shipped").await.unwrap().len(), 2);
    let (_, enabled) = fixture
        .admin("POST", &format!("/admin/webhooks/{id}/enable"), None)
        .await;
    assert_eq!(enabled["status"], "active");
    assert_eq!(enabled["disabled_reason"], Value::Null);
    assert_eq!(store.endpoints_for("order.shipped").await.unwrap().len(), 3);
    let (_, shown) = fixture
        .admin("GET", &format!("/admin/webhooks/{id}"), None)
        .await;
    assert_eq!(shown["status"], "active");

    // The delivery log, newest first, paged.
    for attempt in 1..=3 {
        store
            .log(&Delivery {
                delivery_id: uuid::Uuid::now_v7().to_string(),
                subscription_id: id.clone(),
                event_id: "evt-1".into(),
                event_type: "order.confirmed".into(),
                url: "http://127.0.0.1:9/hooks".into(),
                attempt,
                outcome: if attempt == 3 {
                    "delivered"
                } else {
                    "retrying"
                }
                .into(),
                status_code: Some(if attempt == 3 { 200 } else { 503 }),
                error: None,
                duration_ms: 3,
                at: now_rfc3339(),
            })
            .await
            .unwrap();
    }
    let (status, page) = fixture
        .admin(
            "GET",
            &format!("/admin/webhooks/{id}/deliveries?limit=2"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["attempt"], 3);
    assert_eq!(page["items"][0]["outcome"], "delivered");
    let next = page["next_cursor"].as_str().unwrap();
    let (_, rest) = fixture
        .admin(
            "GET",
            &format!("/admin/webhooks/{id}/deliveries?limit=2&cursor={next}"),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["attempt"], 1);
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_and_nothing_written() {
    let fixture = Fixture::new(false).await;

    // Only admins.
    let (status, _) = fixture.call("GET", "/admin/webhooks", "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = fixture
        .call("GET", "/admin/webhooks", "shopper", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Private endpoints, plain http, unknown event types, long descriptions.
    let (status, problem) = fixture
        .admin(
            "POST",
            "/admin/webhooks",
            Some(json!({
                "url": "https://127.0.0.1/hooks",
                "event_types": ["order.confirmed", "order.exploded", "user.password_reset_requested"],
                "description": "x".repeat(501)
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        fields(&problem),
        ["url", "event_types[1]", "event_types[2]", "description"],
        "{problem}"
    );
    let (status, problem) = fixture
        .admin(
            "POST",
            "/admin/webhooks",
            Some(json!({"url": "http://example.com/hooks"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("https")
    );

    // Unreadable bodies and parameters.
    let (status, problem) = fixture
        .admin("POST", "/admin/webhooks", Some(json!({"url": 5})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["url"]);
    let (status, problem) = fixture
        .admin(
            "POST",
            "/admin/webhooks",
            Some(json!({"url": "https://example.com", "extra": 1})),
        )
        .await;
    assert!(status.is_client_error(), "{problem}");
    let (status, problem) = fixture.admin("GET", "/admin/webhooks?limit=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&problem), ["limit"]);
    let (status, problem) = fixture
        .admin("GET", "/admin/webhooks?cursor=bogus", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&problem), ["cursor"]);

    // Nothing was written.
    let (_, page) = fixture.admin("GET", "/admin/webhooks", None).await;
    assert_eq!(page["items"], json!([]));

    // Unknown subscriptions.
    let missing = uuid::Uuid::now_v7();
    for (method, path) in [
        ("GET", format!("/admin/webhooks/{missing}")),
        ("POST", format!("/admin/webhooks/{missing}/rotate-secret")),
        ("POST", format!("/admin/webhooks/{missing}/disable")),
        ("GET", format!("/admin/webhooks/{missing}/deliveries")),
    ] {
        let (status, _) = fixture.admin(method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
}

/// Account events (personal data, sealed single-use tokens) reach the notifier only: partners
/// cannot subscribe to them, and the dispatcher's queue does not receive them.
#[test]
fn account_events_never_reach_partners() {
    let topology = Topology::committed().unwrap();
    let queue = |name: &str| {
        topology
            .queues
            .iter()
            .find(|q| q.name == name)
            .unwrap()
            .event_types
            .clone()
    };
    let subscribable: Vec<String> = events::payloads::subscribable_types()
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(queue("webhook-dispatcher"), subscribable);
    for account in events::payloads::account_types() {
        assert!(!subscribable.iter().any(|t| t == account), "{account}");
        assert!(
            !queue("analytics").iter().any(|t| t == account),
            "{account}"
        );
        assert!(queue("notifier").iter().any(|t| t == account), "{account}");
    }
}
