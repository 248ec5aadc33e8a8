//! What the admin API answers to the events the gateway invokes it with (`fixtures/*.json`: API
//! Gateway HTTP API payload 2.0, the format of function URL events, as the gateway's
//! `lambda::event` builds it, the caller's identity in `x-auth-*` headers), without AWS: every
//! request here is answered before the store is reached (the store's clients point at a closed
//! local port, so a request that did reach it would answer 503, not hang).

use axum::http::StatusCode;
use http_body_util::BodyExt as _;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use webhook_admin::{AdminApi, NewSubscription, router, validate};

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("the fixture is JSON")
}

/// The admin API with endpoints refused on private addresses, as deployed.
async fn api() -> AdminApi {
    let config = function_kit::aws::for_endpoint("http://127.0.0.1:9").await;
    AdminApi::new(
        &config,
        "retail-dev-webhook-subscriptions",
        "retail-dev-webhook-deliveries",
        "retail-dev/webhooks/",
        false,
    )
}

/// Invokes the function with `event` as the Lambda runtime does: the payload 2.0 event becomes
/// an HTTP request for the router. Answers the status, the content type and the JSON body.
async fn invoke(event: &Value) -> (StatusCode, String, Value) {
    let typed: ApiGatewayV2httpRequest =
        serde_json::from_value(event.clone()).expect("a payload 2.0 event");
    assert_eq!(typed.version.as_deref(), Some("2.0"));
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("lambda_http reads the event");
    let response = router(api().await)
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body is read")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).expect("a JSON answer");
    (status, content_type, body)
}

/// An RFC 9457 problem with `status` and the problem `slug`.
fn assert_problem(answer: &(StatusCode, String, Value), status: StatusCode, slug: &str) {
    let (actual, content_type, problem) = answer;
    assert_eq!(*actual, status, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["status"], status.as_u16());
    assert_eq!(
        problem["type"],
        format!("https://retail-platform.dev/problems/{slug}")
    );
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_gateway_fetches_the_openapi_document() {
    let (status, content_type, document) =
        invoke(&fixture(include_str!("fixtures/openapi_request.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(document["info"]["title"], "webhook-admin");
    for path in [
        "/admin/webhooks",
        "/admin/webhooks/{id}",
        "/admin/webhooks/{id}/rotate-secret",
        "/admin/webhooks/{id}/disable",
        "/admin/webhooks/{id}/enable",
        "/admin/webhooks/{id}/deliveries",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path}");
    }
}

#[tokio::test]
async fn a_new_subscription_passes_validation_with_its_event_types_deduplicated() {
    let event: ApiGatewayV2httpRequest =
        serde_json::from_str(include_str!("fixtures/create_subscription.json"))
            .expect("a payload 2.0 event");
    let body = event.body.as_deref().expect("the request has a body");
    let new: NewSubscription = serde_json::from_str(body).expect("a new subscription");
    // The endpoint is a public address literal: the address guard needs no DNS lookup.
    let types = validate(&new, false).await.expect("valid");
    assert_eq!(
        types,
        ["order.confirmed", "order.shipped", "payment.refunded"],
        "each type once, in the order given"
    );
}

#[tokio::test]
async fn a_private_endpoint_and_an_account_event_are_a_422_problem_naming_both() {
    let answer = invoke(&fixture(include_str!(
        "fixtures/create_subscription_refused.json"
    )))
    .await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let problem = &answer.2;
    assert_eq!(problem["title"], "The request has invalid fields");
    assert_eq!(problem["detail"], "invalid fields: url, event_types[1]");
    assert_eq!(fields(problem), ["url", "event_types[1]"]);
    assert_eq!(
        problem["errors"][0]["message"],
        "10.0.12.7 resolves to the non-public address 10.0.12.7"
    );
    assert_eq!(
        problem["errors"][1]["message"], "unknown event type `user.password_reset_requested`",
        "account events are not subscribable"
    );
}

#[tokio::test]
async fn callers_without_the_admin_role_are_refused_before_anything_is_read() {
    let mut event = fixture(include_str!("fixtures/create_subscription.json"));
    event["headers"]["x-auth-roles"] = json!("shopper");
    let answer = invoke(&event).await;
    assert_problem(&answer, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(answer.2["detail"], "this action requires the `admin` role");

    let headers = event["headers"]
        .as_object_mut()
        .expect("the event has headers");
    headers.remove("x-auth-subject");
    headers.remove("x-auth-roles");
    let answer = invoke(&event).await;
    assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn unreadable_requests_are_400_and_415_problems() {
    let answer = invoke(&fixture(include_str!("fixtures/list_bad_limit.json"))).await;
    assert_problem(&answer, StatusCode::BAD_REQUEST, "bad-request");
    assert_eq!(fields(&answer.2), ["limit"]);
    assert_eq!(
        answer.2["errors"][0]["message"],
        "must be between 1 and 100"
    );

    let good = fixture(include_str!("fixtures/create_subscription.json"));
    let body = good["body"].as_str().expect("a body").to_owned();

    let mut truncated = good.clone();
    truncated["body"] = Value::from(&body[..body.len() / 2]);
    let answer = invoke(&truncated).await;
    assert_problem(&answer, StatusCode::BAD_REQUEST, "bad-request");
    let detail = answer.2["detail"].as_str().expect("a detail");
    assert!(detail.starts_with("malformed JSON"), "{detail}");

    let mut form = good.clone();
    form["headers"]["content-type"] = json!("application/x-www-form-urlencoded");
    let answer = invoke(&form).await;
    assert_problem(
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    );

    let mut unknown = good;
    unknown["rawPath"] = json!("/admin/webhook");
    unknown["requestContext"]["http"]["path"] = json!("/admin/webhook");
    let answer = invoke(&unknown).await;
    assert_problem(&answer, StatusCode::NOT_FOUND, "not-found");
}
