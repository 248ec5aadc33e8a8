//! The payment provider behind a trait, and its HTTP adapter.
//!
//! Every call carries an `Idempotency-Key` derived from the payment (and refund) id, so a call
//! retried after a timeout can never authorize, capture or refund twice at the provider.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

/// A boxed, sendable future (the trait is used as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What authorizing asks for.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizeRequest {
    /// Our payment id (also the idempotency key base).
    pub reference: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// The provider's payment-method token.
    pub payment_method: String,
}

/// The provider's answer to an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// Funds held.
    Approved {
        /// The provider's id for the authorization.
        reference: String,
    },
    /// Refused by the issuer.
    Declined {
        /// Why (`card_declined`, `insufficient_funds`, ...).
        code: String,
    },
    /// The outcome comes later by signed callback.
    Pending {
        /// The provider's id for the authorization.
        reference: String,
    },
}

/// Why a provider call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// No answer in time: the outcome is unknown (retry with the same key).
    #[error("the payment provider did not answer in time")]
    Timeout,
    /// The provider could not be reached or failed (retry).
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request itself (retrying will not help).
    #[error("payment provider refused the request: {0}")]
    Rejected(String),
}

/// A payment provider.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Holds the amount on the payment method.
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizeRequest,
    ) -> BoxFuture<'a, Result<Authorization, ProviderError>>;
    /// Takes `amount` of an approved authorization.
    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: i64,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
    /// Releases an authorization.
    fn void<'a>(
        &'a self,
        reference: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
    /// Returns `amount` of a capture; answers the provider's refund id.
    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: i64,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, ProviderError>>;
}

/// A shared provider.
pub type Provider = Arc<dyn PaymentProvider>;

/// The provider's REST API over HTTP (the simulator speaks the same).
#[derive(Debug, Clone)]
pub struct HttpProvider {
    client: reqwest::Client,
    base: String,
    callback_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PspAnswer {
    #[serde(default)]
    id: Option<String>,
    status: String,
    #[serde(default)]
    decline_code: Option<String>,
}

impl HttpProvider {
    /// An adapter for the API at `base`, giving up on calls after `timeout`.
    pub fn new(
        base: &str,
        timeout: Duration,
        callback_url: Option<String>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            callback_url,
        })
    }

    async fn call(
        &self,
        path: &str,
        key: &str,
        body: serde_json::Value,
    ) -> Result<(u16, PspAnswer), ProviderError> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    ProviderError::Timeout
                } else {
                    ProviderError::Unavailable(e.to_string())
                }
            })?;
        let status = response.status().as_u16();
        if status >= 500 || status == 429 {
            return Err(ProviderError::Unavailable(format!("status {status}")));
        }
        let answer: PspAnswer = response.json().await.map_err(|e| {
            if e.is_timeout() {
                ProviderError::Timeout
            } else {
                ProviderError::Unavailable(e.to_string())
            }
        })?;
        Ok((status, answer))
    }

    fn expect_ok(status: u16, answer: &PspAnswer) -> Result<(), ProviderError> {
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(ProviderError::Rejected(format!(
                "status {status}: {}",
                answer.status
            )))
        }
    }
}

impl PaymentProvider for HttpProvider {
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizeRequest,
    ) -> BoxFuture<'a, Result<Authorization, ProviderError>> {
        Box::pin(async move {
            let body = json!({
                "reference": request.reference,
                "amount": request.amount,
                "currency": request.currency,
                "payment_method": request.payment_method,
                "callback_url": self.callback_url,
            });
            let key = format!("{}:authorize", request.reference);
            let (status, answer) = self.call("/v1/authorizations", &key, body).await?;
            match (status, answer.status.as_str(), answer.id) {
                (200..=299, "approved", Some(reference)) => {
                    Ok(Authorization::Approved { reference })
                }
                (200..=299, "pending", Some(reference)) => Ok(Authorization::Pending { reference }),
                (402, _, _) | (_, "declined", _) => Ok(Authorization::Declined {
                    code: answer.decline_code.unwrap_or_else(|| "declined".into()),
                }),
                (status, other, _) => {
                    Err(ProviderError::Rejected(format!("status {status}: {other}")))
                }
            }
        })
    }

    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: i64,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let (status, answer) = self
                .call(
                    &format!("/v1/authorizations/{reference}/capture"),
                    key,
                    json!({"amount": amount}),
                )
                .await?;
            Self::expect_ok(status, &answer)
        })
    }

    fn void<'a>(
        &'a self,
        reference: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let (status, answer) = self
                .call(
                    &format!("/v1/authorizations/{reference}/void"),
                    key,
                    json!({}),
                )
                .await?;
            Self::expect_ok(status, &answer)
        })
    }

    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: i64,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let (status, answer) = self
                .call(
                    "/v1/refunds",
                    key,
                    json!({"authorization": reference, "amount": amount}),
                )
                .await?;
            Self::expect_ok(status, &answer)?;
            answer
                .id
                .ok_or_else(|| ProviderError::Rejected("refund without an id".into()))
        })
    }
}
