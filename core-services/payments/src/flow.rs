//! The payment side of the saga, each step idempotent per order:
//!
//! - `order.placed` creates the payment (`created`) with the amount and payment-method token;
//! - `inventory.reserved` authorizes with the provider: approved -> `authorized` and
//!   `payment.authorized`; declined -> `failed` and `payment.failed`; pending -> `pending` until
//!   a signed webhook event decides ([`crate::webhooks`]); no answer -> retried with backoff (same provider idempotency
//!   key), and after the last attempt `failed` (`timeout`);
//! - `order.confirmed` captures (`payment.captured`); `order.cancelled` voids an authorization
//!   or cancels a payment not yet authorized (a later approval is voided on arrival);
//! - admin refunds return captured money (`payment.refunded`).
//!
//! No transaction is open while the provider answers. [`crate::consumer`] handles each event in
//! two steps ([`service_kit::messaging::StagedHandler`]): `prepare` reads the payment, records the intent where a crash must be
//! recognised (`authorizing`), and calls the provider with an idempotency key derived from the
//! payment; `apply` then locks the payment and records the outcome with the event, if what
//! `prepare` saw still holds (otherwise the delivery is retried and looks again). A crash between
//! the call and the record repeats the call with the same key: the provider answers the first
//! outcome again and never authorizes, captures or refunds twice. Deliveries of one order are
//! never handled at once by one consumer; across replicas, the states above decide:
//!
//! - cancelled while the provider authorizes: the answer's record sees `cancelled` and the next
//!   attempt asks the provider again (same key, so the same authorization) and voids the hold;
//! - authorized while a cancellation voids: the void's record retries and voids what is held.

use events::Event;
use events::payloads::{PaymentAuthorized, PaymentCaptured, PaymentFailed, PaymentRefunded};
use service_kit::ApiError;
use service_kit::messaging::enqueue_caused;
use service_kit::money::Money;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{Amounts, PaymentStatus};
use crate::provider::{Provider, ProviderError};
use crate::store::{self, Payment};

/// The `source` of every event this service emits.
pub const SOURCE: &str = "/payments";

/// What caused a step (for correlation and causation of emitted events).
pub use service_kit::messaging::Cause;

pub(crate) async fn emit<T: Event + serde::Serialize>(
    tx: &mut PgConnection,
    payment: &Payment,
    cause: Cause<'_>,
    data: T,
) -> Result<(), sqlx::Error> {
    enqueue_caused(tx, SOURCE, cause, &payment.order_id, data).await
}

/// Records an approved authorization.
pub(crate) async fn authorized(
    tx: &mut PgConnection,
    payment: &Payment,
    reference: &str,
    cause: Cause<'_>,
) -> Result<(), sqlx::Error> {
    store::set_status(
        tx,
        payment.id,
        PaymentStatus::Authorized,
        None,
        Some(reference),
    )
    .await?;
    let mut payment = payment.clone();
    payment.psp_reference = Some(reference.to_owned());
    store::post(tx, &payment, "authorization", payment.amount, None).await?;
    let data = PaymentAuthorized {
        order_id: payment.order_id.clone(),
        payment_id: payment.id.to_string(),
        amount: payment.amount,
    };
    emit(tx, &payment, cause, data).await
}

/// Records a failed payment.
pub(crate) async fn failed(
    tx: &mut PgConnection,
    payment: &Payment,
    reason: &str,
    detail: &str,
    cause: Cause<'_>,
) -> Result<(), sqlx::Error> {
    store::set_status(tx, payment.id, PaymentStatus::Failed, Some(detail), None).await?;
    let data = PaymentFailed {
        order_id: payment.order_id.clone(),
        payment_id: payment.id.to_string(),
        reason: reason.to_owned(),
    };
    emit(tx, payment, cause, data).await
}

/// Records a capture of `amount`.
pub(crate) async fn captured(
    tx: &mut PgConnection,
    payment: &Payment,
    amount: Money,
    cause: Cause<'_>,
) -> Result<(), sqlx::Error> {
    store::set_status(tx, payment.id, PaymentStatus::Captured, None, None).await?;
    store::post(tx, payment, "capture", amount, None).await?;
    let data = PaymentCaptured {
        order_id: payment.order_id.clone(),
        payment_id: payment.id.to_string(),
        amount,
    };
    emit(tx, payment, cause, data).await
}

/// The idempotency key of a payment's void (the saga's and a late approval's release share it).
pub(crate) fn void_key(payment: &Payment) -> String {
    format!("{}:void", payment.id)
}

/// A refund that was made.
#[derive(Debug, Clone)]
pub struct Refund {
    /// Refund id.
    pub id: Uuid,
    /// Order id.
    pub order_id: String,
    /// Given back, in the payment's currency.
    pub amount: Money,
    /// Why.
    pub reason: String,
}

/// Refunds `requested` minor units in the payment's currency (default: everything not yet
/// refunded) of a captured payment.
/// `key` makes retries safe: the same key answers the refund it made the first time, and
/// completes one whose provider call had no answer. The refund is recorded as `requested`
/// before the provider is asked and settled after, with no transaction open in between.
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
    let currency = payment.amount.currency();
    // Amounts the refunds table and the ledger's sums hold, in the payment's currency.
    let stored = |amount: i64| service_kit::db::money(amount, currency.as_str());
    let existing = match key {
        Some(key) => {
            sqlx::query_as::<_, (Uuid, i64, String, String, Option<String>)>(
                "select id, amount, reason, status, failure_reason from refunds \
                 where payment_id = $1 and idempotency_key = $2",
            )
            .bind(payment.id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?
        }
        None => None,
    };
    let refund = match existing {
        Some((id, amount, reason, status, failure)) => {
            let refund = Refund {
                id,
                order_id: order_id.to_owned(),
                amount: stored(amount)?,
                reason,
            };
            match status.as_str() {
                "succeeded" => return Ok((false, refund)),
                "failed" => {
                    return Err(ApiError::Conflict(format!(
                        "the payment provider refused this refund: {}",
                        failure.unwrap_or_default()
                    )));
                }
                // Asked before without an answer: ask again with the same key.
                _ => refund,
            }
        }
        None => {
            if payment.status != PaymentStatus::Captured {
                return Err(ApiError::Conflict(format!(
                    "only captured payments can be refunded; this one is {}",
                    payment.status
                )));
            }
            let balance =
                store::balance(&store::entries(&mut tx, payment.id).await?).map_err(|e| {
                    ApiError::Internal(anyhow::anyhow!(
                        "the ledger of payment {} does not add up: {e}",
                        payment.id
                    ))
                })?;
            let in_flight: i64 = sqlx::query_scalar(
                "select coalesce(sum(amount), 0)::bigint from refunds \
                 where payment_id = $1 and status = 'requested'",
            )
            .bind(payment.id)
            .fetch_one(&mut *tx)
            .await?;
            // Refunds in progress count as refunded: together they never exceed the capture.
            let amounts = Amounts {
                authorized: payment.amount,
                captured: stored(balance.captured)?,
                refunded: stored(balance.refunded.saturating_add(in_flight))?,
            };
            let refundable = amounts.refundable();
            let amount = requested.map_or(Ok(refundable), |r| Money::new(r, currency));
            let Some(amount) = amount.ok().filter(|a| amounts.refund(*a).is_ok()) else {
                return Err(ApiError::invalid_field(
                    "amount",
                    format!(
                        "must be 1 to {} (captured {}, refunded {}, in progress {in_flight})",
                        refundable.amount(),
                        balance.captured,
                        balance.refunded
                    ),
                ));
            };
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into refunds (id, payment_id, amount, reason, idempotency_key, requested_by, status) \
                 values ($1, $2, $3, $4, $5, $6, 'requested')",
            )
            .bind(id)
            .bind(payment.id)
            .bind(amount.amount())
            .bind(reason)
            .bind(key)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            Refund {
                id,
                order_id: order_id.to_owned(),
                amount,
                reason: reason.to_owned(),
            }
        }
    };
    tx.commit().await?;

    let reference = payment.psp_reference.clone().unwrap_or_default();
    let provider_key = format!(
        "{}:refund:{}",
        payment.id,
        key.map_or_else(|| refund.id.to_string(), str::to_owned)
    );
    let answer = provider
        .refund(&reference, refund.amount, &provider_key)
        .await;

    let mut tx = pool.begin().await?;
    let payment = store::lock_by_order(&mut tx, order_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no payment for this order".into()))?;
    let psp_refund = match answer {
        Ok(psp_refund) => psp_refund,
        Err(ProviderError::Rejected(m)) => {
            sqlx::query(
                "update refunds set status = 'failed', failure_reason = $2 where id = $1 and status = 'requested'",
            )
            .bind(refund.id)
            .bind(&m)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Err(ApiError::Conflict(format!(
                "the payment provider refused the refund: {m}"
            )));
        }
        Err(other) => {
            // Left `requested`: retrying with the same key asks the provider again.
            return Err(ApiError::Unavailable(format!(
                "{other}; retry with the same Idempotency-Key"
            )));
        }
    };
    let settled = sqlx::query(
        "update refunds set status = 'succeeded', psp_reference = $2 where id = $1 and status = 'requested'",
    )
    .bind(refund.id)
    .bind(&psp_refund)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if settled == 0 {
        // A concurrent retry with the same key recorded it first.
        return Ok((false, refund));
    }
    store::post(&mut tx, &payment, "refund", refund.amount, Some(refund.id)).await?;
    let data = PaymentRefunded {
        order_id: payment.order_id.clone(),
        payment_id: payment.id.to_string(),
        refund_id: refund.id.to_string(),
        amount: refund.amount,
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
    Ok((true, refund))
}
