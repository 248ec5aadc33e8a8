//! The orders service's event consumer: each inventory and payment event is parsed once into
//! its typed payload ([`Incoming`]), the domain decides what it does to the order's state
//! ([`decide`]), and [`crate::saga`] carries the decision out in the same transaction.

use events::payloads::{
    InventoryRejected, InventoryReleased, InventoryReserved, PaymentAuthorized, PaymentCaptured,
    PaymentFailed, PaymentRefunded,
};
use events::{Envelope, Event};
use serde_json::{Value, json};
use service_kit::messaging::{Handler, HandlerError, Received};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Decision, Input, OrderStatus, PaymentFailure, decide};
use crate::saga::{Cause, OrderHead, SagaMetrics, cancel, confirm, lock, record};

/// The routing keys the orders queue is bound to.
pub const CONSUMES: &[&str] = &[
    InventoryReserved::TYPE,
    InventoryRejected::TYPE,
    InventoryReleased::TYPE,
    PaymentAuthorized::TYPE,
    PaymentFailed::TYPE,
    PaymentCaptured::TYPE,
    PaymentRefunded::TYPE,
];

/// Drives orders from inventory and payment events.
#[derive(Debug, Clone)]
pub struct SagaEvents {
    /// Outcome counter.
    pub metrics: SagaMetrics,
}

fn parse<T: Event>(event: &Received) -> Result<T, HandlerError> {
    Envelope::<T>::parse(&event.body)
        .map(|e| e.data)
        .map_err(|e| HandlerError::Permanent(e.to_string()))
}

/// Database and outbox failures, classified (an unreachable database costs no attempt).
fn retry(err: impl Into<HandlerError>) -> HandlerError {
    err.into()
}

/// A consumed event, parsed once into its payload.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// `inventory.reserved`.
    Reserved(InventoryReserved),
    /// `inventory.rejected`.
    Rejected(InventoryRejected),
    /// `inventory.released`.
    Released(InventoryReleased),
    /// `payment.authorized`.
    Authorized(PaymentAuthorized),
    /// `payment.failed`.
    Failed(PaymentFailed),
    /// `payment.captured`.
    Captured(PaymentCaptured),
    /// `payment.refunded`.
    Refunded(PaymentRefunded),
}

impl Incoming {
    /// Parses `event`; `None` for a type this service does not consume.
    pub fn parse(event: &Received) -> Result<Option<Self>, HandlerError> {
        Ok(Some(match event.attributes.event_type.as_str() {
            InventoryReserved::TYPE => Self::Reserved(parse(event)?),
            InventoryRejected::TYPE => Self::Rejected(parse(event)?),
            InventoryReleased::TYPE => Self::Released(parse(event)?),
            PaymentAuthorized::TYPE => Self::Authorized(parse(event)?),
            PaymentFailed::TYPE => Self::Failed(parse(event)?),
            PaymentCaptured::TYPE => Self::Captured(parse(event)?),
            PaymentRefunded::TYPE => Self::Refunded(parse(event)?),
            _ => return Ok(None),
        }))
    }

    /// The order it is about.
    pub fn order_id(&self) -> &str {
        match self {
            Self::Reserved(e) => &e.order_id,
            Self::Rejected(e) => &e.order_id,
            Self::Released(e) => &e.order_id,
            Self::Authorized(e) => &e.order_id,
            Self::Failed(e) => &e.order_id,
            Self::Captured(e) => &e.order_id,
            Self::Refunded(e) => &e.order_id,
        }
    }

    /// What it is to the order's state machine.
    pub fn input(&self) -> Input {
        match self {
            Self::Reserved(_) => Input::StockReserved,
            Self::Rejected(_) => Input::StockRejected,
            Self::Released(e) => Input::StockReleased {
                expired: e.reason == "expired",
            },
            Self::Authorized(_) => Input::PaymentAuthorized,
            Self::Failed(e) => Input::PaymentFailed(PaymentFailure::from_reason(&e.reason)),
            Self::Captured(_) => Input::PaymentCaptured,
            Self::Refunded(_) => Input::PaymentRefunded,
        }
    }

    /// Its step on the order's timeline.
    pub fn step(&self) -> &'static str {
        match self {
            Self::Reserved(_) => "stock_reserved",
            Self::Rejected(_) => "stock_rejected",
            Self::Released(_) => "stock_released",
            Self::Authorized(_) => "payment_authorized",
            Self::Failed(_) => "payment_failed",
            Self::Captured(_) => "payment_captured",
            Self::Refunded(_) => "payment_refunded",
        }
    }

    /// The timeline detail of its step when it changes no state, or of the cancellation it
    /// causes.
    fn detail(&self) -> Value {
        match self {
            Self::Reserved(e) => {
                json!({"reservation_id": e.reservation_id, "expires_at": e.expires_at})
            }
            Self::Rejected(e) => json!({"shortages": e.shortages}),
            Self::Released(e) => json!({"reason": e.reason}),
            Self::Authorized(e) => json!({"payment_id": e.payment_id}),
            Self::Failed(e) => json!({"payment_id": e.payment_id}),
            Self::Captured(e) => json!({"payment_id": e.payment_id, "amount": e.amount}),
            Self::Refunded(e) => json!({"refund_id": e.refund_id, "amount": e.amount}),
        }
    }
}

fn order_id(raw: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(raw).map_err(|_| HandlerError::Permanent(format!("not an order id: {raw}")))
}

impl SagaEvents {
    async fn apply(&self, tx: &mut PgConnection, event: &Received) -> Result<(), HandlerError> {
        let cause = Cause {
            correlation_id: &event.attributes.correlationid,
            event_id: Some(&event.attributes.id),
        };
        let event_id = cause.event_id;
        let Some(incoming) = Incoming::parse(event)? else {
            return Ok(());
        };
        let id = order_id(incoming.order_id())?;
        let Some(order) = lock(tx, id).await.map_err(retry)? else {
            // Events about orders this service never created (another environment's, or
            // hand-made): nothing to drive, and retrying will not change that.
            tracing::warn!(order = %id, event = incoming.step(), "event about an unknown order ignored");
            return Ok(());
        };
        let result = match (decide(order.status, incoming.input()), &incoming) {
            (Decision::Reserve, Incoming::Reserved(e)) => {
                reserve(tx, id, e, incoming.detail(), event_id).await
            }
            (Decision::Confirm, Incoming::Authorized(payment)) => {
                confirm(tx, &self.metrics, &order, payment, cause).await
            }
            (Decision::Cancel(reason), _) => {
                let detail = match &incoming {
                    // An expired hold needs no detail beyond its reason.
                    Incoming::Released(_) => json!({}),
                    other => other.detail(),
                };
                cancel(tx, &self.metrics, &order, reason, detail, cause)
                    .await
                    .map(|_| ())
            }
            (Decision::Record, _) => {
                record(
                    tx,
                    id,
                    incoming.step(),
                    order.status,
                    incoming.detail(),
                    event_id,
                )
                .await
            }
            // Late (the order moved on). `decide` pairs Reserve and Confirm with the events
            // above only, and refuses only requests, so nothing else reaches this arm.
            _ => note(tx, &order, incoming.step(), event_id).await,
        };
        result.map_err(retry)
    }
}

/// PENDING -> RESERVED, with the hold's expiry.
async fn reserve(
    tx: &mut PgConnection,
    id: Uuid,
    reserved: &InventoryReserved,
    detail: Value,
    event_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let expires = OffsetDateTime::parse(
        &reserved.expires_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok();
    sqlx::query(
        "with reserved as ( \
           update orders set status = $5, reservation_expires_at = $2, \
             updated_at = now() where id = $1) \
         insert into order_timeline (order_id, step, status, detail, event_id, at) \
         values ($1, 'stock_reserved', $5, $3, $4, clock_timestamp())",
    )
    .bind(id)
    .bind(expires)
    .bind(sqlx::types::Json(detail))
    .bind(event_id)
    .bind(OrderStatus::Reserved)
    .execute(&mut *tx)
    .await
    .map(|_| ())
}

/// A step that arrived after the order had moved on (kept in the timeline, changes nothing).
async fn note(
    tx: &mut PgConnection,
    order: &OrderHead,
    step: &str,
    event_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    record(
        tx,
        order.id,
        step,
        order.status,
        json!({"ignored": format!("arrived while the order was {}", order.status)}),
        event_id,
    )
    .await
}

impl Handler for SagaEvents {
    async fn handle(&self, tx: &mut PgConnection, event: &Received) -> Result<(), HandlerError> {
        self.apply(tx, event).await
    }
}
