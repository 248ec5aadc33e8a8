//! The Stripe adapter: [`PaymentProvider`] over Stripe's REST API (`https://api.stripe.com`, or
//! the simulator locally, which speaks the same subset). Field names follow Stripe's API
//! reference; `STRIPE.md` beside this crate lists what each call sends and how each answer maps.
//!
//! - **authorize**: `POST /v1/payment_intents` with `capture_method=manual` and `confirm=true`;
//!   `requires_capture` is approved, `requires_action` or `processing` pending, a 402
//!   `card_error` declined (its `decline_code`, else its `code`).
//! - **capture**: `POST /v1/payment_intents/{id}/capture`; **void**: `.../cancel`; **refund**:
//!   `POST /v1/refunds`. A capture or void the intent already had (a replay after our record was
//!   lost) counts as done.
//! - Amounts leave as Stripe takes them: integer minor units and a lower-case currency code
//!   ([`stripe_amount`], [`stripe_currency`]).
//! - Requests are form-encoded (`metadata[order_id]=...`), with Bearer auth, a pinned
//!   `Stripe-Version` and an `Idempotency-Key` derived from our ids. 409, 424, 429, 5xx and
//!   timeouts are retried a few times with the same key (unless Stripe says `Stripe-Should-Retry:
//!   false`, or replays a stored 500); every other 4xx is refused at once, keeping Stripe's error
//!   `type`/`code` in the message, which the ledger and the logs keep.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_kit::money::Money;

use crate::provider::{
    Authorization, AuthorizeRequest, BoxFuture, PaymentProvider, ProviderError, ProviderPayment,
};

/// The API version every request pins (`Stripe-Version`).
pub const API_VERSION: &str = "2026-07-29.dahlia";

/// The `cancellation_reason` our voids send: a `payment_intent.canceled` event with it is ours.
pub const OUR_VOID: &str = "abandoned";

/// How the adapter calls Stripe.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// API base, `https://api.stripe.com` (no trailing `/v1`).
    pub base_url: String,
    /// The secret key (`sk_test_...`, `sk_live_...`).
    pub api_key: SecretString,
    /// Per attempt; no answer by then is a timeout.
    pub timeout: Duration,
    /// Attempts per call for answers worth retrying (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each later one.
    pub backoff: Duration,
}

/// The adapter.
#[derive(Debug, Clone)]
pub struct StripeProvider {
    client: reqwest::Client,
    config: StripeConfig,
}

/// Stripe's error object (`{"error": {...}}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StripeError {
    /// `card_error`, `invalid_request_error`, `api_error`, `idempotency_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Machine-readable reason (`card_declined`, `resource_missing`, ...).
    #[serde(default)]
    pub code: Option<String>,
    /// The issuer's reason for a card decline.
    #[serde(default)]
    pub decline_code: Option<String>,
    /// Human-readable.
    #[serde(default)]
    pub message: Option<String>,
    /// The parameter at fault.
    #[serde(default)]
    pub param: Option<String>,
}

impl StripeError {
    fn describe(&self, status: u16) -> String {
        let mut text = format!("stripe {status} {}", self.kind);
        if let Some(code) = &self.code {
            text.push('/');
            text.push_str(code);
        }
        if let Some(param) = &self.param {
            text.push_str(&format!(" (param {param})"));
        }
        if let Some(message) = &self.message {
            text.push_str(": ");
            text.push_str(message);
        }
        text
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: StripeError,
}

/// The PaymentIntent fields the adapter reads.
#[derive(Debug, Clone, Deserialize)]
struct Intent {
    id: String,
    status: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    amount_capturable: i64,
    #[serde(default)]
    amount_received: i64,
    #[serde(default)]
    metadata: HashMap<String, String>,
    #[serde(default)]
    last_payment_error: Option<StripeError>,
    #[serde(default)]
    latest_charge: Option<serde_json::Value>,
    #[serde(default)]
    created: i64,
}

impl Intent {
    fn into_payment(self) -> ProviderPayment {
        let amount_refunded = self
            .latest_charge
            .as_ref()
            .and_then(|c| c.get("amount_refunded"))
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        ProviderPayment {
            payment_id: self.metadata.get("payment_id").cloned(),
            id: self.id,
            status: self.status,
            amount: self.amount,
            currency: self.currency.to_uppercase(),
            amount_capturable: self.amount_capturable,
            amount_received: self.amount_received,
            amount_refunded,
            created: self.created,
        }
    }
}

#[derive(Debug, Deserialize)]
struct IntentList {
    data: Vec<Intent>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Debug, Deserialize)]
struct RefundObject {
    id: String,
    #[serde(default)]
    status: Option<String>,
}

/// One answer from Stripe.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ProviderError::Unavailable(format!("stripe answered {} unreadably: {e}", self.status))
        })
    }

    fn error(&self) -> StripeError {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .map(|b| b.error)
            .unwrap_or_else(|_| StripeError {
                kind: "unreadable_error".into(),
                message: Some(
                    String::from_utf8_lossy(&self.body)
                        .chars()
                        .take(200)
                        .collect(),
                ),
                ..StripeError::default()
            })
    }

    fn rejected(&self) -> ProviderError {
        let text = self.error().describe(self.status);
        tracing::warn!(error = %text, "stripe refused a request");
        ProviderError::Rejected(text)
    }
}

/// Whether an answer is worth another attempt with the same key. Stripe's own
/// `Stripe-Should-Retry` decides when present; a replayed (stored) 500 is the same on every
/// attempt.
fn retryable(status: u16, headers: &reqwest::header::HeaderMap) -> bool {
    match headers
        .get("stripe-should-retry")
        .and_then(|v| v.to_str().ok())
    {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    let replayed = headers
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        == Some("true");
    matches!(status, 409 | 424 | 429) || (status >= 500 && !replayed)
}

/// An amount as Stripe's `amount` fields take it: integer minor units of the currency.
pub fn stripe_amount(money: Money) -> String {
    money.amount().to_string()
}

/// A currency as Stripe's `currency` field takes it: the ISO 4217 code in lower case.
pub fn stripe_currency(money: Money) -> String {
    money.currency().as_str().to_ascii_lowercase()
}

/// Form-encodes `fields` the way Stripe reads them (`a[b]=c`, brackets percent-encoded).
pub fn form(fields: &[(&str, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

impl StripeProvider {
    /// An adapter with `config`.
    pub fn new(config: StripeConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!(
                "retail-platform-payments/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            client,
            config: StripeConfig {
                base_url: config.base_url.trim_end_matches('/').to_owned(),
                attempts: config.attempts.max(1),
                ..config
            },
        })
    }

    /// Sends one request, retrying what is worth retrying with the same key.
    async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        fields: &[(&str, String)],
    ) -> Result<Answer, ProviderError> {
        let url = format!("{}{path}", self.config.base_url);
        let body = form(fields);
        let mut wait = self.config.backoff;
        let mut last = ProviderError::Unavailable("no attempt made".into());
        for attempt in 1..=self.config.attempts {
            if attempt > 1 {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            let target = if method == Method::GET && !body.is_empty() {
                format!("{url}?{body}")
            } else {
                url.clone()
            };
            let mut request = self
                .client
                .request(method.clone(), target)
                .bearer_auth(self.config.api_key.expose_secret())
                .header("stripe-version", API_VERSION);
            if method != Method::GET {
                request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            let sent = request.send().await;
            let response = match sent {
                Ok(response) => response,
                Err(err) => {
                    last = if err.is_timeout() {
                        ProviderError::Timeout
                    } else {
                        ProviderError::Unavailable(err.to_string())
                    };
                    tracing::warn!(path, attempt, error = %err, "stripe did not answer");
                    continue;
                }
            };
            let status = response.status().as_u16();
            let again = retryable(status, response.headers());
            let request_id = response
                .headers()
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            let body = match response.bytes().await {
                Ok(body) => body.to_vec(),
                Err(err) => {
                    last = if err.is_timeout() {
                        ProviderError::Timeout
                    } else {
                        ProviderError::Unavailable(err.to_string())
                    };
                    continue;
                }
            };
            let answer = Answer { status, body };
            if again {
                tracing::warn!(
                    path,
                    attempt,
                    status,
                    request_id,
                    "stripe answered; retrying with the same key"
                );
                last = ProviderError::Unavailable(answer.error().describe(status));
                continue;
            }
            if status >= 500 || matches!(status, 409 | 424 | 429) {
                // Stored and replayed (or Stripe said not to retry): the outcome is settled by
                // looking the object up, never by a new key.
                return Err(ProviderError::Unavailable(answer.error().describe(status)));
            }
            tracing::debug!(path, status, request_id, "stripe answered");
            return Ok(answer);
        }
        Err(last)
    }

    async fn intent(&self, id: &str) -> Result<Option<Intent>, ProviderError> {
        let answer = self
            .send(
                Method::GET,
                &format!("/v1/payment_intents/{id}"),
                None,
                &[("expand[]", "latest_charge".into())],
            )
            .await?;
        match answer.status {
            200..=299 => answer.json().map(Some),
            404 => Ok(None),
            _ => Err(answer.rejected()),
        }
    }

    /// `POST /v1/payment_intents/{id}/{action}` (capture, cancel). Refused because of the
    /// intent's state, it is done already when the intent is in `done` (our record of the first
    /// call was lost), refused otherwise.
    async fn move_intent(
        &self,
        reference: &str,
        action: &str,
        key: &str,
        fields: &[(&str, String)],
        done: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("/v1/payment_intents/{reference}/{action}");
        let answer = self.send(Method::POST, &path, Some(key), fields).await?;
        if answer.ok() {
            return Ok(());
        }
        self.settled_already(&answer, reference, done).await
    }

    async fn settled_already(
        &self,
        answer: &Answer,
        id: &str,
        done: &str,
    ) -> Result<(), ProviderError> {
        if answer.error().code.as_deref() == Some("payment_intent_unexpected_state")
            && let Some(intent) = self.intent(id).await?
            && intent.status == done
        {
            return Ok(());
        }
        Err(answer.rejected())
    }
}

fn decline_code(error: &StripeError) -> String {
    error
        .decline_code
        .clone()
        .or_else(|| error.code.clone())
        .unwrap_or_else(|| "card_declined".into())
}

impl PaymentProvider for StripeProvider {
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizeRequest,
    ) -> BoxFuture<'a, Result<Authorization, ProviderError>> {
        Box::pin(async move {
            let fields = [
                ("amount", stripe_amount(request.amount)),
                ("currency", stripe_currency(request.amount)),
                ("payment_method", request.payment_method.clone()),
                // Cards only: with automatic payment methods (the default when no type is given)
                // confirming would require a `return_url`.
                ("payment_method_types[0]", "card".to_owned()),
                ("capture_method", "manual".to_owned()),
                ("confirm", "true".to_owned()),
                ("metadata[order_id]", request.order_id.clone()),
                ("metadata[payment_id]", request.reference.clone()),
            ];
            let key = format!("{}:authorize", request.reference);
            let answer = self
                .send(Method::POST, "/v1/payment_intents", Some(&key), &fields)
                .await?;
            if answer.status == 402 {
                let error = answer.error();
                if error.kind == "card_error" {
                    return Ok(Authorization::Declined {
                        code: decline_code(&error),
                    });
                }
                return Err(answer.rejected());
            }
            if !answer.ok() {
                return Err(answer.rejected());
            }
            let intent: Intent = answer.json()?;
            match intent.status.as_str() {
                "requires_capture" => Ok(Authorization::Approved {
                    reference: intent.id,
                }),
                "requires_action" | "processing" => Ok(Authorization::Pending {
                    reference: intent.id,
                }),
                "requires_payment_method" | "canceled" => Ok(Authorization::Declined {
                    code: intent
                        .last_payment_error
                        .as_ref()
                        .map_or_else(|| "card_declined".into(), decline_code),
                }),
                other => Err(ProviderError::Rejected(format!(
                    "stripe answered an authorization with status `{other}`"
                ))),
            }
        })
    }

    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let fields = [("amount_to_capture", stripe_amount(amount))];
            self.move_intent(reference, "capture", key, &fields, "succeeded")
                .await
        })
    }

    fn void<'a>(
        &'a self,
        reference: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let fields = [("cancellation_reason", OUR_VOID.to_owned())];
            self.move_intent(reference, "cancel", key, &fields, "canceled")
                .await
        })
    }

    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let answer = self
                .send(
                    Method::POST,
                    "/v1/refunds",
                    Some(key),
                    &[
                        ("payment_intent", reference.to_owned()),
                        ("amount", stripe_amount(amount)),
                    ],
                )
                .await?;
            if !answer.ok() {
                return Err(answer.rejected());
            }
            let refund: RefundObject = answer.json()?;
            match refund.status.as_deref() {
                Some("failed" | "canceled") => Err(ProviderError::Rejected(format!(
                    "stripe refund {} ended {}",
                    refund.id,
                    refund.status.unwrap_or_default()
                ))),
                _ => Ok(refund.id),
            }
        })
    }

    fn payment<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProviderPayment>, ProviderError>> {
        Box::pin(async move { Ok(self.intent(reference).await?.map(Intent::into_payment)) })
    }

    fn payments<'a>(
        &'a self,
        from: i64,
        to: i64,
    ) -> BoxFuture<'a, Result<Vec<ProviderPayment>, ProviderError>> {
        Box::pin(async move {
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut fields = vec![
                    ("created[gte]", from.to_string()),
                    ("created[lt]", to.to_string()),
                    ("limit", "100".to_owned()),
                    ("expand[]", "data.latest_charge".to_owned()),
                ];
                if let Some(id) = &after {
                    fields.push(("starting_after", id.clone()));
                }
                let answer = self
                    .send(Method::GET, "/v1/payment_intents", None, &fields)
                    .await?;
                if !answer.ok() {
                    return Err(answer.rejected());
                }
                let page: IntentList = answer.json()?;
                after = page.data.last().map(|i| i.id.clone());
                let more = page.has_more && after.is_some();
                all.extend(page.data.into_iter().map(Intent::into_payment));
                if !more {
                    return Ok(all);
                }
            }
        })
    }
}
