//! The order saga as a persisted state machine.
//!
//! ```text
//! PENDING --inventory.reserved--> RESERVED --payment.authorized--> PAID -> CONFIRMED --ship--> SHIPPED
//!    |                                |
//!    +--inventory.rejected / payment.failed / reservation expired / timeout / customer--> CANCELLED
//! ```
//! Every transition locks the order row, checks the current state and appends a timeline step
//! in the same transaction as the events it emits (`order.confirmed`, `order.cancelled`,
//! `order.shipped`), so each order reaches exactly one terminal state whatever the order or
//! repetition of deliveries. Compensation is done by the other services on `order.cancelled`:
//! inventory releases the stock, payments voids the authorization.

use std::time::Duration;

use events::payloads::{
    Amount, Contact, InventoryRejected, InventoryReleased, InventoryReserved, OrderCancelled,
    OrderConfirmed, OrderShipped, PaymentAuthorized, PaymentCaptured, PaymentFailed,
    PaymentRefunded,
};
use events::{Envelope, Event};
use serde_json::{Value, json};
use service_kit::messaging::{Handler, HandlerError, Received, enqueue};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// The `source` of every event this service emits.
pub const SOURCE: &str = "/orders";

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

/// Order states.
pub mod status {
    /// Placed; waiting for stock.
    pub const PENDING: &str = "PENDING";
    /// Stock held; waiting for payment.
    pub const RESERVED: &str = "RESERVED";
    /// Payment authorized.
    pub const PAID: &str = "PAID";
    /// Terminal success: stock committed, payment captured.
    pub const CONFIRMED: &str = "CONFIRMED";
    /// A confirmed order left the warehouse.
    pub const SHIPPED: &str = "SHIPPED";
    /// Terminal failure, with a reason.
    pub const CANCELLED: &str = "CANCELLED";
    /// States from which the saga can still go either way.
    pub const IN_FLIGHT: &[&str] = &[PENDING, RESERVED, PAID];
}

/// `orders_saga_outcomes_total{outcome, reason}`: orders reaching a terminal state. Counted
/// in the transaction that decides; a rare rollback after that can overcount by one.
#[derive(Debug, Clone)]
pub struct SagaMetrics(prometheus::IntCounterVec);

impl SagaMetrics {
    /// Registers the counter.
    pub fn new(metrics: &service_kit::metrics::Metrics) -> anyhow::Result<Self> {
        let counter = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "orders_saga_outcomes_total",
                "Orders reaching CONFIRMED or CANCELLED, by cancellation reason.",
            )
            .const_label("service", metrics.service()),
            &["outcome", "reason"],
        )?;
        Ok(Self(metrics.register(counter)?))
    }

    fn count(&self, outcome: &str, reason: &str) {
        self.0.with_label_values(&[outcome, reason]).inc();
    }
}

/// What caused a transition, for the timeline and the emitted events' causation.
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    /// Correlation id of the flow (the order id for flows started here).
    pub correlation_id: &'a str,
    /// The event that caused this, if any.
    pub event_id: Option<&'a str>,
}

/// The order fields transitions need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderHead {
    /// Order id.
    pub id: Uuid,
    /// Customer.
    pub customer_id: String,
    /// State.
    pub status: String,
    /// Total.
    pub total_amount: i64,
    /// Currency.
    pub currency: String,
    /// Contact snapshot.
    pub contact: sqlx::types::Json<Contact>,
}

/// Locks an order for a transition.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<OrderHead>, sqlx::Error> {
    sqlx::query_as(
        "select id, customer_id, status, total_amount, currency, contact from orders where id = $1 for update",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
}

/// Appends a step to an order's timeline, stamped with the time it was written
/// (`clock_timestamp()`, not the transaction's start), so a step's time is when it happened.
pub async fn record(
    tx: &mut PgConnection,
    id: Uuid,
    step: &str,
    status: &str,
    detail: Value,
    event_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into order_timeline (order_id, step, status, detail, event_id, at) \
         values ($1, $2, $3, $4, $5, clock_timestamp())",
    )
    .bind(id)
    .bind(step)
    .bind(status)
    .bind(sqlx::types::Json(detail))
    .bind(event_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn set_status(
    tx: &mut PgConnection,
    id: Uuid,
    status: &str,
    cancel_reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update orders set status = $2, cancel_reason = $3, updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(cancel_reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn to_sqlx(err: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Protocol(err.to_string())
}

async fn emit<T: Event + serde::Serialize>(
    tx: &mut PgConnection,
    order: &OrderHead,
    cause: Cause<'_>,
    data: T,
) -> Result<(), sqlx::Error> {
    let envelope = Envelope::new(SOURCE, cause.correlation_id, cause.event_id, data);
    enqueue(tx, &envelope, &order.id.to_string())
        .await
        .map_err(to_sqlx)
}

/// Cancels an in-flight order with `reason` (emitting `order.cancelled`). Returns false when
/// the order was already past the point where it could be cancelled.
pub async fn cancel(
    tx: &mut PgConnection,
    metrics: &SagaMetrics,
    order: &OrderHead,
    reason: &str,
    detail: Value,
    cause: Cause<'_>,
) -> Result<bool, sqlx::Error> {
    if !status::IN_FLIGHT.contains(&order.status.as_str()) {
        return Ok(false);
    }
    set_status(tx, order.id, status::CANCELLED, Some(reason)).await?;
    let mut detail = detail;
    if let Value::Object(map) = &mut detail {
        map.insert("reason".into(), json!(reason));
    }
    record(
        tx,
        order.id,
        "cancelled",
        status::CANCELLED,
        detail,
        cause.event_id,
    )
    .await?;
    let cancelled = OrderCancelled {
        order_id: order.id.to_string(),
        customer_id: order.customer_id.clone(),
        reason: reason.to_owned(),
        contact: order.contact.0.clone(),
    };
    emit(tx, order, cause, cancelled).await?;
    metrics.count("cancelled", reason);
    Ok(true)
}

async fn confirm(
    tx: &mut PgConnection,
    metrics: &SagaMetrics,
    order: &OrderHead,
    payment: &PaymentAuthorized,
    cause: Cause<'_>,
) -> Result<(), sqlx::Error> {
    // One statement: the order confirmed with its payment, and both steps on the timeline.
    sqlx::query(
        "with confirmed as ( \
           update orders set payment_id = $2, status = 'CONFIRMED', cancel_reason = null, \
             updated_at = now() where id = $1) \
         insert into order_timeline (order_id, step, status, detail, event_id, at) values \
           ($1, 'payment_authorized', 'PAID', $3, $4, clock_timestamp()), \
           ($1, 'confirmed', 'CONFIRMED', '{}', $4, clock_timestamp())",
    )
    .bind(order.id)
    .bind(&payment.payment_id)
    .bind(sqlx::types::Json(json!({"payment_id": payment.payment_id, "amount": payment.amount.amount, "currency": payment.amount.currency})))
    .bind(cause.event_id)
    .execute(&mut *tx)
    .await?;
    let confirmed = OrderConfirmed {
        order_id: order.id.to_string(),
        customer_id: order.customer_id.clone(),
        total: Amount {
            amount: order.total_amount,
            currency: order.currency.clone(),
        },
        contact: order.contact.0.clone(),
    };
    emit(tx, order, cause, confirmed).await?;
    metrics.count("confirmed", "");
    Ok(())
}

/// Marks a confirmed order shipped (`order.shipped`). `None` when the order is not CONFIRMED.
pub async fn ship(
    tx: &mut PgConnection,
    order: &OrderHead,
    carrier: Option<&str>,
    tracking_number: Option<&str>,
    actor: &str,
) -> Result<bool, sqlx::Error> {
    if order.status != status::CONFIRMED {
        return Ok(false);
    }
    sqlx::query(
        "update orders set status = 'SHIPPED', carrier = $2, tracking_number = $3, updated_at = now() where id = $1",
    )
    .bind(order.id)
    .bind(carrier)
    .bind(tracking_number)
    .execute(&mut *tx)
    .await?;
    record(
        tx,
        order.id,
        "shipped",
        status::SHIPPED,
        json!({"carrier": carrier, "tracking_number": tracking_number, "by": actor}),
        None,
    )
    .await?;
    let shipped = OrderShipped {
        order_id: order.id.to_string(),
        customer_id: order.customer_id.clone(),
        carrier: carrier.map(str::to_owned),
        tracking_number: tracking_number.map(str::to_owned),
        contact: order.contact.0.clone(),
    };
    let id = order.id.to_string();
    let cause = Cause {
        correlation_id: &id,
        event_id: None,
    };
    emit(tx, order, cause, shipped).await?;
    Ok(true)
}

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
        let kind = event.attributes.event_type.as_str();
        let (id, data): (Uuid, Value) = match kind {
            InventoryReserved::TYPE => {
                let e = parse::<InventoryReserved>(event)?;
                (
                    order_id(&e.order_id)?,
                    serde_json::to_value(e).unwrap_or_default(),
                )
            }
            InventoryRejected::TYPE => {
                let e = parse::<InventoryRejected>(event)?;
                (
                    order_id(&e.order_id)?,
                    serde_json::to_value(e).unwrap_or_default(),
                )
            }
            InventoryReleased::TYPE => {
                let e = parse::<InventoryReleased>(event)?;
                (
                    order_id(&e.order_id)?,
                    serde_json::to_value(e).unwrap_or_default(),
                )
            }
            PaymentAuthorized::TYPE => {
                let e = parse::<PaymentAuthorized>(event)?;
                (
                    order_id(&e.order_id)?,
                    serde_json::to_value(e).unwrap_or_default(),
                )
            }
            PaymentFailed::TYPE => {
                let e = parse::<PaymentFailed>(event)?;
                (
                    order_id(&e.order_id)?,
                    serde_json::to_value(e).unwrap_or_default(),
                )
            }
            PaymentCaptured::TYPE => {
                let e = parse::<PaymentCaptured>(event)?;
                (
                    order_id(&e.order_id)?,
                    serde_json::to_value(e).unwrap_or_default(),
                )
            }
            PaymentRefunded::TYPE => {
                let e = parse::<PaymentRefunded>(event)?;
                (
                    order_id(&e.order_id)?,
                    serde_json::to_value(e).unwrap_or_default(),
                )
            }
            _ => return Ok(()),
        };
        let Some(order) = lock(tx, id).await.map_err(retry)? else {
            // Events about orders this service never created (another environment's, or
            // hand-made): nothing to drive, and retrying will not change that.
            tracing::warn!(order = %id, event = kind, "event about an unknown order ignored");
            return Ok(());
        };
        let state = order.status.as_str();
        let result = match kind {
            InventoryReserved::TYPE => {
                if state == status::PENDING {
                    let expires = data["expires_at"].as_str().and_then(|t| {
                        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                            .ok()
                    });
                    sqlx::query(
                        "with reserved as ( \
                           update orders set status = 'RESERVED', reservation_expires_at = $2, \
                             updated_at = now() where id = $1) \
                         insert into order_timeline (order_id, step, status, detail, event_id, at) \
                         values ($1, 'stock_reserved', 'RESERVED', $3, $4, clock_timestamp())",
                    )
                    .bind(id)
                    .bind(expires)
                    .bind(sqlx::types::Json(json!({"reservation_id": data["reservation_id"], "expires_at": data["expires_at"]})))
                    .bind(event_id)
                    .execute(&mut *tx)
                    .await
                    .map(|_| ())
                } else {
                    note(tx, &order, "stock_reserved", event_id).await
                }
            }
            InventoryRejected::TYPE => {
                if cancel(
                    tx,
                    &self.metrics,
                    &order,
                    "out_of_stock",
                    json!({"shortages": data["shortages"]}),
                    cause,
                )
                .await?
                {
                    Ok(())
                } else {
                    note(tx, &order, "stock_rejected", event_id).await
                }
            }
            InventoryReleased::TYPE => {
                let reason = data["reason"].as_str().unwrap_or_default();
                if reason == "expired"
                    && cancel(
                        tx,
                        &self.metrics,
                        &order,
                        "reservation_expired",
                        json!({}),
                        cause,
                    )
                    .await?
                {
                    Ok(())
                } else {
                    record(
                        tx,
                        id,
                        "stock_released",
                        &order.status,
                        json!({"reason": reason}),
                        event_id,
                    )
                    .await
                }
            }
            PaymentAuthorized::TYPE => {
                if state == status::PENDING || state == status::RESERVED {
                    let payment: PaymentAuthorized = serde_json::from_value(data)
                        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                    confirm(tx, &self.metrics, &order, &payment, cause).await
                } else {
                    // Cancelled meanwhile: payments voids on `order.cancelled`.
                    note(tx, &order, "payment_authorized", event_id).await
                }
            }
            PaymentFailed::TYPE => {
                let why = match data["reason"].as_str() {
                    Some("timeout") => "payment_timeout",
                    Some("declined") => "payment_declined",
                    _ => "payment_failed",
                };
                if cancel(
                    tx,
                    &self.metrics,
                    &order,
                    why,
                    json!({"payment_id": data["payment_id"]}),
                    cause,
                )
                .await?
                {
                    Ok(())
                } else {
                    note(tx, &order, "payment_failed", event_id).await
                }
            }
            PaymentCaptured::TYPE => {
                record(
                    tx,
                    id,
                    "payment_captured",
                    &order.status,
                    json!({"payment_id": data["payment_id"], "amount": data["amount"]}),
                    event_id,
                )
                .await
            }
            PaymentRefunded::TYPE => {
                record(
                    tx,
                    id,
                    "payment_refunded",
                    &order.status,
                    json!({"refund_id": data["refund_id"], "amount": data["amount"]}),
                    event_id,
                )
                .await
            }
            _ => Ok(()),
        };
        result.map_err(retry)
    }
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
        &order.status,
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

/// Cancels orders stuck in flight for longer than `timeout` (reason `timeout`) and forgets
/// idempotency keys older than a day. Returns how many orders were cancelled.
pub async fn sweep(
    pool: &PgPool,
    metrics: &SagaMetrics,
    timeout: Duration,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let seconds = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
    let stuck: Vec<Uuid> = sqlx::query_scalar(
        "select id from orders where status in ('PENDING', 'RESERVED', 'PAID') \
         and created_at < now() - make_interval(secs => $1) \
         order by created_at limit 100 for update skip locked",
    )
    .bind(seconds as f64)
    .fetch_all(&mut *tx)
    .await?;
    let mut cancelled = 0;
    for id in stuck {
        if let Some(order) = lock(&mut tx, id).await? {
            let correlation = id.to_string();
            let cause = Cause {
                correlation_id: &correlation,
                event_id: None,
            };
            let detail = json!({"after_seconds": seconds});
            if cancel(&mut tx, metrics, &order, "timeout", detail, cause).await? {
                cancelled += 1;
            }
        }
    }
    sqlx::query("delete from idempotency_keys where created_at < now() - interval '24 hours'")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(cancelled)
}
