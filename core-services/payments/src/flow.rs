//! The payment side of the saga, each step idempotent per order:
//!
//! - `order.placed` creates the payment (`created`) with the amount and payment-method token;
//! - `inventory.reserved` authorizes with the provider: approved -> `authorized` and
//!   `payment.authorized`; declined -> `failed` and `payment.failed`; pending -> `pending` until
//!   the signed callback decides; no answer -> retried with backoff (same provider idempotency
//!   key), and after the last attempt `failed` (`timeout`);
//! - `order.confirmed` captures (`payment.captured`); `order.cancelled` voids an authorization
//!   or cancels a payment not yet authorized (a later approval is voided on arrival);
//! - admin refunds return captured money (`payment.refunded`).
//!
//! Provider calls happen inside the transaction that holds the payment's row lock, so two
//! deliveries for one order can never act on the provider concurrently.

use events::payloads::{
    Amount, InventoryReserved, OrderCancelled, OrderConfirmed, OrderPlaced, PaymentAuthorized,
    PaymentCaptured, PaymentFailed, PaymentRefunded,
};
use events::{Envelope, Event};
use service_kit::ApiError;
use service_kit::messaging::{Handler, HandlerError, Received, enqueue};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::provider::{Authorization, AuthorizeRequest, Provider, ProviderError};
use crate::store::{self, Payment};

/// The `source` of every event this service emits.
pub const SOURCE: &str = "/payments";

/// The routing keys the payments queue is bound to.
pub const CONSUMES: &[&str] = &[
    OrderPlaced::TYPE,
    InventoryReserved::TYPE,
    OrderConfirmed::TYPE,
    OrderCancelled::TYPE,
];

/// What caused a step (for correlation and causation of emitted events).
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    /// Flow correlation id.
    pub correlation_id: &'a str,
    /// Causing event, if any.
    pub event_id: Option<&'a str>,
}

fn amount(payment: &Payment) -> Amount {
    Amount {
        amount: payment.amount,
        currency: payment.currency.clone(),
    }
}

async fn emit<T: Event + serde::Serialize>(
    tx: &mut PgConnection,
    payment: &Payment,
    cause: Cause<'_>,
    data: T,
) -> Result<(), sqlx::Error> {
    let envelope = Envelope::new(SOURCE, cause.correlation_id, cause.event_id, data);
    enqueue(tx, &envelope, &payment.order_id)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))
}

/// Records an approved authorization.
async fn authorized(
    tx: &mut PgConnection,
    payment: &Payment,
    reference: &str,
    cause: Cause<'_>,
) -> Result<(), sqlx::Error> {
    store::set_status(tx, payment.id, "authorized", None, Some(reference)).await?;
    let mut payment = payment.clone();
    payment.psp_reference = Some(reference.to_owned());
    store::post(tx, &payment, "authorization", payment.amount, None).await?;
    let data = PaymentAuthorized {
        order_id: payment.order_id.clone(),
        payment_id: payment.id.to_string(),
        amount: amount(&payment),
    };
    emit(tx, &payment, cause, data).await
}

/// Records a failed payment.
async fn failed(
    tx: &mut PgConnection,
    payment: &Payment,
    reason: &str,
    detail: &str,
    cause: Cause<'_>,
) -> Result<(), sqlx::Error> {
    store::set_status(tx, payment.id, "failed", Some(detail), None).await?;
    let data = PaymentFailed {
        order_id: payment.order_id.clone(),
        payment_id: payment.id.to_string(),
        reason: reason.to_owned(),
    };
    emit(tx, payment, cause, data).await
}

/// Handles order and inventory events.
#[derive(Debug, Clone)]
pub struct PaymentEvents {
    /// The provider.
    pub provider: Provider,
    /// Deliveries of one event before a provider that does not answer counts as failed.
    pub max_attempts: u32,
}

fn parse<T: Event>(event: &Received) -> Result<T, HandlerError> {
    Envelope::<T>::parse(&event.body)
        .map(|e| e.data)
        .map_err(|e| HandlerError::Permanent(e.to_string()))
}

impl PaymentEvents {
    async fn authorize(
        &self,
        tx: &mut PgConnection,
        event: &Received,
        order_id: &str,
        cause: Cause<'_>,
    ) -> Result<(), HandlerError> {
        let Some(payment) = store::lock_by_order(tx, order_id).await? else {
            // `order.placed` is published first; it may still be waiting for a retry here.
            return Err(HandlerError::Retryable(format!(
                "no payment yet for order {order_id}"
            )));
        };
        if payment.status != "created" {
            return Ok(());
        }
        let Some(method) = payment.payment_method.clone() else {
            failed(
                tx,
                &payment,
                "error",
                "the order carries no payment method",
                cause,
            )
            .await?;
            return Ok(());
        };
        let request = AuthorizeRequest {
            reference: payment.id.to_string(),
            amount: payment.amount,
            currency: payment.currency.clone(),
            payment_method: method,
        };
        match self.provider.authorize(&request).await {
            Ok(Authorization::Approved { reference }) => {
                authorized(tx, &payment, &reference, cause).await?;
            }
            Ok(Authorization::Declined { code }) => {
                failed(tx, &payment, "declined", &code, cause).await?;
            }
            Ok(Authorization::Pending { reference }) => {
                store::set_status(tx, payment.id, "pending", None, Some(&reference)).await?;
            }
            Err(err @ (ProviderError::Timeout | ProviderError::Unavailable(_))) => {
                if event.attempt < self.max_attempts {
                    return Err(HandlerError::Retryable(err.to_string()));
                }
                tracing::warn!(order = order_id, error = %err, "payment provider gave no answer; payment failed");
                failed(tx, &payment, "timeout", &err.to_string(), cause).await?;
            }
            Err(err @ ProviderError::Rejected(_)) => {
                failed(tx, &payment, "error", &err.to_string(), cause).await?;
            }
        }
        Ok(())
    }

    async fn capture(
        &self,
        tx: &mut PgConnection,
        order_id: &str,
        cause: Cause<'_>,
    ) -> Result<(), HandlerError> {
        let Some(payment) = store::lock_by_order(tx, order_id).await? else {
            return Err(HandlerError::Permanent(format!(
                "order {order_id} was confirmed without a payment"
            )));
        };
        match payment.status.as_str() {
            "authorized" => {}
            "captured" => return Ok(()),
            other => {
                return Err(HandlerError::Permanent(format!(
                    "order {order_id} was confirmed while its payment is {other}"
                )));
            }
        }
        let reference = payment.psp_reference.clone().unwrap_or_default();
        self.provider
            .capture(
                &reference,
                payment.amount,
                &format!("{}:capture", payment.id),
            )
            .await
            .map_err(|e| HandlerError::Retryable(e.to_string()))?;
        store::set_status(tx, payment.id, "captured", None, None).await?;
        store::post(tx, &payment, "capture", payment.amount, None).await?;
        let data = PaymentCaptured {
            order_id: payment.order_id.clone(),
            payment_id: payment.id.to_string(),
            amount: amount(&payment),
        };
        emit(tx, &payment, cause, data).await?;
        Ok(())
    }

    async fn cancel(&self, tx: &mut PgConnection, order_id: &str) -> Result<(), HandlerError> {
        let Some(payment) = store::lock_by_order(tx, order_id).await? else {
            return Ok(());
        };
        match payment.status.as_str() {
            "authorized" => {
                self.void(&payment).await?;
                store::set_status(tx, payment.id, "voided", None, None).await?;
                store::post(tx, &payment, "void", payment.amount, None).await?;
            }
            "pending" => {
                self.void(&payment).await?;
                store::set_status(tx, payment.id, "cancelled", Some("order cancelled"), None)
                    .await?;
            }
            "created" => {
                store::set_status(tx, payment.id, "cancelled", Some("order cancelled"), None)
                    .await?;
            }
            // failed, voided, cancelled: nothing held. captured cannot happen: orders never
            // cancels a confirmed order.
            _ => {}
        }
        Ok(())
    }

    async fn void(&self, payment: &Payment) -> Result<(), HandlerError> {
        let reference = payment.psp_reference.clone().unwrap_or_default();
        self.provider
            .void(&reference, &format!("{}:void", payment.id))
            .await
            .map_err(|e| HandlerError::Retryable(e.to_string()))
    }
}

impl Handler for PaymentEvents {
    async fn handle(&self, tx: &mut PgConnection, event: &Received) -> Result<(), HandlerError> {
        let cause = Cause {
            correlation_id: &event.attributes.correlationid,
            event_id: Some(&event.attributes.id),
        };
        match event.attributes.event_type.as_str() {
            OrderPlaced::TYPE => {
                let order = parse::<OrderPlaced>(event)?;
                store::create(
                    tx,
                    &order.order_id,
                    &order.customer_id,
                    order.total.amount,
                    &order.total.currency,
                    order.payment_method.as_deref(),
                    &order.contact,
                )
                .await?;
                Ok(())
            }
            InventoryReserved::TYPE => {
                let reserved = parse::<InventoryReserved>(event)?;
                self.authorize(tx, event, &reserved.order_id, cause).await
            }
            OrderConfirmed::TYPE => {
                let order = parse::<OrderConfirmed>(event)?;
                self.capture(tx, &order.order_id, cause).await
            }
            OrderCancelled::TYPE => {
                let order = parse::<OrderCancelled>(event)?;
                self.cancel(tx, &order.order_id).await
            }
            _ => Ok(()),
        }
    }
}

/// The provider's verdict on a pending authorization (from a verified callback).
pub async fn settle_pending(
    pool: &PgPool,
    provider: &Provider,
    reference: &str,
    approved: bool,
    code: Option<&str>,
) -> Result<(), ApiError> {
    let mut tx = pool.begin().await?;
    let Some(payment) = store::lock_by_reference(&mut tx, reference).await? else {
        return Err(ApiError::NotFound(
            "no payment with this provider reference".into(),
        ));
    };
    let correlation = payment.order_id.clone();
    let cause = Cause {
        correlation_id: &correlation,
        event_id: None,
    };
    match (payment.status.as_str(), approved) {
        ("pending", true) => authorized(&mut tx, &payment, reference, cause).await?,
        ("pending", false) => {
            failed(
                &mut tx,
                &payment,
                "declined",
                code.unwrap_or("declined"),
                cause,
            )
            .await?;
        }
        ("cancelled", true) => {
            // The order was cancelled while the provider decided: release the hold.
            provider
                .void(reference, &format!("{}:void", payment.id))
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        }
        // Already settled (a repeated callback): nothing to do.
        _ => {}
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
struct Callback {
    authorization: String,
    status: String,
    #[serde(default)]
    decline_code: Option<String>,
}

/// Verifies a signed provider callback (as of `at`: when it was received) and settles the
/// pending authorization it is about.
pub async fn apply_callback(
    pool: &PgPool,
    provider: &Provider,
    secret: &[u8],
    signature: &str,
    body: &[u8],
    at: time::OffsetDateTime,
) -> Result<(), ApiError> {
    crate::signature::verify(secret, signature, body, at)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let callback: Callback = service_kit::extract::parse_json(body)?;
    let approved = match callback.status.as_str() {
        "approved" => true,
        "declined" => false,
        other => {
            return Err(ApiError::invalid_field(
                "status",
                format!("unknown status `{other}`"),
            ));
        }
    };
    settle_pending(
        pool,
        provider,
        &callback.authorization,
        approved,
        callback.decline_code.as_deref(),
    )
    .await
}

/// A refund that was made.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Refund {
    /// Refund id.
    pub id: Uuid,
    /// Order id.
    pub order_id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Why.
    pub reason: String,
}

/// Refunds `amount` (default: everything not yet refunded) of a captured payment.
/// `key` makes retries safe: the same key answers the refund it made the first time.
pub async fn refund(
    pool: &PgPool,
    provider: &Provider,
    order_id: &str,
    requested: Option<i64>,
    reason: &str,
    key: Option<&str>,
    actor: &str,
) -> Result<(bool, Refund), ApiError> {
    let mut tx = pool.begin().await?;
    let payment = store::lock_by_order(&mut tx, order_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no payment for this order".into()))?;
    if let Some(key) = key {
        let existing: Option<(Uuid, i64, String)> = sqlx::query_as(
            "select id, amount, reason from refunds where payment_id = $1 and idempotency_key = $2",
        )
        .bind(payment.id)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((id, amount, reason)) = existing {
            return Ok((
                false,
                Refund {
                    id,
                    order_id: order_id.to_owned(),
                    amount,
                    currency: payment.currency,
                    reason,
                },
            ));
        }
    }
    if payment.status != "captured" {
        return Err(ApiError::Conflict(format!(
            "only captured payments can be refunded; this one is {}",
            payment.status
        )));
    }
    let balance = store::balance(&store::entries(&mut tx, payment.id).await?);
    let refundable = balance.captured - balance.refunded;
    let amount = requested.unwrap_or(refundable);
    if amount <= 0 || amount > refundable {
        return Err(ApiError::invalid_field(
            "amount",
            format!(
                "must be 1 to {refundable} (captured {}, refunded {})",
                balance.captured, balance.refunded
            ),
        ));
    }
    let id = Uuid::now_v7();
    let reference = payment.psp_reference.clone().unwrap_or_default();
    let provider_key = format!(
        "{}:refund:{}",
        payment.id,
        key.map_or_else(|| id.to_string(), str::to_owned)
    );
    let psp_refund = provider
        .refund(&reference, amount, &provider_key)
        .await
        .map_err(|e| match e {
            ProviderError::Rejected(m) => {
                ApiError::Conflict(format!("the payment provider refused the refund: {m}"))
            }
            other => ApiError::Unavailable(other.to_string()),
        })?;
    sqlx::query(
        "insert into refunds (id, payment_id, amount, reason, idempotency_key, psp_reference, requested_by) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(payment.id)
    .bind(amount)
    .bind(reason)
    .bind(key)
    .bind(&psp_refund)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    store::post(&mut tx, &payment, "refund", amount, Some(id)).await?;
    let data = PaymentRefunded {
        order_id: payment.order_id.clone(),
        payment_id: payment.id.to_string(),
        refund_id: id.to_string(),
        amount: Amount {
            amount,
            currency: payment.currency.clone(),
        },
        contact: payment.contact.as_ref().map(|c| c.0.clone()),
    };
    let correlation = payment.order_id.clone();
    emit(
        &mut tx,
        &payment,
        Cause {
            correlation_id: &correlation,
            event_id: None,
        },
        data,
    )
    .await?;
    tx.commit().await?;
    Ok((
        true,
        Refund {
            id,
            order_id: order_id.to_owned(),
            amount,
            currency: payment.currency,
            reason: reason.to_owned(),
        },
    ))
}
