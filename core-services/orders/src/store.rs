//! Reading orders: one order with its lines and timeline, and keyset-paged lists.

use serde::Serialize;
use serde_json::Value;
use service_kit::ApiError;
use service_kit::money::Money;
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::OrderStatus;

/// One line of an order.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct OrderLineView {
    /// SKU.
    pub sku: String,
    /// Catalog product id.
    pub product_id: Uuid,
    /// Product name at checkout.
    pub name: String,
    /// Units.
    pub quantity: i32,
    /// Unit price in minor units.
    pub unit_amount: i64,
}

/// One step of the saga.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TimelineStep {
    /// What happened (`placed`, `stock_reserved`, `payment_authorized`, `confirmed`, ...).
    pub step: String,
    /// The order state after this step.
    pub status: String,
    /// Details of the step.
    #[schema(value_type = Object)]
    pub detail: sqlx::types::Json<Value>,
    /// The event behind the step, if any.
    pub event_id: Option<String>,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// An order in a list.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct OrderSummary {
    /// Order id.
    pub id: Uuid,
    /// Customer (user id).
    pub customer_id: String,
    /// Where the order is.
    pub status: OrderStatus,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Total in minor units.
    pub total_amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Placed at (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last change (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// An order with its lines and timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    /// Summary fields.
    #[serde(flatten)]
    pub summary: OrderSummary,
    /// Total.
    pub total: Money,
    /// Lines.
    pub lines: Vec<OrderLineView>,
    /// Contact snapshot taken at checkout (used for notifications).
    #[schema(value_type = Object)]
    pub contact: sqlx::types::Json<Value>,
    /// Payment id once authorized.
    pub payment_id: Option<String>,
    /// Carrier once shipped.
    pub carrier: Option<String>,
    /// Tracking number once shipped.
    pub tracking_number: Option<String>,
    /// The saga, step by step.
    pub timeline: Vec<TimelineStep>,
}

/// A page of orders.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderPage {
    /// Orders, newest first.
    pub items: Vec<OrderSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of an order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only this customer's orders.
    pub customer_id: Option<String>,
    /// Only orders in this state.
    pub status: Option<String>,
    /// Placed at or after.
    pub from: Option<OffsetDateTime>,
    /// Placed before.
    pub to: Option<OffsetDateTime>,
    /// Orders older than this id (keyset cursor).
    pub before: Option<Uuid>,
    /// Page size.
    pub limit: i64,
}

const SUMMARY: &str =
    "id, customer_id, status, cancel_reason, total_amount, currency, created_at, updated_at";

/// One order, if it exists.
pub async fn order(pool: &PgPool, id: Uuid) -> Result<Option<Order>, ApiError> {
    #[derive(sqlx::FromRow)]
    struct Extra {
        contact: sqlx::types::Json<Value>,
        payment_id: Option<String>,
        carrier: Option<String>,
        tracking_number: Option<String>,
    }
    let summary: Option<OrderSummary> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SUMMARY} from orders where id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(summary) = summary else {
        return Ok(None);
    };
    let extra: Extra = sqlx::query_as(
        "select contact, payment_id, carrier, tracking_number from orders where id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    let lines = sqlx::query_as(
        "select sku, product_id, name, quantity, unit_amount from order_lines where order_id = $1 order by sku",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let timeline = sqlx::query_as(
        "select step, status, detail, event_id, at from order_timeline where order_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(Order {
        total: service_kit::db::money(summary.total_amount, &summary.currency)?,
        summary,
        lines,
        contact: extra.contact,
        payment_id: extra.payment_id,
        carrier: extra.carrier,
        tracking_number: extra.tracking_number,
        timeline,
    }))
}

/// Orders matching `filter`, newest first.
pub async fn list(pool: &PgPool, filter: &OrderFilter) -> Result<OrderPage, ApiError> {
    let rows: Vec<OrderSummary> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SUMMARY} from orders \
         where ($1::text is null or customer_id = $1) \
           and ($2::text is null or status = $2) \
           and ($3::timestamptz is null or created_at >= $3) \
           and ($4::timestamptz is null or created_at < $4) \
           and ($5::uuid is null or id < $5) \
         order by id desc limit $6"
    )))
    .bind(&filter.customer_id)
    .bind(&filter.status)
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.before)
    .bind(filter.limit + 1)
    .fetch_all(pool)
    .await?;
    let mut items = rows;
    let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|o| o.id.to_string())
    } else {
        None
    };
    Ok(OrderPage { items, next_cursor })
}

/// Money per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Revenue {
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
}

/// A count per label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatusCount {
    /// State.
    pub status: String,
    /// Orders.
    pub count: i64,
}

/// A count per cancellation reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReasonCount {
    /// Reason.
    pub reason: String,
    /// Orders.
    pub count: i64,
}

/// Orders placed in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Orders placed.
    pub orders_placed: i64,
    /// Revenue of the confirmed and shipped ones, per currency.
    pub revenue: Vec<Revenue>,
    /// Orders per current state.
    pub by_status: Vec<StatusCount>,
    /// Cancelled orders per reason.
    pub cancellations: Vec<ReasonCount>,
}

/// The summary of orders placed in `[from, to)`.
pub async fn summary(
    pool: &PgPool,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Summary, sqlx::Error> {
    let by_status: Vec<(String, i64)> = sqlx::query_as(
        "select status, count(*) from orders where created_at >= $1 and created_at < $2 \
         group by status order by status",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let revenue: Vec<(String, i64)> = sqlx::query_as(
        "select currency, sum(total_amount)::bigint from orders \
         where created_at >= $1 and created_at < $2 and status in ('CONFIRMED', 'SHIPPED') \
         group by currency order by currency",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let cancellations: Vec<(String, i64)> = sqlx::query_as(
        "select cancel_reason, count(*) from orders \
         where created_at >= $1 and created_at < $2 and status = 'CANCELLED' \
         group by cancel_reason order by count(*) desc, cancel_reason",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(Summary {
        orders_placed: by_status.iter().map(|(_, n)| n).sum(),
        revenue: revenue
            .into_iter()
            .map(|(currency, amount)| Revenue { amount, currency })
            .collect(),
        by_status: by_status
            .into_iter()
            .map(|(status, count)| StatusCount { status, count })
            .collect(),
        cancellations: cancellations
            .into_iter()
            .map(|(reason, count)| ReasonCount { reason, count })
            .collect(),
    })
}
