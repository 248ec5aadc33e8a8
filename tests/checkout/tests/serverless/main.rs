//! The serverless path end to end, on the real services, RabbitMQ, moto and `cargo lambda
//! watch`: orders -> outbox -> RabbitMQ -> bridge -> SNS -> SQS (filter policies, raw delivery)
//! -> event source mapping -> the functions -> SES, SNS SMS, partner endpoints; and the admin
//! API of webhooks through the gateway, which invokes the `webhook-admin` function.
//!
//! Each test has its own topology on moto (name prefix), exchange, databases and `cargo lambda
//! watch` (own port and environment), so tests run side by side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod chain;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse as _;
use axum::routing::post;
use checkout_tests::Options;
use serde_json::{Value, json};

use crate::chain::{ACCOUNT_LINKS, Chain, eventually};

type Seen = Arc<tokio::sync::Mutex<Vec<Value>>>;

/// Partner endpoints: `/ok` keeps what it gets (with whether the signature verified against
/// the secret the test sets later), `/flaky` answers 503 twice, then 200; `/gone` answers 410.
async fn partner(
    secret: Arc<tokio::sync::Mutex<Vec<u8>>>,
) -> (String, Seen, Arc<AtomicU32>, Arc<AtomicU32>) {
    let seen: Seen = Arc::default();
    let flaky = Arc::new(AtomicU32::new(0));
    let gone = Arc::new(AtomicU32::new(0));
    let app = {
        let seen = seen.clone();
        let flaky = flaky.clone();
        let gone = gone.clone();
        axum::Router::new()
            .route(
                "/ok",
                post(move |headers: HeaderMap, body: axum::body::Bytes| {
                    let seen = seen.clone();
                    let secret = secret.clone();
                    async move {
                        let id = headers["webhook-id"].to_str().unwrap().to_owned();
                        let ts: i64 = headers["webhook-timestamp"]
                            .to_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        let valid = webhooks::signing::verify(
                            &secret.lock().await,
                            &id,
                            ts,
                            &body,
                            headers["webhook-signature"].to_str().unwrap(),
                        );
                        let mut event: Value = serde_json::from_slice(&body).unwrap();
                        event["signature_valid"] = json!(valid);
                        seen.lock().await.push(event);
                        StatusCode::NO_CONTENT
                    }
                }),
            )
            .route(
                "/flaky",
                post(move || {
                    let flaky = flaky.clone();
                    async move {
                        if flaky.fetch_add(1, Ordering::SeqCst) < 2 {
                            StatusCode::SERVICE_UNAVAILABLE.into_response()
                        } else {
                            StatusCode::OK.into_response()
                        }
                    }
                }),
            )
            .route(
                "/gone",
                post(move || {
                    let gone = gone.clone();
                    async move {
                        gone.fetch_add(1, Ordering::SeqCst);
                        StatusCode::GONE
                    }
                }),
            )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen, flaky, gone)
}

#[tokio::test]
async fn a_confirmed_order_is_emailed_texted_and_sent_to_subscribed_partners() {
    let chain = Chain::start(false, |_| {}).await;
    let platform = &chain.platform;
    platform.product("SLS-1", 2500, 10).await;
    let secret = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let (partner_url, seen, flaky_calls, gone_calls) = partner(secret.clone()).await;

    // Subscriptions through the gateway's admin API (the webhook-admin function).
    let admin = chain.admin_token().await;
    let subscribe = |path: &'static str, types: Value| {
        let client = platform.client.clone();
        let url = format!("{}/api/v1/admin/webhooks", platform.gateway);
        let admin = admin.clone();
        let endpoint = format!("{partner_url}{path}");
        async move {
            let response = client
                .post(url)
                .bearer_auth(admin)
                .json(&json!({"url": endpoint, "event_types": types, "description": path}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let location = response.headers().get("location").cloned();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{body}");
            assert_eq!(
                location.unwrap().to_str().unwrap(),
                format!(
                    "/api/v1/admin/webhooks/{}",
                    body["subscription"]["id"].as_str().unwrap()
                )
            );
            body
        }
    };
    let ok = subscribe("/ok", json!(["order.confirmed"])).await;
    let key = webhooks::signing::key_bytes(ok["secret"].as_str().unwrap()).unwrap();
    *secret.lock().await = key;
    let flaky = subscribe("/flaky", json!(["order.confirmed"])).await;
    let gone = subscribe("/gone", json!([])).await;
    // A shopper token is refused by the gateway before the function is invoked.
    let refused = platform
        .client
        .get(format!("{}/api/v1/admin/webhooks", platform.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // The public API document includes the function's routes, asked through the same invoke.
    let document: Value = platform
        .client
        .get(format!("{}/api/v1/openapi.json", platform.gateway))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/admin/webhooks",
        "/api/v1/admin/webhooks/{id}/rotate-secret",
        "/api/v1/admin/webhooks/{id}/deliveries",
        // The consumers' dead letters (the bridge, not part of this platform, documents the
        // same routes).
        "/api/v1/admin/dead-letters/inventory",
        "/api/v1/admin/dead-letters/orders/{queue}",
        "/api/v1/admin/dead-letters/payments/{queue}/{id}/replay",
        "/api/v1/admin/dead-letters/inventory/{queue}/{id}",
    ] {
        assert!(document["paths"][path].is_object(), "{path} missing");
    }
    // Every path parameter is declared (stock updates once lacked theirs).
    let put_stock = &document["paths"]["/api/v1/admin/inventory/{sku}"]["put"];
    assert!(
        put_stock["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "sku" && p["in"] == "path")),
        "{put_stock}"
    );
    assert!(document["components"]["schemas"]["WithSecret"].is_object());
    assert!(
        !document["info"]["description"]
            .as_str()
            .unwrap_or_default()
            .contains("webhooks"),
        "{}",
        document["info"]
    );

    // Two customers: one opted in to SMS, one did not.
    let texting = platform.shopper_with_sms(true).await;
    let quiet = platform.shopper_with_sms(false).await;
    let texting_order = platform
        .place_for(&texting, "SLS-1", 1, "pm_card_visa")
        .await;
    let quiet_order = platform.place_for(&quiet, "SLS-1", 2, "pm_card_visa").await;
    for order in [&texting_order, &quiet_order] {
        assert_eq!(
            platform.settled(order, Duration::from_secs(30)).await["status"],
            "CONFIRMED"
        );
    }

    // Exactly one email each; one SMS for the customer who opted in, none for the other.
    chain.drained("notifier", Duration::from_secs(240)).await;
    let (emails, sms) = chain.sent(&texting_order).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(
        emails[0]
            .to_string()
            .contains(&format!("{}@example.com", texting.id.replace('-', "")))
    );
    assert_eq!(sms.len(), 1, "{sms:?}");
    let (emails, sms) = chain.sent(&quiet_order).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(sms.is_empty(), "{sms:?}");

    // The partner got both confirmations, signed; the flaky one on the third attempt; the
    // gone one is disabled after its first answer.
    eventually(Duration::from_secs(180), || async {
        (flaky_calls.load(Ordering::SeqCst) >= 4).then_some(())
    })
    .await;
    chain
        .drained("webhook-dispatcher", Duration::from_secs(120))
        .await;
    let received = seen.lock().await.clone();
    let mut orders: Vec<&str> = received
        .iter()
        .map(|e| e["data"]["order_id"].as_str().unwrap())
        .collect();
    orders.sort_unstable();
    let mut expected = vec![texting_order.as_str(), quiet_order.as_str()];
    expected.sort_unstable();
    assert_eq!(orders, expected, "each confirmation once: {received:?}");
    assert!(received.iter().all(|e| e["signature_valid"] == true));
    assert!(received.iter().all(|e| e["type"] == "order.confirmed"));
    assert_eq!(gone_calls.load(Ordering::SeqCst), 1);

    let show = |id: String| {
        let client = platform.client.clone();
        let url = format!("{}/api/v1/admin/webhooks/{id}", platform.gateway);
        let admin = admin.clone();
        async move {
            client
                .get(url)
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let gone_now = show(gone["subscription"]["id"].as_str().unwrap().to_owned()).await;
    assert_eq!(gone_now["status"], "disabled", "{gone_now}");
    let flaky_id = flaky["subscription"]["id"].as_str().unwrap();
    let log: Value = platform
        .client
        .get(format!(
            "{}/api/v1/admin/webhooks/{flaky_id}/deliveries",
            platform.gateway
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "delivered").count(),
        2,
        "{log}"
    );
    assert!(outcomes.contains(&"retrying"), "{log}");
    chain.stop().await;
}

#[tokio::test]
async fn with_aws_unreachable_for_30_seconds_every_email_is_sent_once_afterwards() {
    let chain = Chain::start(true, |_| {}).await;
    let platform = &chain.platform;
    platform.product("SLS-2", 1000, 20).await;
    // Warm up the functions (the first invocation may build them).
    let warm = platform.place("SLS-2", 1, "pm_card_visa").await;
    eventually(Duration::from_secs(300), || async {
        (!chain.sent(&warm).await.0.is_empty()).then_some(())
    })
    .await;

    let proxy = chain.moto_proxy.as_ref().unwrap();
    proxy.down();
    let mut orders = Vec::new();
    for _ in 0..5 {
        orders.push(platform.place("SLS-2", 1, "pm_card_visa").await);
    }
    for order in &orders {
        assert_eq!(
            platform.settled(order, Duration::from_secs(30)).await["status"],
            "CONFIRMED",
            "orders go on without AWS"
        );
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    for order in &orders {
        assert!(
            chain.sent(order).await.0.is_empty(),
            "nothing left while AWS was down"
        );
    }
    proxy.up();

    for order in &orders {
        eventually(Duration::from_secs(180), || async {
            (!chain.sent(order).await.0.is_empty()).then_some(())
        })
        .await;
    }
    chain.drained("notifier", Duration::from_secs(120)).await;
    for order in &orders {
        let (emails, _) = chain.sent(order).await;
        assert_eq!(emails.len(), 1, "{order}: {emails:?}");
    }
    chain.stop().await;
}

#[tokio::test]
async fn one_failing_record_in_a_batch_of_ten_alone_is_retried_and_dead_lettered() {
    // Short visibility so the five receives take seconds, not minutes.
    let chain = Chain::start(false, |topology| {
        for queue in &mut topology.queues {
            queue.visibility_timeout_seconds = 2;
        }
    })
    .await;
    let sqs = aws_sdk_sqs::Client::new(&chain.aws);
    let queue = chain.created.queue_urls["notifier"].clone();
    let mut orders = Vec::new();
    let mut entries = Vec::new();
    for i in 0..10 {
        let body = if i == 4 {
            "{\"not\": \"an event\"}".to_owned()
        } else {
            let order = uuid::Uuid::new_v4().to_string();
            orders.push(order.clone());
            chain::confirmed_event(&order)
        };
        entries.push(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .unwrap(),
        );
    }
    // Paused mappings would see them in one batch; they are running, so send all ten at once.
    sqs.send_message_batch()
        .queue_url(&queue)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    let dlq = chain.created.dlq_urls["notifier"].clone();
    let parked = eventually(Duration::from_secs(300), || async {
        let got = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .ok()?;
        let bodies: Vec<String> = got
            .messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect();
        (!bodies.is_empty()).then_some(bodies)
    })
    .await;
    assert_eq!(parked, ["{\"not\": \"an event\"}"]);
    chain.drained("notifier", Duration::from_secs(60)).await;
    for order in &orders {
        assert_eq!(chain.sent(order).await.0.len(), 1, "{order}");
    }
    chain.stop().await;
}

#[tokio::test]
async fn the_gateway_answers_503_when_the_function_cannot_be_invoked() {
    let platform = checkout_tests::Platform::start(Options::default()).await;
    let response = platform
        .client
        .get(format!("{}/api/v1/admin/webhooks", platform.gateway))
        .bearer_auth(chain::admin_token_for(&platform).await)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    platform.stop().await;
}

#[tokio::test]
async fn an_asynchronous_payment_is_confirmed_through_the_psp_webhook_function_and_bad_callbacks_change_nothing()
 {
    let chain = Chain::start(false, |_| {}).await;
    let platform = &chain.platform;
    platform.product("SLS-3", 3000, 5).await;

    // The simulator answers `requires_action` (3-D Secure), then sends its signed Stripe events
    // to the function URL; the function queues them and payments takes them from SQS.
    let order = platform
        .place("SLS-3", 1, "pm_card_threeDSecure2Required")
        .await;
    assert_eq!(
        platform.settled(&order, Duration::from_secs(60)).await["status"],
        "CONFIRMED"
    );
    let payment = platform
        .payment_reaches(&order, "captured", Duration::from_secs(30))
        .await;
    let authorization = payment["psp_reference"].as_str().unwrap().to_owned();
    assert!(authorization.starts_with("pi_"), "{payment}");
    let payment_id = payment["id"].as_str().unwrap().to_owned();

    // Events that must not count: tampered, stale, unsigned, replayed, late.
    let url = format!("{}/lambda-url/psp-webhook/", chain.lambda);
    let secret = chain.psp_secret.as_bytes();
    let event = |id: &str, kind: &str, status: &str| {
        serde_json::to_vec(&json!({
            "id": id,
            "object": "event",
            "type": kind,
            "api_version": "2026-07-29.dahlia",
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "livemode": false,
            "data": {"object": {
                "id": authorization,
                "object": "payment_intent",
                "status": status,
                "amount": 3000,
                "amount_capturable": if status == "requires_capture" { 3000 } else { 0 },
                "currency": "eur",
                "metadata": {"payment_id": payment_id},
                "last_payment_error": if status == "requires_payment_method" {
                    json!({"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"})
                } else {
                    serde_json::Value::Null
                },
            }},
        }))
        .unwrap()
    };
    let body = event(
        "evt_test_failed",
        "payment_intent.payment_failed",
        "requires_payment_method",
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let post = |signature: Option<String>, body: Vec<u8>| {
        let client = platform.client.clone();
        let url = url.clone();
        async move {
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(signature) = signature {
                request = request.header(psp_signature::HEADER, signature);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, content_type)
        }
    };
    let mut tampered = body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    for (signature, payload, why) in [
        (
            Some(psp_signature::sign(secret, now, &body)),
            tampered,
            "a tampered byte",
        ),
        (
            Some(psp_signature::sign(secret, now - 3600, &body)),
            body.clone(),
            "a stale timestamp",
        ),
        (None, body.clone(), "no signature"),
    ] {
        let (status, content_type) = post(signature, payload).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{why}"
        );
    }
    // A genuine (late) approval, then the very same request again: the second is a replay.
    let approval = event(
        "evt_test_late_approval",
        "payment_intent.amount_capturable_updated",
        "requires_capture",
    );
    let signature = psp_signature::sign(secret, now, &approval);
    let (first, _) = post(Some(signature.clone()), approval.clone()).await;
    assert_eq!(first, StatusCode::ACCEPTED);
    let (replayed, content_type) = post(Some(signature), approval.clone()).await;
    assert_eq!(replayed, StatusCode::CONFLICT);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    // Stripe's own retry of that event is signed anew: accepted, and applied no more than once.
    let (retried, _) = post(
        Some(psp_signature::sign(secret, now + 1, &approval)),
        approval,
    )
    .await;
    assert_eq!(retried, StatusCode::ACCEPTED);
    // A genuine but late failure: accepted, and it cannot undo the capture.
    let (late, _) = post(Some(psp_signature::sign(secret, now, &body)), body).await;
    assert_eq!(late, StatusCode::ACCEPTED);

    // Nothing changed: still confirmed and captured once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(platform.order(&order).await["status"], "CONFIRMED");
    let payment = platform.payment(&order).await.unwrap();
    assert_eq!(payment["status"], "captured");
    let captures = payment["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "capture")
        .count();
    assert_eq!(captures, 1, "{payment}");
    chain.stop().await;
}

/// The token of the first account link to `page` in the emails moto recorded for `email`.
async fn link_token(chain: &Chain, email: &str, page: &str) -> String {
    let marker = format!("{ACCOUNT_LINKS}/{page}?token=");
    eventually(Duration::from_secs(90), || async {
        let (emails, _) = chain.sent(email).await;
        emails.iter().find_map(|m| {
            let text = m.to_string();
            let start = text.find(&marker)? + marker.len();
            let token: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            (!token.is_empty()).then_some(token)
        })
    })
    .await
}

#[tokio::test]
async fn account_emails_travel_the_event_path_and_their_links_work_once() {
    let chain = Chain::start(false, |_| {}).await;
    let platform = &chain.platform;
    let api = |path: &str| format!("{}/api/v1{path}", platform.gateway);
    let client = &platform.client;
    let post = |path: &str, body: Value| client.post(api(path)).json(&body).send();
    let email = format!("acct-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "correct horse battery";

    // Registration: 202, and a confirmation link by email through users' outbox, RabbitMQ,
    // the bridge, SNS, SQS and the notifier.
    let registered = post(
        "/auth/register",
        json!({"email": email, "password": password, "name": "Ada"}),
    )
    .await
    .unwrap();
    assert_eq!(registered.status(), StatusCode::ACCEPTED);
    let first_answer: Value = registered.json().await.unwrap();
    let token = link_token(&chain, &email, "verify-email").await;
    let verified = post("/auth/verify-email", json!({"token": token}))
        .await
        .unwrap();
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    let again = post("/auth/verify-email", json!({"token": token}))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The same email again: the same answer; the owner is told instead.
    let twice = post(
        "/auth/register",
        json!({"email": email, "password": "another password!", "name": "Eve"}),
    )
    .await
    .unwrap();
    assert_eq!(twice.status(), StatusCode::ACCEPTED);
    assert_eq!(twice.json::<Value>().await.unwrap(), first_answer);
    eventually(Duration::from_secs(90), || async {
        let (emails, _) = chain.sent(&email).await;
        emails
            .iter()
            .any(|m| m.to_string().contains("Someone tried to register"))
            .then_some(())
    })
    .await;

    // Forgot password: a reset link; it sets a new password once.
    let forgot = post("/auth/password/forgot", json!({"email": email}))
        .await
        .unwrap();
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let reset_token = link_token(&chain, &email, "reset-password").await;
    let reset = post(
        "/auth/password/reset",
        json!({"token": reset_token, "new_password": "brand new passphrase"}),
    )
    .await
    .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let old = post("/auth/login", json!({"email": email, "password": password}))
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let tokens: Value = post(
        "/auth/login",
        json!({"email": email, "password": "brand new passphrase"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let me: Value = client
        .get(api("/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true);

    // Change password through the gateway: a new session; the old token stops working.
    let changed = client
        .post(api("/me/password"))
        .bearer_auth(&access)
        .json(&json!({"current_password": "brand new passphrase", "new_password": "third passphrase!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let fresh: Value = changed.json().await.unwrap();
    eventually(Duration::from_secs(10), || async {
        let status = client
            .get(api("/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status();
        (status == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;

    // Sign out everywhere ends the new session too.
    let fresh_access = fresh["access_token"].as_str().unwrap();
    let out = client
        .post(api("/me/sessions/revoke-all"))
        .bearer_auth(fresh_access)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    eventually(Duration::from_secs(10), || async {
        let status = client
            .get(api("/me"))
            .bearer_auth(fresh_access)
            .send()
            .await
            .unwrap()
            .status();
        (status == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    // Each password change was announced to the owner.
    eventually(Duration::from_secs(90), || async {
        let (emails, _) = chain.sent(&email).await;
        let notices = emails
            .iter()
            .filter(|m| m.to_string().contains("Your password was changed"))
            .count();
        (notices == 2).then_some(())
    })
    .await;
    chain.stop().await;
}
