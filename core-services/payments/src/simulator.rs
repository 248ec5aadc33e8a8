//! A payment-provider simulator that speaks the subset of Stripe's REST API the adapter uses
//! ([`crate::stripe`]), so the Stripe adapter is the code path of every local run and test:
//!
//! - `POST /v1/payment_intents` (create and confirm), `GET /v1/payment_intents` (list, with
//!   `created[...]`, `limit`, `starting_after`, `expand[]=data.latest_charge`),
//!   `GET /v1/payment_intents/{id}`, `POST /v1/payment_intents/{id}/capture`,
//!   `POST /v1/payment_intents/{id}/cancel`, `POST /v1/refunds`;
//! - form-encoded requests, Bearer (or Basic) auth with the configured key, Stripe's error JSON
//!   (`{"error": {"type", "code", "decline_code", "message", "param", ...}}`) and statuses;
//! - `Idempotency-Key`: the first answer is stored and replayed with `Idempotent-Replayed: true`;
//!   the same key with other parameters is a 400 `idempotency_error`; requests that fail
//!   validation are not stored;
//! - events signed with `Stripe-Signature` (one `v1` per configured secret) POSTed to the webhook
//!   URL and retried until it answers 2xx.
//!
//! Test payment methods, by Stripe's documented names (both the current `pm_card_visa_...` and
//! the older `pm_card_...` spellings of the declines):
//!
//! | payment method | outcome |
//! |---|---|
//! | `pm_card_visa`, `pm_card_mastercard`, `pm_card_amex`, `pm_card_threeDSecureOptional` | approved: `requires_capture` |
//! | `pm_card_chargeDeclined`, `pm_card_visa_chargeDeclined` | 402 `card_declined` / `generic_decline` |
//! | `pm_card_chargeDeclinedInsufficientFunds` (and `visa_`) | 402 `card_declined` / `insufficient_funds` |
//! | `pm_card_chargeDeclinedLostCard`, `...StolenCard` (and `visa_`) | 402 `lost_card`, `stolen_card` |
//! | `pm_card_chargeDeclinedExpiredCard`, `...IncorrectCvc`, `...ProcessingError` | 402 with that `code` |
//! | `pm_card_threeDSecure2Required`, `pm_card_authenticationRequired` | `requires_action`; authentication succeeds after a delay: `requires_capture` and `payment_intent.amount_capturable_updated` |
//! | `pm_card_threeDSecureRequiredChargeDeclined`, `pm_card_authenticationRequiredChargeDeclinedInsufficientFunds` | `requires_action`; then declined: `payment_intent.payment_failed` |
//! | `pm_card_simulatorTimeout` (simulator only) | never answers |
//!
//! Outside `/v1/`, and not Stripe's API, for tests and demos: `POST /_simulator/faults` makes the
//! next calls of an operation fail (429, a 500 before or after the work, or a slow answer);
//! `POST /_simulator/payment_intents/{id}/authenticate?outcome=succeed|fail` settles a pending
//! authentication now; `GET /_simulator/payment_intents` counts the intents made per idempotency
//! key and per payment id, with each intent's status; `GET /_simulator/events` lists the events
//! sent. Its state is process memory: it stands in for an external system, as moto does for AWS.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use psp_signature::Secrets;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The secret key callers must present.
    pub api_key: SecretString,
    /// Where events are POSTed (none: events are only recorded).
    pub webhook_url: Option<String>,
    /// What signs them (one `v1` per secret).
    pub webhook_secrets: Secrets,
    /// How long a 3-D Secure authentication takes before it settles by itself.
    pub authentication_delay: Duration,
}

/// The API version the simulator renders (it accepts any `Stripe-Version` and echoes it).
const API_VERSION: &str = crate::stripe::API_VERSION;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    Approve,
    Decline(&'static str, Option<&'static str>, &'static str),
    Authenticate(Option<(&'static str, Option<&'static str>, &'static str)>),
    Hang,
}

const DECLINED: &str = "Your card was declined.";

fn card(method: &str) -> Option<Card> {
    let method = method.replace("pm_card_visa_chargeDeclined", "pm_card_chargeDeclined");
    Some(match method.as_str() {
        "pm_card_visa"
        | "pm_card_mastercard"
        | "pm_card_amex"
        | "pm_card_visa_debit"
        | "pm_card_threeDSecureOptional" => Card::Approve,
        "pm_card_chargeDeclined" => {
            Card::Decline("card_declined", Some("generic_decline"), DECLINED)
        }
        "pm_card_chargeDeclinedInsufficientFunds" => Card::Decline(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        "pm_card_chargeDeclinedLostCard" => {
            Card::Decline("card_declined", Some("lost_card"), DECLINED)
        }
        "pm_card_chargeDeclinedStolenCard" => {
            Card::Decline("card_declined", Some("stolen_card"), DECLINED)
        }
        "pm_card_chargeDeclinedVelocityLimitExceeded" => {
            Card::Decline("card_declined", Some("card_velocity_exceeded"), DECLINED)
        }
        "pm_card_chargeDeclinedExpiredCard" => {
            Card::Decline("expired_card", None, "Your card has expired.")
        }
        "pm_card_chargeDeclinedIncorrectCvc" => Card::Decline(
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
        "pm_card_chargeDeclinedProcessingError" => Card::Decline(
            "processing_error",
            None,
            "An error occurred while processing your card.",
        ),
        "pm_card_threeDSecure2Required" | "pm_card_authenticationRequired" => {
            Card::Authenticate(None)
        }
        "pm_card_threeDSecureRequiredChargeDeclined" => {
            Card::Authenticate(Some(("card_declined", Some("generic_decline"), DECLINED)))
        }
        "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds" => {
            Card::Authenticate(Some((
                "card_declined",
                Some("insufficient_funds"),
                "Your card has insufficient funds.",
            )))
        }
        "pm_card_simulatorTimeout" => Card::Hang,
        _ => return None,
    })
}

#[derive(Debug, Clone)]
struct Intent {
    id: String,
    seq: u64,
    created: i64,
    amount: i64,
    currency: String,
    status: &'static str,
    capture_method: String,
    amount_capturable: i64,
    amount_received: i64,
    payment_method: String,
    metadata: BTreeMap<String, String>,
    charge: Option<Charge>,
    last_payment_error: Option<Value>,
    cancellation_reason: Option<String>,
    canceled_at: Option<i64>,
    next_action: Option<Value>,
    card: Card,
}

#[derive(Debug, Clone)]
struct Charge {
    id: String,
    captured: bool,
    amount_captured: i64,
    amount_refunded: i64,
    failed: bool,
}

impl Intent {
    fn charge_json(&self) -> Value {
        match &self.charge {
            None => Value::Null,
            Some(charge) => json!({
                "id": charge.id,
                "object": "charge",
                "amount": self.amount,
                "amount_captured": charge.amount_captured,
                "amount_refunded": charge.amount_refunded,
                "captured": charge.captured,
                "currency": self.currency,
                "paid": !charge.failed,
                "payment_intent": self.id,
                "refunded": charge.captured && charge.amount_refunded >= charge.amount_captured,
                "status": if charge.failed { "failed" } else { "succeeded" },
                "metadata": self.metadata,
                "livemode": false,
            }),
        }
    }

    fn json(&self, expand_charge: bool) -> Value {
        let latest_charge = match (&self.charge, expand_charge) {
            (None, _) => Value::Null,
            (Some(_), true) => self.charge_json(),
            (Some(charge), false) => json!(charge.id),
        };
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": self.amount_capturable,
            "amount_received": self.amount_received,
            "currency": self.currency,
            "status": self.status,
            "capture_method": self.capture_method,
            "confirmation_method": "automatic",
            "created": self.created,
            "livemode": false,
            "metadata": self.metadata,
            "payment_method": self.payment_method,
            "payment_method_types": ["card"],
            "latest_charge": latest_charge,
            "last_payment_error": self.last_payment_error,
            "cancellation_reason": self.cancellation_reason,
            "canceled_at": self.canceled_at,
            "next_action": self.next_action,
        })
    }
}

/// What a call makes fail, set by `POST /_simulator/faults`.
#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    /// `create`, `capture`, `cancel`, `refund`, `retrieve`, `list` or `any`.
    pub operation: String,
    /// `rate_limit` (429, not stored), `error_before` (500 before the work, not stored),
    /// `error_after` (the work is done, then a 500 is stored under the key and replayed), or
    /// `delay` (the work is done and stored, the answer comes `delay_ms` later).
    pub kind: String,
    /// For `delay`.
    #[serde(default)]
    pub delay_ms: u64,
    /// How many calls it applies to (default 1).
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone)]
struct Stored {
    fingerprint: String,
    status: StatusCode,
    body: Value,
}

#[derive(Debug, Default)]
struct Ledger {
    seq: u64,
    intents: HashMap<String, Intent>,
    stored: HashMap<String, Stored>,
    faults: Vec<Fault>,
    made_by_key: HashMap<String, u32>,
    made_by_payment: HashMap<String, u32>,
    requests: HashMap<String, u32>,
    events: Vec<Value>,
}

impl Ledger {
    fn take_fault(&mut self, operation: &str) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.operation == operation || f.operation == "any")?;
        let fault = self.faults.get_mut(index)?;
        fault.times = fault.times.saturating_sub(1);
        let taken = fault.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(taken)
    }

    fn event(&mut self, kind: &str, object: &Value, key: Option<&str>) -> Value {
        let event = json!({
            "id": format!("evt_{}", Uuid::new_v4().simple()),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "livemode": false,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": object.clone()},
            "request": {"id": key.map(|_| request_id()), "idempotency_key": key},
        });
        self.events.push(event.clone());
        event
    }
}

#[derive(Debug, Clone)]
struct Sim {
    config: Arc<SimulatorConfig>,
    ledger: Arc<Mutex<Ledger>>,
    client: reqwest::Client,
}

/// The simulator's routes.
pub fn router(config: SimulatorConfig) -> Router {
    let sim = Sim {
        config: Arc::new(config),
        ledger: Arc::new(Mutex::new(Ledger::default())),
        client: reqwest::Client::new(),
    };
    Router::new()
        .route("/v1/payment_intents", post(create_intent).get(list_intents))
        .route("/v1/payment_intents/{id}", get(retrieve_intent))
        .route("/v1/payment_intents/{id}/capture", post(capture_intent))
        .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
        .route("/v1/refunds", post(create_refund))
        .route("/_simulator/faults", post(add_fault))
        .route(
            "/_simulator/payment_intents/{id}/authenticate",
            post(authenticate_now),
        )
        .route("/_simulator/payment_intents", get(intents_made))
        .route("/_simulator/events", get(events_sent))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(sim)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn request_id() -> String {
    format!("req_{}", &Uuid::new_v4().simple().to_string()[..14])
}

fn id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

fn error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> (StatusCode, Value) {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://docs.stripe.com/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    (status, json!({"error": error}))
}

fn respond(status: StatusCode, body: &Value, headers: &HeaderMap, replayed: bool) -> Response {
    let mut response = (status, Json(body.clone())).into_response();
    let out = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id()) {
        out.insert("request-id", value);
    }
    let version = headers
        .get("stripe-version")
        .cloned()
        .unwrap_or(HeaderValue::from_static(API_VERSION));
    out.insert("stripe-version", version);
    if let Some(key) = headers.get("idempotency-key") {
        out.insert("idempotency-key", key.clone());
    }
    if replayed {
        out.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// A decoded form body or query string (`metadata[order_id]` stays one key).
type Params = Vec<(String, String)>;

fn params(raw: &[u8]) -> Params {
    form_urlencoded::parse(raw).into_owned().collect()
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `name[0]` and `name[]` are the same array.
fn array<'a>(params: &'a Params, name: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']'))
                .is_some_and(|index| index.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|(_, v)| v.as_str())
        .collect()
}

fn authorized(sim: &Sim, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let key = sim.config.api_key.expose_secret();
    if let Some(token) = value.strip_prefix("Bearer ") {
        return token == key;
    }
    // Basic: the key as the user name, no password.
    value.strip_prefix("Basic ").is_some_and(|encoded| {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded)
            .ok()
            .is_some_and(|decoded| decoded == format!("{key}:").into_bytes())
    })
}

fn unauthorized(headers: &HeaderMap) -> Response {
    let (status, body) = error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        None,
        "Invalid API Key provided.",
        None,
    );
    respond(status, &body, headers, false)
}

/// A call's outcome before it is answered.
struct Outcome {
    status: StatusCode,
    body: Value,
    /// Stored under the idempotency key (validation failures are not).
    store: bool,
    /// Events to send once the answer is decided.
    events: Vec<Value>,
    /// A pending authentication to settle later.
    authenticate: Option<String>,
}

impl Outcome {
    fn done(status: StatusCode, body: Value, events: Vec<Value>) -> Self {
        Self {
            status,
            body,
            store: true,
            events,
            authenticate: None,
        }
    }

    fn invalid((status, body): (StatusCode, Value)) -> Self {
        Self {
            status,
            body,
            store: false,
            events: Vec::new(),
            authenticate: None,
        }
    }
}

/// Runs one API call the way Stripe's layers do: auth, rate limit and faults, the idempotency
/// store, then the endpoint.
async fn call(
    sim: &Sim,
    headers: &HeaderMap,
    operation: &str,
    fingerprint: String,
    work: impl FnOnce(&mut Ledger, Option<&str>) -> Outcome,
) -> Response {
    if !authorized(sim, headers) {
        return unauthorized(headers);
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut ledger = sim.ledger.lock().await;
    *ledger.requests.entry(operation.to_owned()).or_default() += 1;
    let fault = ledger.take_fault(operation);
    match fault.as_ref().map(|f| f.kind.as_str()) {
        Some("rate_limit") => {
            let (status, body) = error(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                Some("rate_limit"),
                "Too many requests hit the API too quickly.",
                None,
            );
            return respond(status, &body, headers, false);
        }
        Some("error_before") => {
            let (status, body) = error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                None,
                "An unknown error occurred.",
                None,
            );
            return respond(status, &body, headers, false);
        }
        _ => {}
    }
    if let Some(key) = &key
        && let Some(stored) = ledger.stored.get(key)
    {
        if stored.fingerprint != fingerprint {
            let (status, body) = error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                None,
                &format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                ),
                None,
            );
            return respond(status, &body, headers, false);
        }
        let stored = stored.clone();
        return respond(stored.status, &stored.body, headers, true);
    }
    let mut outcome = work(&mut ledger, key.as_deref());
    if matches!(fault.as_ref().map(|f| f.kind.as_str()), Some("error_after")) && outcome.store {
        let (status, body) = error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            None,
            "An unknown error occurred.",
            None,
        );
        outcome.status = status;
        outcome.body = body;
    }
    if outcome.store
        && let Some(key) = &key
    {
        ledger.stored.insert(
            key.clone(),
            Stored {
                fingerprint,
                status: outcome.status,
                body: outcome.body.clone(),
            },
        );
    }
    drop(ledger);
    for event in outcome.events {
        tokio::spawn(deliver(sim.clone(), event));
    }
    if let Some(intent) = outcome.authenticate {
        let sim = sim.clone();
        tokio::spawn(async move {
            tokio::time::sleep(sim.config.authentication_delay).await;
            settle_authentication(&sim, &intent, None).await;
        });
    }
    if let Some(Fault { kind, delay_ms, .. }) = &fault
        && kind == "delay"
    {
        tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
    }
    respond(outcome.status, &outcome.body, headers, false)
}

fn fingerprint(method: &str, path: &str, params: &Params) -> String {
    let mut sorted = params.clone();
    sorted.sort();
    format!("{method} {path} {sorted:?}")
}

fn create(ledger: &mut Ledger, key: Option<&str>, params: &Params, card: Card) -> Outcome {
    let amount = match param(params, "amount").map(str::parse::<i64>) {
        None => {
            return Outcome::invalid(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_missing"),
                "Missing required param: amount.",
                Some("amount"),
            ));
        }
        Some(Ok(amount)) if (1..=99_999_999).contains(&amount) => amount,
        Some(_) => {
            return Outcome::invalid(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_invalid_integer"),
                "Invalid integer: amount must be a positive integer of at most eight digits.",
                Some("amount"),
            ));
        }
    };
    let currency = match param(params, "currency") {
        None => {
            return Outcome::invalid(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_missing"),
                "Missing required param: currency.",
                Some("currency"),
            ));
        }
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()) => c.to_owned(),
        Some(c) => {
            return Outcome::invalid(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_invalid_string"),
                &format!(
                    "Invalid currency: {c}. Stripe currently supports these currencies: usd, eur, gbp, ..."
                ),
                Some("currency"),
            ));
        }
    };
    let payment_method = param(params, "payment_method")
        .unwrap_or_default()
        .to_owned();
    let types = array(params, "payment_method_types");
    let no_redirects = param(params, "automatic_payment_methods[allow_redirects]") == Some("never");
    if types.is_empty() && !no_redirects && param(params, "return_url").is_none() {
        return Outcome::invalid(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            "A return_url must be specified because this Payment Intent is configured to automatically accept the payment methods enabled in the Dashboard, some of which may require a full page redirect to succeed. If you do not want to accept redirect-based payment methods, set automatic_payment_methods[enabled] to true and automatic_payment_methods[allow_redirects] to never when creating Setup Intents and Payment Intents.",
            None,
        ));
    }
    if param(params, "confirm") != Some("true") {
        return Outcome::invalid(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_invalid_string"),
            "The simulator creates PaymentIntents with confirm=true only.",
            Some("confirm"),
        ));
    }
    let capture_method = param(params, "capture_method")
        .unwrap_or("automatic_async")
        .to_owned();
    let metadata: BTreeMap<String, String> = params
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((name.to_owned(), v.clone()))
        })
        .collect();
    ledger.seq += 1;
    let mut intent = Intent {
        id: id("pi"),
        seq: ledger.seq,
        created: now(),
        amount,
        currency,
        status: "requires_payment_method",
        capture_method,
        amount_capturable: 0,
        amount_received: 0,
        payment_method,
        metadata,
        charge: None,
        last_payment_error: None,
        cancellation_reason: None,
        canceled_at: None,
        next_action: None,
        card,
    };
    *ledger
        .made_by_key
        .entry(key.unwrap_or("-").to_owned())
        .or_default() += 1;
    if let Some(payment) = intent.metadata.get("payment_id") {
        *ledger.made_by_payment.entry(payment.clone()).or_default() += 1;
    }
    let mut events = Vec::new();
    let mut authenticate = None;
    let status = match card {
        Card::Approve | Card::Hang => {
            approve(&mut intent);
            events.push(ledger.event(
                if intent.status == "succeeded" {
                    "payment_intent.succeeded"
                } else {
                    "payment_intent.amount_capturable_updated"
                },
                &intent.json(false),
                key,
            ));
            StatusCode::OK
        }
        Card::Decline(code, decline_code, message) => {
            decline(&mut intent, code, decline_code, message);
            events.push(ledger.event("payment_intent.payment_failed", &intent.json(false), key));
            StatusCode::PAYMENT_REQUIRED
        }
        Card::Authenticate(_) => {
            intent.status = "requires_action";
            intent.next_action = Some(json!({
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": format!("/_simulator/payment_intents/{}/authenticate", intent.id),
                    "return_url": param(params, "return_url"),
                },
            }));
            events.push(ledger.event("payment_intent.requires_action", &intent.json(false), key));
            authenticate = Some(intent.id.clone());
            StatusCode::OK
        }
    };
    let body = if status == StatusCode::PAYMENT_REQUIRED {
        let mut error = intent.last_payment_error.clone().unwrap_or(Value::Null);
        error["payment_intent"] = intent.json(false);
        json!({"error": error})
    } else {
        intent.json(false)
    };
    ledger.intents.insert(intent.id.clone(), intent);
    Outcome {
        status,
        body,
        store: true,
        events,
        authenticate,
    }
}

fn approve(intent: &mut Intent) {
    let automatic = intent.capture_method != "manual";
    intent.next_action = None;
    intent.charge = Some(Charge {
        id: id("ch"),
        captured: automatic,
        amount_captured: if automatic { intent.amount } else { 0 },
        amount_refunded: 0,
        failed: false,
    });
    if automatic {
        intent.status = "succeeded";
        intent.amount_received = intent.amount;
    } else {
        intent.status = "requires_capture";
        intent.amount_capturable = intent.amount;
    }
}

fn decline(intent: &mut Intent, code: &str, decline_code: Option<&str>, message: &str) {
    let charge = Charge {
        id: id("ch"),
        captured: false,
        amount_captured: 0,
        amount_refunded: 0,
        failed: true,
    };
    let mut error = json!({
        "type": "card_error",
        "code": code,
        "message": message,
        "charge": charge.id,
        "doc_url": format!("https://docs.stripe.com/error-codes/{}", code.replace('_', "-")),
        "payment_method": {"id": intent.payment_method, "object": "payment_method", "type": "card"},
    });
    if let Some(decline_code) = decline_code {
        error["decline_code"] = json!(decline_code);
    }
    intent.status = "requires_payment_method";
    intent.next_action = None;
    intent.charge = Some(charge);
    intent.last_payment_error = Some(error);
}

/// Ends a pending authentication: as the card decides, or as `outcome` (`succeed`, `fail`) says.
async fn settle_authentication(sim: &Sim, id: &str, outcome: Option<bool>) -> bool {
    let mut ledger = sim.ledger.lock().await;
    let Some(mut intent) = ledger.intents.get(id).cloned() else {
        return false;
    };
    if intent.status != "requires_action" {
        return false;
    }
    let failure = match (outcome, intent.card) {
        (Some(true), _) => None,
        (Some(false), Card::Authenticate(Some(failure))) => Some(failure),
        (Some(false), _) => Some((
            "payment_intent_authentication_failure",
            None,
            "The provided PaymentMethod has failed authentication.",
        )),
        (None, Card::Authenticate(failure)) => failure,
        (None, _) => None,
    };
    let kind = match failure {
        None => {
            approve(&mut intent);
            if intent.status == "succeeded" {
                "payment_intent.succeeded"
            } else {
                "payment_intent.amount_capturable_updated"
            }
        }
        Some((code, decline_code, message)) => {
            decline(&mut intent, code, decline_code, message);
            "payment_intent.payment_failed"
        }
    };
    let event = ledger.event(kind, &intent.json(false), None);
    ledger.intents.insert(intent.id.clone(), intent);
    drop(ledger);
    tokio::spawn(deliver(sim.clone(), event));
    true
}

/// POSTs one event, signed, until the endpoint answers 2xx (or gives up after a while, as
/// Stripe's test mode does after a few hours).
async fn deliver(sim: Sim, event: Value) {
    let Some(url) = sim.config.webhook_url.clone() else {
        return;
    };
    let Ok(bytes) = serde_json::to_vec(&event) else {
        return;
    };
    let mut delay = Duration::from_millis(200);
    for _ in 0..10 {
        let signature = psp_signature::sign_all(&sim.config.webhook_secrets, now(), &bytes);
        let sent = sim
            .client
            .post(&url)
            .header("content-type", "application/json; charset=utf-8")
            .header(psp_signature::HEADER, signature)
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(bytes.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                tracing::warn!(status = %r.status(), event = %event["type"], "simulator: webhook refused; retrying");
            }
            Err(e) => tracing::warn!(error = %e, "simulator: webhook failed; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

async fn create_intent(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let params = params(&body);
    let method = param(&params, "payment_method").unwrap_or_default();
    if !authorized(&sim, &headers) {
        return unauthorized(&headers);
    }
    let Some(card) = card(method) else {
        let (status, body) = error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some(if method.is_empty() {
                "parameter_missing"
            } else {
                "resource_missing"
            }),
            &if method.is_empty() {
                "Missing required param: payment_method.".to_owned()
            } else {
                format!("No such PaymentMethod: '{method}'")
            },
            Some("payment_method"),
        );
        return respond(status, &body, &headers, false);
    };
    if card == Card::Hang {
        // A processor that hangs: the caller's timeout decides.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let fingerprint = fingerprint("POST", "/v1/payment_intents", &params);
    call(&sim, &headers, "create", fingerprint, |ledger, key| {
        create(ledger, key, &params, card)
    })
    .await
}

fn missing(id: &str) -> Outcome {
    Outcome::invalid(error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such payment_intent: '{id}'"),
        Some("intent"),
    ))
}

fn unexpected_state(intent: &Intent, action: &str) -> Outcome {
    let (status, mut body) = error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
        &format!(
            "This PaymentIntent could not be {action} because it has a status of {}.",
            intent.status
        ),
        None,
    );
    body["error"]["payment_intent"] = intent.json(false);
    Outcome::done(status, body, Vec::new())
}

async fn capture_intent(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = params(&body);
    let path = format!("/v1/payment_intents/{id}/capture");
    call(&sim, &headers, "capture", fingerprint("POST", &path, &params), |ledger, key| {
        let Some(intent) = ledger.intents.get(&id) else {
            return missing(&id);
        };
        if intent.status != "requires_capture" {
            return unexpected_state(intent, "captured");
        }
        let amount = match param(&params, "amount_to_capture").map(str::parse::<i64>) {
            None => intent.amount_capturable,
            Some(Ok(a)) if a > 0 && a <= intent.amount_capturable => a,
            Some(_) => {
                return Outcome::invalid(error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("amount_too_large"),
                    "The amount to capture must be a positive integer no greater than the amount capturable.",
                    Some("amount_to_capture"),
                ));
            }
        };
        let mut intent = intent.clone();
        intent.status = "succeeded";
        intent.amount_received = amount;
        intent.amount_capturable = 0;
        if let Some(charge) = &mut intent.charge {
            charge.captured = true;
            charge.amount_captured = amount;
        }
        let event = ledger.event("payment_intent.succeeded", &intent.json(false), key);
        let body = intent.json(false);
        ledger.intents.insert(id.clone(), intent);
        Outcome::done(StatusCode::OK, body, vec![event])
    })
    .await
}

async fn cancel_intent(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = params(&body);
    let path = format!("/v1/payment_intents/{id}/cancel");
    call(&sim, &headers, "cancel", fingerprint("POST", &path, &params), |ledger, key| {
        let Some(intent) = ledger.intents.get(&id) else {
            return missing(&id);
        };
        let reason = param(&params, "cancellation_reason");
        if let Some(reason) = reason
            && !matches!(reason, "duplicate" | "fraudulent" | "requested_by_customer" | "abandoned")
        {
            return Outcome::invalid(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_invalid_string"),
                "Invalid cancellation_reason: must be one of duplicate, fraudulent, requested_by_customer, or abandoned",
                Some("cancellation_reason"),
            ));
        }
        if !matches!(
            intent.status,
            "requires_payment_method" | "requires_capture" | "requires_confirmation" | "requires_action" | "processing"
        ) {
            return unexpected_state(intent, "canceled");
        }
        let mut intent = intent.clone();
        intent.status = "canceled";
        intent.amount_capturable = 0;
        intent.next_action = None;
        intent.canceled_at = Some(now());
        intent.cancellation_reason = Some(reason.unwrap_or("requested_by_customer").to_owned());
        let event = ledger.event("payment_intent.canceled", &intent.json(false), key);
        let body = intent.json(false);
        ledger.intents.insert(id.clone(), intent);
        Outcome::done(StatusCode::OK, body, vec![event])
    })
    .await
}

async fn create_refund(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let params = params(&body);
    call(&sim, &headers, "refund", fingerprint("POST", "/v1/refunds", &params), |ledger, key| {
        let target = param(&params, "payment_intent").map(str::to_owned).or_else(|| {
            let charge = param(&params, "charge")?;
            ledger
                .intents
                .values()
                .find(|i| i.charge.as_ref().is_some_and(|c| c.id == charge))
                .map(|i| i.id.clone())
        });
        let Some(target) = target else {
            return Outcome::invalid(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_missing"),
                "One of the following params should be provided for this request: payment_intent or charge.",
                Some("payment_intent"),
            ));
        };
        let Some(intent) = ledger.intents.get(&target) else {
            return missing(&target);
        };
        let Some(charge) = intent.charge.clone().filter(|c| c.captured) else {
            let (status, body) = error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_not_captured"),
                "This PaymentIntent has no captured charge to refund; cancel it instead.",
                Some("payment_intent"),
            );
            return Outcome::done(status, body, Vec::new());
        };
        let left = charge.amount_captured - charge.amount_refunded;
        if left <= 0 {
            let (status, body) = error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_already_refunded"),
                &format!("Charge {} has already been refunded.", charge.id),
                None,
            );
            return Outcome::done(status, body, Vec::new());
        }
        let amount = match param(&params, "amount").map(str::parse::<i64>) {
            None => left,
            Some(Ok(a)) if a > 0 && a <= left => a,
            Some(Ok(a)) if a > left => {
                let (status, body) = error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("amount_too_large"),
                    &format!("Refund amount ({a}) is greater than unrefunded amount on charge ({left})"),
                    Some("amount"),
                );
                return Outcome::done(status, body, Vec::new());
            }
            Some(_) => {
                return Outcome::invalid(error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("parameter_invalid_integer"),
                    "Invalid positive integer",
                    Some("amount"),
                ));
            }
        };
        let mut intent = intent.clone();
        if let Some(charge) = &mut intent.charge {
            charge.amount_refunded += amount;
        }
        let refund = json!({
            "id": id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent.currency,
            "charge": charge.id,
            "payment_intent": intent.id,
            "status": "succeeded",
            "reason": param(&params, "reason"),
            "created": now(),
            "metadata": {},
        });
        let event = ledger.event("charge.refunded", &intent.charge_json(), key);
        ledger.intents.insert(intent.id.clone(), intent);
        Outcome::done(StatusCode::OK, refund, vec![event])
    })
    .await
}

async fn retrieve_intent(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let params = params(query.unwrap_or_default().as_bytes());
    let expand = array(&params, "expand").contains(&"latest_charge");
    call(&sim, &headers, "retrieve", String::new(), |ledger, _| {
        let mut outcome = match ledger.intents.get(&id) {
            None => missing(&id),
            Some(intent) => Outcome::done(StatusCode::OK, intent.json(expand), Vec::new()),
        };
        // GETs are idempotent by definition: nothing is stored.
        outcome.store = false;
        outcome
    })
    .await
}

async fn list_intents(
    State(sim): State<Sim>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let params = params(query.unwrap_or_default().as_bytes());
    call(&sim, &headers, "list", String::new(), |ledger, _| {
        let bound = |name: &str| -> Result<Option<i64>, Outcome> {
            match param(&params, name) {
                None => Ok(None),
                Some(v) => v.parse().map(Some).map_err(|_| {
                    Outcome::invalid(error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        Some("parameter_invalid_integer"),
                        &format!("Invalid integer: {v}"),
                        Some(name),
                    ))
                }),
            }
        };
        let (gte, gt, lte, lt, limit) = match (
            bound("created[gte]"),
            bound("created[gt]"),
            bound("created[lte]"),
            bound("created[lt]"),
            bound("limit"),
        ) {
            (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e)) => (a, b, c, d, e.unwrap_or(10)),
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (_, _, _, Err(e), _) | (.., Err(e)) => return e,
        };
        if !(1..=100).contains(&limit) {
            return Outcome::invalid(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_invalid_integer"),
                "This value must be between 1 and 100.",
                Some("limit"),
            ));
        }
        let expand = array(&params, "expand").contains(&"data.latest_charge");
        let mut all: Vec<&Intent> = ledger
            .intents
            .values()
            .filter(|i| {
                gte.is_none_or(|t| i.created >= t)
                    && gt.is_none_or(|t| i.created > t)
                    && lte.is_none_or(|t| i.created <= t)
                    && lt.is_none_or(|t| i.created < t)
            })
            .collect();
        all.sort_by_key(|i| std::cmp::Reverse((i.created, i.seq)));
        let start = match param(&params, "starting_after") {
            None => 0,
            Some(after) => match all.iter().position(|i| i.id == after) {
                Some(at) => at + 1,
                None => return missing(after),
            },
        };
        let limit = usize::try_from(limit).unwrap_or(10);
        let page: Vec<Value> = all.iter().skip(start).take(limit).map(|i| i.json(expand)).collect();
        let has_more = all.len() > start + page.len();
        let mut outcome = Outcome::done(
            StatusCode::OK,
            json!({"object": "list", "url": "/v1/payment_intents", "has_more": has_more, "data": page}),
            Vec::new(),
        );
        outcome.store = false;
        outcome
    })
    .await
}

async fn add_fault(State(sim): State<Sim>, Json(fault): Json<Fault>) -> StatusCode {
    sim.ledger.lock().await.faults.push(fault);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct AuthenticateQuery {
    outcome: String,
}

async fn authenticate_now(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(query): Query<AuthenticateQuery>,
) -> StatusCode {
    let outcome = match query.outcome.as_str() {
        "succeed" => true,
        "fail" => false,
        _ => return StatusCode::UNPROCESSABLE_ENTITY,
    };
    if settle_authentication(&sim, &id, Some(outcome)).await {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CONFLICT
    }
}

/// How many PaymentIntents were made, per idempotency key (`-` for none) and per payment id
/// (`metadata[payment_id]`), the status of each, and the authenticated requests per operation:
/// what a test checks to prove a retried call never authorized twice, that a hold was
/// released, and that a refused request was not retried.
async fn intents_made(State(sim): State<Sim>) -> Response {
    let ledger = sim.ledger.lock().await;
    let status: HashMap<&str, &str> = ledger
        .intents
        .iter()
        .map(|(id, intent)| (id.as_str(), intent.status))
        .collect();
    Json(json!({
        "by_key": ledger.made_by_key,
        "by_payment_id": ledger.made_by_payment,
        "status": status,
        "requests": ledger.requests,
    }))
    .into_response()
}

/// Every event made, oldest first.
async fn events_sent(State(sim): State<Sim>) -> Response {
    Json(json!({"data": sim.ledger.lock().await.events})).into_response()
}
