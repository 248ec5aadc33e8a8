//! The payment provider behind a trait. Its one adapter is [`crate::stripe::StripeProvider`]
//! (Stripe's REST API; locally the simulator, which speaks the same subset).
//!
//! Every call carries an `Idempotency-Key` derived from the payment (and refund) id, so a call
//! retried after a timeout can never authorize, capture or refund twice at the provider.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use service_kit::money::Money;

/// A boxed, sendable future (the trait is used as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What authorizing asks for.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizeRequest {
    /// Our payment id (also the idempotency key base).
    pub reference: String,
    /// The order paid for.
    pub order_id: String,
    /// Amount to hold.
    pub amount: Money,
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
        /// Why: the issuer's decline code (`generic_decline`, `insufficient_funds`, ...), else
        /// the error code (`expired_card`, `incorrect_cvc`, ...).
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
    /// The provider refused the request itself (retrying will not help); the message keeps the
    /// provider's error type and code.
    #[error("payment provider refused the request: {0}")]
    Rejected(String),
}

/// A payment as the provider sees it (for reconciliation). Amounts stay as the provider reports
/// them, unchecked: reconciliation reports what disagrees rather than refusing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderPayment {
    /// The provider's id (`pi_...`).
    pub id: String,
    /// The provider's state (`requires_capture`, `succeeded`, ...).
    pub status: String,
    /// Minor units asked for.
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// Held and not yet captured.
    pub amount_capturable: i64,
    /// Captured.
    pub amount_received: i64,
    /// Refunded of what was captured.
    pub amount_refunded: i64,
    /// Our payment id, from the metadata we sent (absent on payments not made by us).
    pub payment_id: Option<String>,
    /// When it was created, unix seconds.
    pub created: i64,
}

/// A payment provider.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Holds the amount on the payment method.
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizeRequest,
    ) -> BoxFuture<'a, Result<Authorization, ProviderError>>;
    /// Takes `amount` (in the authorization's currency) of an approved authorization.
    fn capture<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
    /// Releases an authorization.
    fn void<'a>(
        &'a self,
        reference: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
    /// Returns `amount` (in the capture's currency) of a capture; answers the provider's refund
    /// id.
    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, ProviderError>>;
    /// One payment by the provider's id; `None` when the provider has no such payment.
    fn payment<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProviderPayment>, ProviderError>>;
    /// Every payment created in `[from, to)` (unix seconds), newest first.
    fn payments<'a>(
        &'a self,
        from: i64,
        to: i64,
    ) -> BoxFuture<'a, Result<Vec<ProviderPayment>, ProviderError>>;
}

/// A shared provider.
pub type Provider = Arc<dyn PaymentProvider>;
