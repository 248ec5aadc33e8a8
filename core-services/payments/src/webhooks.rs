//! Stripe's webhook events, verified (`Stripe-Signature`, any of the configured secrets) and
//! applied once each, by event id. They arrive at `/internal/psp/callback` (locally, from the
//! simulator) or, in AWS, through the psp-webhook function and its SQS queue
//! ([`crate::callbacks`]). Five types move a payment; every other type is acknowledged and
//! ignored:
//!
//! | event | applies as |
//! |---|---|
//! | `payment_intent.amount_capturable_updated` | authorized (a pending or in-flight authorization approved); a cancelled order's hold is voided |
//! | `payment_intent.payment_failed` | failed, with the decline code (a pending or in-flight authorization refused) |
//! | `payment_intent.succeeded` | captured (when our record of the capture was not made yet) |
//! | `payment_intent.canceled` | voided (authorized); a pending one cancelled when it was our void (`abandoned`), else failed so its order is cancelled |
//! | `charge.refunded` | a refund made at the provider (for example in Stripe's Dashboard) recorded in the ledger |
//!
//! Events are snapshots delivered in any order, so each only moves a payment forward: a late
//! `amount_capturable_updated` never undoes a capture. The payment is found by the
//! `metadata[payment_id]` the adapter sent, else by the PaymentIntent id. An event about a
//! payment this service did not make is acknowledged and ignored.

use events::payloads::{PaymentFailed, PaymentRefunded};
use psp_signature::Secrets;
use serde::Deserialize;
use service_kit::ApiError;
use service_kit::money::Money;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{Amounts, PaymentStatus, ProviderDecision, ProviderEvent, on_provider_event};
use crate::flow::{self, Cause};
use crate::provider::Provider;
use crate::store::{self, Payment};
use crate::stripe::OUR_VOID;

/// A Stripe event (the fields used).
#[derive(Debug, Deserialize)]
pub struct Event {
    /// `evt_...`.
    pub id: String,
    /// `payment_intent.succeeded`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The object as it was when the event was made.
    pub data: EventData,
}

/// `data` of an event.
#[derive(Debug, Deserialize)]
pub struct EventData {
    /// A PaymentIntent or a Charge.
    pub object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct IntentSnapshot {
    id: String,
    #[serde(default)]
    amount_received: i64,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    last_payment_error: Option<crate::stripe::StripeError>,
    #[serde(default)]
    cancellation_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChargeSnapshot {
    payment_intent: Option<String>,
    #[serde(default)]
    amount_refunded: i64,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

/// Verifies a signed event (as of `at`, when it was received) and applies it.
pub async fn receive(
    pool: &PgPool,
    provider: &Provider,
    secrets: &Secrets,
    signature: &str,
    body: &[u8],
    at: time::OffsetDateTime,
) -> Result<(), ApiError> {
    psp_signature::verify_any(secrets, signature, body, at)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let event: Event = service_kit::extract::parse_json(body)?;
    apply(pool, provider, &event).await
}

fn bad_object(err: &serde_json::Error) -> ApiError {
    ApiError::invalid_field(
        "data.object",
        format!("not what the event type carries: {err}"),
    )
}

/// Applies one verified event, once.
pub async fn apply(pool: &PgPool, provider: &Provider, event: &Event) -> Result<(), ApiError> {
    if ProviderEvent::from_kind(&event.kind, false).is_none() {
        tracing::debug!(event = %event.id, kind = %event.kind, "ignored a provider event");
        return Ok(());
    }
    // The intent as the event shows it (absent for a charge's event).
    let mut snapshot: Option<IntentSnapshot> = None;
    let (intent_id, payment_id) = if event.kind == "charge.refunded" {
        let charge: ChargeSnapshot =
            serde_json::from_value(event.data.object.clone()).map_err(|e| bad_object(&e))?;
        (
            charge.payment_intent,
            charge.metadata.get("payment_id").cloned(),
        )
    } else {
        let intent: IntentSnapshot =
            serde_json::from_value(event.data.object.clone()).map_err(|e| bad_object(&e))?;
        let ids = (
            Some(intent.id.clone()),
            intent.metadata.get("payment_id").cloned(),
        );
        snapshot = Some(intent);
        ids
    };
    let canceled_by_us = snapshot
        .as_ref()
        .is_some_and(|i| i.cancellation_reason.as_deref() == Some(OUR_VOID));
    let Some(kind) = ProviderEvent::from_kind(&event.kind, canceled_by_us) else {
        return Ok(());
    };
    let payment_id = payment_id.and_then(|p| Uuid::parse_str(&p).ok());
    let Some(seen) = find(pool, payment_id, intent_id.as_deref()).await? else {
        tracing::info!(event = %event.id, kind = %event.kind, "a provider event about no payment of ours; ignored");
        return Ok(());
    };
    let intent_id = intent_id.unwrap_or_default();
    if on_provider_event(seen.status, kind) == ProviderDecision::Nothing {
        // Most events of a normal payment tell what the saga recorded already (it usually hears
        // the answer first). States only move forward, so such an event can never apply later
        // either: acknowledged with no write at all.
        tracing::debug!(event = %event.id, kind = %event.kind, status = %seen.status, "a provider event that changes nothing");
        return Ok(());
    }
    // An approval for an order cancelled meanwhile: release the hold first, with no transaction
    // open (the void's key is the one the saga uses, so both release one hold once).
    let voided = on_provider_event(seen.status, kind) == ProviderDecision::ReleaseHold;
    if voided {
        provider
            .void(&intent_id, &flow::void_key(&seen))
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }

    let mut tx = pool.begin().await?;
    let Some(payment) = lock(&mut tx, seen.id).await? else {
        return Err(ApiError::NotFound("the payment disappeared".into()));
    };
    let first = sqlx::query(
        "insert into provider_events (id, type, payment_id) values ($1, $2, $3) on conflict (id) do nothing",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(payment.id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !first {
        tracing::debug!(event = %event.id, "a provider event applied before; ignored");
        return Ok(());
    }
    let correlation = payment.order_id.clone();
    let cause = Cause {
        correlation_id: &correlation,
        event_id: None,
    };
    match on_provider_event(payment.status, kind) {
        ProviderDecision::Authorize => {
            flow::authorized(&mut tx, &payment, &intent_id, cause).await?;
        }
        ProviderDecision::ReleaseHold if voided => {
            store::released_after_cancel(&mut tx, &payment, Some(&intent_id)).await?;
        }
        ProviderDecision::ReleaseHold => {
            // Cancelled after the look above: Stripe sends the event again, and the next
            // delivery voids.
            return Err(ApiError::Unavailable(
                "the order was cancelled meanwhile; send the event again".into(),
            ));
        }
        ProviderDecision::Fail if kind == ProviderEvent::Failed => {
            let code = snapshot
                .as_ref()
                .and_then(|i| i.last_payment_error.as_ref())
                .and_then(|e| e.decline_code.clone().or_else(|| e.code.clone()))
                .unwrap_or_else(|| "card_declined".to_owned());
            flow::failed(&mut tx, &payment, "declined", &code, cause).await?;
        }
        ProviderDecision::Fail => {
            // Cancelled elsewhere (Stripe's Dashboard, an expiry): fail the payment so the
            // order does not wait for it.
            store::set_status(
                &mut tx,
                payment.id,
                PaymentStatus::Failed,
                Some(&canceled_why(snapshot.as_ref())),
                None,
            )
            .await?;
            let data = PaymentFailed {
                order_id: payment.order_id.clone(),
                payment_id: payment.id.to_string(),
                reason: "declined".into(),
            };
            flow::emit(&mut tx, &payment, cause, data).await?;
        }
        ProviderDecision::Capture => {
            let received = snapshot.as_ref().map_or(0, |i| i.amount_received);
            // Never more than the authorization: an event saying otherwise is refused (and
            // shows in the reconciliation) rather than recorded.
            let refused = |e: &dyn std::fmt::Display| {
                ApiError::Conflict(format!("the provider's capture refused: {e}"))
            };
            let received =
                Money::new(received, payment.amount.currency()).map_err(|e| refused(&e))?;
            Amounts::authorized(payment.amount)
                .capture(received)
                .map_err(|e| refused(&e))?;
            flow::captured(&mut tx, &payment, received, cause).await?;
        }
        ProviderDecision::Void => {
            let why = canceled_why(snapshot.as_ref());
            store::set_status(&mut tx, payment.id, PaymentStatus::Voided, Some(&why), None).await?;
            store::post(&mut tx, &payment, "void", payment.amount, None).await?;
        }
        ProviderDecision::Cancel => {
            // Our own void of a pending payment (the order was cancelled), which the saga
            // records the same way.
            store::set_status(
                &mut tx,
                payment.id,
                PaymentStatus::Cancelled,
                Some("order cancelled"),
                None,
            )
            .await?;
        }
        ProviderDecision::RecordRefund => {
            let charge: ChargeSnapshot =
                serde_json::from_value(event.data.object.clone()).map_err(|e| bad_object(&e))?;
            refunded_at_provider(&mut tx, &payment, charge.amount_refunded, cause).await?;
        }
        ProviderDecision::Nothing => {}
    }
    tx.commit().await?;
    Ok(())
}

/// The failure reason of a payment cancelled at the provider.
fn canceled_why(intent: Option<&IntentSnapshot>) -> String {
    format!(
        "canceled at the provider ({})",
        intent
            .and_then(|i| i.cancellation_reason.as_deref())
            .unwrap_or("no reason given")
    )
}

async fn find(
    pool: &PgPool,
    payment_id: Option<Uuid>,
    intent_id: Option<&str>,
) -> Result<Option<Payment>, sqlx::Error> {
    if let Some(id) = payment_id
        && let Some(payment) = store::by_id(pool, id).await?
    {
        return Ok(Some(payment));
    }
    match intent_id {
        Some(reference) => store::by_reference(pool, reference).await,
        None => Ok(None),
    }
}

async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<Payment>, sqlx::Error> {
    store::lock_by_id(tx, id).await
}

/// `charge.refunded` carries the charge's cumulative `amount_refunded`. What it says beyond the
/// refunds we made or are making was refunded elsewhere (Stripe's Dashboard): record it as a
/// refund, so the ledger and the shopper's notification follow the money. An amount out of
/// range is refused, as a capture's is.
async fn refunded_at_provider(
    tx: &mut PgConnection,
    payment: &Payment,
    amount_refunded: i64,
    cause: Cause<'_>,
) -> Result<(), ApiError> {
    let ours: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount), 0)::bigint from refunds \
         where payment_id = $1 and status in ('requested', 'succeeded')",
    )
    .bind(payment.id)
    .fetch_one(&mut *tx)
    .await?;
    let extra = amount_refunded.saturating_sub(ours);
    if extra <= 0 {
        return Ok(());
    }
    let extra = Money::new(extra, payment.amount.currency())
        .map_err(|e| ApiError::Conflict(format!("the provider's refund refused: {e}")))?;
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into refunds (id, payment_id, amount, reason, requested_by, status) \
         values ($1, $2, $3, 'refunded at the payment provider', 'provider', 'succeeded')",
    )
    .bind(id)
    .bind(payment.id)
    .bind(extra.amount())
    .execute(&mut *tx)
    .await?;
    store::post(tx, payment, "refund", extra, Some(id)).await?;
    tracing::warn!(payment = %payment.id, amount = %extra, "recorded a refund made at the provider");
    let data = PaymentRefunded {
        order_id: payment.order_id.clone(),
        payment_id: payment.id.to_string(),
        refund_id: id.to_string(),
        amount: extra,
        contact: payment.contact.as_ref().map(|c| c.0.clone()),
    };
    flow::emit(tx, payment, cause, data).await?;
    Ok(())
}
