//! A card-processor simulator that answers like a real provider, chosen by test tokens:
//!
//! | token                     | behaviour                                                  |
//! |---------------------------|------------------------------------------------------------|
//! | `tok_visa`, `tok_mastercard` | approves                                                |
//! | `tok_chargeDeclined`      | declines (`card_declined`, HTTP 402)                        |
//! | `tok_insufficientFunds`   | declines (`insufficient_funds`, HTTP 402)                   |
//! | `tok_timeout`             | never answers (the adapter times out)                       |
//! | `tok_async`               | answers `pending`, approves later by signed callback        |
//! | `tok_asyncDeclined`       | answers `pending`, declines later by signed callback        |
//!
//! `GET /_simulator/authorizations` counts the authorizations made per idempotency key and per
//! merchant reference, for tests.
//!
//! It enforces what a processor enforces: `Idempotency-Key` replays the first answer, captures
//! never exceed the authorization, refunds never exceed what was captured, a voided
//! authorization cannot be captured. Its state is process memory: it stands in for an external
//! system, like moto does for AWS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::signature;

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Secret that signs callbacks.
    pub callback_secret: Vec<u8>,
    /// How long after a `pending` answer the callback is sent.
    pub callback_delay: Duration,
}

#[derive(Debug, Clone)]
struct Auth {
    amount: i64,
    status: &'static str,
    captured: i64,
    refunded: i64,
}

#[derive(Debug, Default)]
struct Ledger {
    authorizations: HashMap<String, Auth>,
    answers: HashMap<String, (StatusCode, Value)>,
    /// Authorizations made, by the `Idempotency-Key` they were asked with (`-` for none).
    made_by_key: HashMap<String, u32>,
    /// Authorizations made, by the merchant's reference (our payment id).
    made_by_reference: HashMap<String, u32>,
}

#[derive(Debug, Clone)]
struct Sim {
    config: SimulatorConfig,
    ledger: Arc<Mutex<Ledger>>,
    client: reqwest::Client,
}

/// The simulator's routes.
pub fn router(config: SimulatorConfig) -> Router {
    let sim = Sim {
        config,
        ledger: Arc::new(Mutex::new(Ledger::default())),
        client: reqwest::Client::new(),
    };
    Router::new()
        .route("/v1/authorizations", post(authorize))
        .route("/v1/authorizations/{id}/capture", post(capture))
        .route("/v1/authorizations/{id}/void", post(void))
        .route("/v1/refunds", post(refund))
        .route(
            "/_simulator/authorizations",
            axum::routing::get(authorizations_made),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(sim)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// Replays the stored answer for `(operation, key)`, or computes and stores one.
async fn idempotent(
    sim: &Sim,
    headers: &HeaderMap,
    operation: &str,
    compute: impl FnOnce(&mut Ledger) -> (StatusCode, Value),
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("{operation}:{k}"));
    let mut ledger = sim.ledger.lock().await;
    if let Some(key) = &key
        && let Some((status, body)) = ledger.answers.get(key)
    {
        return answer(*status, body.clone());
    }
    let (status, body) = compute(&mut ledger);
    if let Some(key) = key {
        ledger.answers.insert(key, (status, body.clone()));
    }
    answer(status, body)
}

#[derive(Debug, Deserialize)]
struct AuthorizeBody {
    reference: String,
    amount: i64,
    currency: String,
    payment_method: String,
    #[serde(default)]
    callback_url: Option<String>,
}

async fn authorize(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Json(body): Json<AuthorizeBody>,
) -> Response {
    if body.payment_method == "tok_timeout" {
        // A processor that hangs: the caller's timeout decides.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if body.amount <= 0 || body.currency.len() != 3 {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"status": "invalid_request", "message": "amount and currency are required"}),
        );
    }
    let id = format!("auth_{}", Uuid::new_v4().simple());
    let method = body.payment_method.clone();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let mut callback = None;
    let response = idempotent(&sim, &headers, "authorize", |ledger| {
        let (status, auth_status, code) = match method.as_str() {
            "tok_visa" | "tok_mastercard" => (StatusCode::CREATED, "approved", None),
            "tok_chargeDeclined" => (StatusCode::PAYMENT_REQUIRED, "declined", Some("card_declined")),
            "tok_insufficientFunds" => (StatusCode::PAYMENT_REQUIRED, "declined", Some("insufficient_funds")),
            "tok_async" | "tok_asyncDeclined" => (StatusCode::CREATED, "pending", None),
            _ => {
                return (StatusCode::BAD_REQUEST, json!({"status": "invalid_request", "message": "unknown payment method token"}));
            }
        };
        ledger.authorizations.insert(
            id.clone(),
            Auth { amount: body.amount, status: auth_status, captured: 0, refunded: 0 },
        );
        *ledger.made_by_key.entry(key).or_default() += 1;
        *ledger.made_by_reference.entry(body.reference.clone()).or_default() += 1;
        if auth_status == "pending" {
            callback = Some((id.clone(), method == "tok_async"));
        }
        (status, json!({"id": id, "status": auth_status, "decline_code": code, "reference": body.reference}))
    })
    .await;
    if let (Some((id, approve)), Some(url)) = (callback, body.callback_url) {
        tokio::spawn(send_callback(sim, url, id, body.reference, approve));
    }
    response
}

/// How many authorizations the simulator made, per idempotency key and per merchant reference,
/// and the state of each (by authorization id): what a test checks to prove a retried or
/// repeated call never authorized twice, and that a hold was released.
async fn authorizations_made(State(sim): State<Sim>) -> Response {
    let ledger = sim.ledger.lock().await;
    let status: HashMap<&str, &str> = ledger
        .authorizations
        .iter()
        .map(|(id, auth)| (id.as_str(), auth.status))
        .collect();
    answer(
        StatusCode::OK,
        json!({"by_key": ledger.made_by_key, "by_reference": ledger.made_by_reference, "status": status}),
    )
}

/// Decides a pending authorization and tells the merchant, retrying like a real provider.
async fn send_callback(sim: Sim, url: String, id: String, reference: String, approve: bool) {
    tokio::time::sleep(sim.config.callback_delay).await;
    let status = if approve { "approved" } else { "declined" };
    if let Some(auth) = sim.ledger.lock().await.authorizations.get_mut(&id) {
        auth.status = status;
    }
    let body = json!({
        "type": if approve { "authorization.succeeded" } else { "authorization.failed" },
        "authorization": id,
        "reference": reference,
        "status": status,
        "decline_code": if approve { None } else { Some("card_declined") },
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut delay = Duration::from_millis(200);
    for _ in 0..8 {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let sent = sim
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header(
                signature::HEADER,
                signature::sign(&sim.config.callback_secret, now, &bytes),
            )
            .body(bytes.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(status = %r.status(), "simulator: callback refused; retrying"),
            Err(e) => tracing::warn!(error = %e, "simulator: callback failed; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

#[derive(Debug, Deserialize)]
struct AmountBody {
    amount: i64,
}

async fn capture(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AmountBody>,
) -> Response {
    idempotent(&sim, &headers, "capture", |ledger| {
        match ledger.authorizations.get_mut(&id) {
            None => (StatusCode::NOT_FOUND, json!({"status": "not_found"})),
            Some(auth) if auth.status != "approved" => {
                (StatusCode::CONFLICT, json!({"status": auth.status}))
            }
            Some(auth) if body.amount <= 0 || body.amount > auth.amount => (
                StatusCode::BAD_REQUEST,
                json!({"status": "amount_exceeds_authorization"}),
            ),
            Some(auth) => {
                auth.status = "captured";
                auth.captured = body.amount;
                (StatusCode::OK, json!({"id": id, "status": "captured"}))
            }
        }
    })
    .await
}

async fn void(State(sim): State<Sim>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    idempotent(&sim, &headers, "void", |ledger| {
        match ledger.authorizations.get_mut(&id) {
            None => (StatusCode::NOT_FOUND, json!({"status": "not_found"})),
            Some(auth)
                if auth.status == "approved"
                    || auth.status == "pending"
                    || auth.status == "voided" =>
            {
                auth.status = "voided";
                (StatusCode::OK, json!({"id": id, "status": "voided"}))
            }
            Some(auth) => (StatusCode::CONFLICT, json!({"status": auth.status})),
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
struct RefundBody {
    authorization: String,
    amount: i64,
}

async fn refund(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Json(body): Json<RefundBody>,
) -> Response {
    idempotent(&sim, &headers, "refund", |ledger| {
        match ledger.authorizations.get_mut(&body.authorization) {
            None => (StatusCode::NOT_FOUND, json!({"status": "not_found"})),
            Some(auth) if auth.status != "captured" => {
                (StatusCode::CONFLICT, json!({"status": auth.status}))
            }
            Some(auth) if body.amount <= 0 || auth.refunded + body.amount > auth.captured => (
                StatusCode::BAD_REQUEST,
                json!({"status": "amount_exceeds_capture"}),
            ),
            Some(auth) => {
                auth.refunded += body.amount;
                (
                    StatusCode::CREATED,
                    json!({"id": format!("re_{}", Uuid::new_v4().simple()), "status": "succeeded"}),
                )
            }
        }
    })
    .await
}
