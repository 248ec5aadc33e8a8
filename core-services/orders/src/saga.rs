//! The order saga: the state machine of [`crate::domain`] applied to PostgreSQL.
//!
//! The consumer ([`crate::consumer`]), the routes and the sweeper ask [`decide`] what an input
//! does to an order, and this module carries the decision out. Every transition locks the order row, checks the current state and appends a timeline step
//! in the same transaction as the events it emits (`order.confirmed`, `order.cancelled`,
//! `order.shipped`), so each order reaches exactly one terminal state whatever the order or
//! repetition of deliveries. Compensation is done by the other services on `order.cancelled`:
//! inventory releases the stock, payments voids the authorization.

use std::time::Duration;

use events::Event;
use events::payloads::{Contact, OrderCancelled, OrderConfirmed, OrderShipped, PaymentAuthorized};
use serde_json::{Value, json};
use service_kit::messaging::enqueue_caused;
use service_kit::money::Money;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{CancelReason, Decision, Input, OrderStatus, decide};

/// The `source` of every event this service emits.
pub const SOURCE: &str = "/orders";

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
pub use service_kit::messaging::Cause;

/// The order fields transitions need.
#[derive(Debug, Clone)]
pub struct OrderHead {
    /// Order id.
    pub id: Uuid,
    /// Customer.
    pub customer_id: String,
    /// State.
    pub status: OrderStatus,
    /// Total (columns `total_amount` and `currency`).
    pub total: Money,
    /// Contact snapshot.
    pub contact: sqlx::types::Json<Contact>,
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for OrderHead {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get("id")?,
            customer_id: row.try_get("customer_id")?,
            status: row.try_get("status")?,
            total: service_kit::db::money(row.try_get("total_amount")?, row.try_get("currency")?)?,
            contact: row.try_get("contact")?,
        })
    }
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
    status: OrderStatus,
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
    status: OrderStatus,
    cancel_reason: Option<CancelReason>,
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

async fn emit<T: Event + serde::Serialize>(
    tx: &mut PgConnection,
    order: &OrderHead,
    cause: Cause<'_>,
    data: T,
) -> Result<(), sqlx::Error> {
    enqueue_caused(tx, SOURCE, cause, &order.id.to_string(), data).await
}

/// Cancels an in-flight order with `reason` (emitting `order.cancelled`), as a
/// [`Decision::Cancel`] says. Returns false, changing nothing, when the order is no longer in
/// flight.
pub async fn cancel(
    tx: &mut PgConnection,
    metrics: &SagaMetrics,
    order: &OrderHead,
    reason: CancelReason,
    detail: Value,
    cause: Cause<'_>,
) -> Result<bool, sqlx::Error> {
    if !order.status.is_in_flight() {
        return Ok(false);
    }
    set_status(tx, order.id, OrderStatus::Cancelled, Some(reason)).await?;
    let mut detail = detail;
    if let Value::Object(map) = &mut detail {
        map.insert("reason".into(), json!(reason));
    }
    record(
        tx,
        order.id,
        "cancelled",
        OrderStatus::Cancelled,
        detail,
        cause.event_id,
    )
    .await?;
    let cancelled = OrderCancelled {
        order_id: order.id.to_string(),
        customer_id: order.customer_id.clone(),
        reason: reason.as_str().to_owned(),
        contact: order.contact.0.clone(),
    };
    emit(tx, order, cause, cancelled).await?;
    metrics.count("cancelled", reason.as_str());
    Ok(true)
}

pub(crate) async fn confirm(
    tx: &mut PgConnection,
    metrics: &SagaMetrics,
    order: &OrderHead,
    payment: &PaymentAuthorized,
    cause: Cause<'_>,
) -> Result<(), sqlx::Error> {
    // One statement: the order confirmed with its payment, and both steps on the timeline.
    sqlx::query(
        "with confirmed as ( \
           update orders set payment_id = $2, status = $6, cancel_reason = null, \
             updated_at = now() where id = $1) \
         insert into order_timeline (order_id, step, status, detail, event_id, at) values \
           ($1, 'payment_authorized', $5, $3, $4, clock_timestamp()), \
           ($1, 'confirmed', $6, '{}', $4, clock_timestamp())",
    )
    .bind(order.id)
    .bind(&payment.payment_id)
    .bind(sqlx::types::Json(json!({"payment_id": payment.payment_id, "amount": payment.amount.amount(), "currency": payment.amount.currency()})))
    .bind(cause.event_id)
    .bind(OrderStatus::Paid)
    .bind(OrderStatus::Confirmed)
    .execute(&mut *tx)
    .await?;
    let confirmed = OrderConfirmed {
        order_id: order.id.to_string(),
        customer_id: order.customer_id.clone(),
        total: order.total,
        contact: order.contact.0.clone(),
    };
    emit(tx, order, cause, confirmed).await?;
    metrics.count("confirmed", "");
    Ok(())
}

/// Marks a confirmed order shipped (`order.shipped`). False, changing nothing, when the
/// domain refuses it (the order is not CONFIRMED).
pub async fn ship(
    tx: &mut PgConnection,
    order: &OrderHead,
    carrier: Option<&str>,
    tracking_number: Option<&str>,
    actor: &str,
) -> Result<bool, sqlx::Error> {
    if decide(order.status, Input::Ship) != Decision::Ship {
        return Ok(false);
    }
    sqlx::query(
        "update orders set status = $4, carrier = $2, tracking_number = $3, updated_at = now() where id = $1",
    )
    .bind(order.id)
    .bind(carrier)
    .bind(tracking_number)
    .bind(OrderStatus::Shipped)
    .execute(&mut *tx)
    .await?;
    record(
        tx,
        order.id,
        "shipped",
        OrderStatus::Shipped,
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
        "select id from orders where status = any($2) \
         and created_at < now() - make_interval(secs => $1) \
         order by created_at limit 100 for update skip locked",
    )
    .bind(seconds as f64)
    .bind(OrderStatus::IN_FLIGHT.map(OrderStatus::as_str).as_slice())
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
            let Decision::Cancel(reason) = decide(order.status, Input::TimedOut) else {
                continue;
            };
            if cancel(&mut tx, metrics, &order, reason, detail, cause).await? {
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
