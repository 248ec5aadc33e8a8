//! The payments service's event consumer: `order.placed` creates the payment,
//! `inventory.reserved` authorizes, `order.confirmed` captures and `order.cancelled` voids, each
//! in the two steps of [`StagedHandler`] (see [`crate::flow`] for the rules).

use events::payloads::{InventoryReserved, OrderCancelled, OrderConfirmed, OrderPlaced};
use events::{Envelope, Event};
use service_kit::messaging::{HandlerError, Received, StagedHandler};
use sqlx::{PgConnection, PgPool};

use crate::domain::{
    Cancellation, Confirmation, PaymentStatus, on_order_cancelled, on_order_confirmed,
};
use crate::flow::{Cause, authorized, captured, failed, void_key};
use crate::provider::{Authorization, AuthorizeRequest, Provider, ProviderError};
use crate::store::{self, Payment};

/// The routing keys the payments queue is bound to.
pub const CONSUMES: &[&str] = &[
    OrderPlaced::TYPE,
    InventoryReserved::TYPE,
    OrderConfirmed::TYPE,
    OrderCancelled::TYPE,
];

/// Handles order and inventory events.
#[derive(Debug, Clone)]
pub struct PaymentEvents {
    /// The provider.
    pub provider: Provider,
    /// Deliveries of one event before a provider that does not answer counts as failed.
    pub max_attempts: u32,
}

/// What `prepare` did at the provider for one event, for `apply` to record.
#[derive(Debug)]
pub enum ProviderStep {
    /// Nothing to ask the provider.
    Nothing,
    /// The authorization's answer, or why there was none.
    Authorization(Result<Authorization, ProviderError>),
    /// The order was cancelled while its authorization was with the provider: the authorization
    /// was asked for again (same key) and its hold, if any (this reference), released.
    ReleasedAfterCancel(Option<String>),
    /// The capture's result.
    Capture(Result<(), ProviderError>),
    /// The void's result.
    Void(Result<(), ProviderError>),
}

fn parse<T: Event>(event: &Received) -> Result<T, HandlerError> {
    Envelope::<T>::parse(&event.body)
        .map(|e| e.data)
        .map_err(|e| HandlerError::Permanent(e.to_string()))
}

fn retryable(err: impl std::fmt::Display) -> HandlerError {
    HandlerError::Retryable(err.to_string())
}

fn authorize_request(payment: &Payment, method: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        reference: payment.id.to_string(),
        order_id: payment.order_id.clone(),
        amount: payment.amount,
        payment_method: method.to_owned(),
    }
}

impl PaymentEvents {
    /// Asks the provider to authorize, after recording the intent.
    async fn start_authorization(
        &self,
        pool: &PgPool,
        order_id: &str,
    ) -> Result<ProviderStep, HandlerError> {
        let Some((payment, marked)) = store::mark_authorizing(pool, order_id).await? else {
            // `order.placed` is published first; it may still be waiting for a retry here.
            return Err(HandlerError::Retryable(format!(
                "no payment yet for order {order_id}"
            )));
        };
        match payment.status {
            PaymentStatus::Authorizing if marked => {
                let method = payment.payment_method.as_deref().unwrap_or_default();
                let answer = self
                    .provider
                    .authorize(&authorize_request(&payment, method))
                    .await;
                Ok(ProviderStep::Authorization(answer))
            }
            PaymentStatus::Cancelled if payment.authorize_requested_at.is_some() => {
                let Some(method) = payment.payment_method.as_deref() else {
                    return Ok(ProviderStep::ReleasedAfterCancel(None));
                };
                // The same key answers the authorization made before, or makes none.
                let answer = self
                    .provider
                    .authorize(&authorize_request(&payment, method))
                    .await;
                match answer {
                    Ok(
                        Authorization::Approved { reference }
                        | Authorization::Pending { reference },
                    ) => {
                        self.provider
                            .void(&reference, &void_key(&payment))
                            .await
                            .map_err(retryable)?;
                        Ok(ProviderStep::ReleasedAfterCancel(Some(reference)))
                    }
                    Ok(Authorization::Declined { .. }) | Err(ProviderError::Rejected(_)) => {
                        Ok(ProviderStep::ReleasedAfterCancel(None))
                    }
                    Err(err) => Err(retryable(err)),
                }
            }
            _ => Ok(ProviderStep::Nothing),
        }
    }

    /// Records what the provider answered to an authorization.
    async fn authorize(
        &self,
        tx: &mut PgConnection,
        event: &Received,
        order_id: &str,
        step: ProviderStep,
        cause: Cause<'_>,
    ) -> Result<(), HandlerError> {
        let Some(payment) = store::lock_by_order(tx, order_id).await? else {
            return Err(HandlerError::Retryable(format!(
                "no payment yet for order {order_id}"
            )));
        };
        match (payment.status, step) {
            (PaymentStatus::Created, ProviderStep::Nothing) if payment.payment_method.is_none() => {
                failed(
                    tx,
                    &payment,
                    "error",
                    "the order carries no payment method",
                    cause,
                )
                .await?;
            }
            (
                PaymentStatus::Created | PaymentStatus::Authorizing,
                ProviderStep::Authorization(answer),
            ) => match answer {
                Ok(Authorization::Approved { reference }) => {
                    authorized(tx, &payment, &reference, cause).await?;
                }
                Ok(Authorization::Declined { code }) => {
                    failed(tx, &payment, "declined", &code, cause).await?;
                }
                Ok(Authorization::Pending { reference }) => {
                    store::set_status(
                        tx,
                        payment.id,
                        PaymentStatus::Pending,
                        None,
                        Some(&reference),
                    )
                    .await?;
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
            },
            (PaymentStatus::Created | PaymentStatus::Authorizing, _) => {
                return Err(HandlerError::Retryable(
                    "the payment changed while the provider was asked; looking again".into(),
                ));
            }
            // Cancelled while the provider was asked, and it may hold funds (approved, pending,
            // or no answer): the next attempt asks again with the same key and releases them.
            (
                PaymentStatus::Cancelled,
                ProviderStep::Authorization(
                    Ok(Authorization::Approved { .. } | Authorization::Pending { .. })
                    | Err(ProviderError::Timeout | ProviderError::Unavailable(_)),
                ),
            ) => {
                return Err(HandlerError::Retryable(
                    "the order was cancelled while the provider authorized; the next attempt releases the hold"
                        .into(),
                ));
            }
            (PaymentStatus::Cancelled, ProviderStep::ReleasedAfterCancel(reference)) => {
                store::released_after_cancel(tx, &payment, reference.as_deref()).await?;
            }
            // Decided before (a repeated delivery, or cancelled before the provider was asked).
            _ => {}
        }
        Ok(())
    }

    async fn capture(
        &self,
        tx: &mut PgConnection,
        order_id: &str,
        step: ProviderStep,
        cause: Cause<'_>,
    ) -> Result<(), HandlerError> {
        let Some(payment) = store::lock_by_order(tx, order_id).await? else {
            return Err(HandlerError::Permanent(format!(
                "order {order_id} was confirmed without a payment"
            )));
        };
        match (on_order_confirmed(payment.status), step) {
            (Confirmation::Capture, ProviderStep::Capture(Ok(()))) => {}
            (Confirmation::Capture, ProviderStep::Capture(Err(err))) => {
                return Err(retryable(err));
            }
            (Confirmation::Capture, _) => {
                return Err(HandlerError::Retryable(
                    "the payment was authorized while the capture was prepared; looking again"
                        .into(),
                ));
            }
            (Confirmation::Done, _) => return Ok(()),
            (Confirmation::Inconsistent, _) => {
                return Err(HandlerError::Permanent(format!(
                    "order {order_id} was confirmed while its payment is {}",
                    payment.status
                )));
            }
        }
        captured(tx, &payment, payment.amount, cause).await?;
        Ok(())
    }

    async fn cancel(
        &self,
        tx: &mut PgConnection,
        order_id: &str,
        step: ProviderStep,
    ) -> Result<(), HandlerError> {
        let Some(payment) = store::lock_by_order(tx, order_id).await? else {
            return Ok(());
        };
        match (on_order_cancelled(payment.status), step) {
            (Cancellation::VoidHold, ProviderStep::Void(Ok(()))) => {
                store::set_status(tx, payment.id, PaymentStatus::Voided, None, None).await?;
                store::post(tx, &payment, "void", payment.amount, None).await?;
            }
            // Voided while pending; or not authorized yet, so nothing is held (an
            // authorization in flight is released by its own step, which finds the payment
            // cancelled).
            (Cancellation::VoidPending, ProviderStep::Void(Ok(())))
            | (Cancellation::CancelUnasked, _) => {
                store::set_status(
                    tx,
                    payment.id,
                    PaymentStatus::Cancelled,
                    Some("order cancelled"),
                    None,
                )
                .await?;
            }
            (Cancellation::VoidHold | Cancellation::VoidPending, ProviderStep::Void(Err(err))) => {
                return Err(retryable(err));
            }
            (Cancellation::VoidHold | Cancellation::VoidPending, _) => {
                return Err(HandlerError::Retryable(
                    "the payment was authorized while the cancellation was prepared; voiding on the next attempt"
                        .into(),
                ));
            }
            // failed, voided, cancelled: nothing held. captured cannot happen: orders never
            // cancels a confirmed order.
            (Cancellation::Nothing, _) => {}
        }
        Ok(())
    }
}

impl StagedHandler for PaymentEvents {
    type Prepared = ProviderStep;

    async fn prepare(&self, pool: &PgPool, event: &Received) -> Result<ProviderStep, HandlerError> {
        match event.attributes.event_type.as_str() {
            InventoryReserved::TYPE => {
                let reserved = parse::<InventoryReserved>(event)?;
                self.start_authorization(pool, &reserved.order_id).await
            }
            OrderConfirmed::TYPE => {
                let order = parse::<OrderConfirmed>(event)?;
                match store::by_order(pool, &order.order_id).await? {
                    Some(payment)
                        if on_order_confirmed(payment.status) == Confirmation::Capture =>
                    {
                        let reference = payment.psp_reference.clone().unwrap_or_default();
                        let captured = self
                            .provider
                            .capture(
                                &reference,
                                payment.amount,
                                &format!("{}:capture", payment.id),
                            )
                            .await;
                        Ok(ProviderStep::Capture(captured))
                    }
                    _ => Ok(ProviderStep::Nothing),
                }
            }
            OrderCancelled::TYPE => {
                let order = parse::<OrderCancelled>(event)?;
                match store::by_order(pool, &order.order_id).await? {
                    Some(payment)
                        if matches!(
                            on_order_cancelled(payment.status),
                            Cancellation::VoidHold | Cancellation::VoidPending
                        ) =>
                    {
                        let reference = payment.psp_reference.clone().unwrap_or_default();
                        let voided = self.provider.void(&reference, &void_key(&payment)).await;
                        Ok(ProviderStep::Void(voided))
                    }
                    _ => Ok(ProviderStep::Nothing),
                }
            }
            _ => Ok(ProviderStep::Nothing),
        }
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &Received,
        step: ProviderStep,
    ) -> Result<(), HandlerError> {
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
                    order.total,
                    order.payment_method.as_deref(),
                    &order.contact,
                )
                .await?;
                Ok(())
            }
            InventoryReserved::TYPE => {
                let reserved = parse::<InventoryReserved>(event)?;
                self.authorize(tx, event, &reserved.order_id, step, cause)
                    .await
            }
            OrderConfirmed::TYPE => {
                let order = parse::<OrderConfirmed>(event)?;
                self.capture(tx, &order.order_id, step, cause).await
            }
            OrderCancelled::TYPE => {
                let order = parse::<OrderCancelled>(event)?;
                self.cancel(tx, &order.order_id, step).await
            }
            _ => Ok(()),
        }
    }
}
