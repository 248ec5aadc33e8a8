//! The payments of the back office: one order's payment with its ledger, the list, and the
//! money moved in a window.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use service_kit::extract::{ApiPath, ApiQuery};
use service_kit::identity::Admin;
use service_kit::window::Window;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::domain::{OrderId, PaymentStatus};
use crate::store::{self, Balance, LedgerEntry, Payment};

/// The payment routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/payments", get(list_payments))
        .route("/admin/payments/summary", get(summary))
        .route("/admin/payments/{order_id}", get(payment_detail))
}

/// A payment as the back office reads it: [`Payment`] with its amount as two fields, and
/// without the payment method, the contact or the authorization's bookkeeping.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Payment, description = "A payment row.")]
pub struct PaymentView {
    /// Payment id.
    pub id: Uuid,
    /// Order id.
    pub order_id: String,
    /// Customer (user id).
    pub customer_id: String,
    /// Amount to charge, minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Where the payment is.
    pub status: PaymentStatus,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// The provider's authorization id.
    pub psp_reference: Option<String>,
    /// Created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Last change (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<Payment> for PaymentView {
    fn from(payment: Payment) -> Self {
        Self {
            id: payment.id,
            order_id: payment.order_id,
            customer_id: payment.customer_id,
            amount: payment.amount.amount(),
            currency: payment.amount.currency().to_string(),
            status: payment.status,
            failure_reason: payment.failure_reason,
            psp_reference: payment.psp_reference,
            created_at: payment.created_at,
            updated_at: payment.updated_at,
        }
    }
}

/// A [`LedgerEntry`] as the back office reads it, its amount as two fields.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LedgerEntry, description = "One ledger entry.")]
pub struct LedgerEntryView {
    /// Entry id.
    pub id: i64,
    /// `authorization`, `capture`, `void` or `refund`.
    pub kind: String,
    /// Positive minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Provider reference.
    pub psp_reference: Option<String>,
    /// The refund, for refund entries.
    pub refund_id: Option<Uuid>,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<LedgerEntry> for LedgerEntryView {
    fn from(entry: LedgerEntry) -> Self {
        Self {
            id: entry.id,
            kind: entry.kind,
            amount: entry.amount.amount(),
            currency: entry.amount.currency().to_string(),
            psp_reference: entry.psp_reference,
            refund_id: entry.refund_id,
            created_at: entry.created_at,
        }
    }
}

/// A payment with its ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentDetail {
    /// The payment.
    #[serde(flatten)]
    pub payment: PaymentView,
    /// Every money movement, oldest first.
    pub ledger: Vec<LedgerEntryView>,
    /// The ledger summed.
    pub balance: Balance,
}

/// The payment of an order with its ledger and balance.
#[utoipa::path(get, path = "/admin/payments/{order_id}", tag = "admin", params(("order_id" = String, Path, description = "Order id")),
    responses((status = 200, description = "Payment", body = PaymentDetail),
              (status = 404, description = "No payment for this order", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn payment_detail(
    _admin: Admin,
    State(state): State<AppState>,
    ApiPath(order_id): ApiPath<OrderId>,
) -> Result<Json<PaymentDetail>, ApiError> {
    let payment = store::by_order(&state.pool, &order_id.key())
        .await?
        .ok_or_else(|| ApiError::NotFound("no payment for this order".into()))?;
    let mut conn = state.pool.acquire().await?;
    let ledger = store::entries(&mut conn, payment.id).await?;
    let balance = store::balance(&ledger).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "the ledger of payment {} does not add up: {e}",
            payment.id
        ))
    })?;
    Ok(Json(PaymentDetail {
        payment: payment.into(),
        ledger: ledger.into_iter().map(LedgerEntryView::from).collect(),
        balance,
    }))
}

/// Filters of the payment list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this state.
    #[serde(default)]
    pub status: Option<String>,
    /// Page size (1 to 100, default 20).
    #[serde(default)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A page of payments.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentPage {
    /// Newest first.
    pub items: Vec<PaymentView>,
    /// For the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Payments, newest first.
#[utoipa::path(get, path = "/admin/payments", tag = "admin",
    params(("status" = Option<String>, Query, description = "State"), ("limit" = Option<i64>, Query, description = "1 to 100"),
           ("cursor" = Option<String>, Query, description = "From the previous page")),
    responses((status = 200, description = "Payments", body = PaymentPage)))]
pub async fn list_payments(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PaymentPage>, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_field("limit", "must be 1 to 100"));
    }
    if let Some(s) = &query.status
        && s.parse::<PaymentStatus>().is_err()
    {
        let states: Vec<&str> = PaymentStatus::ALL.map(PaymentStatus::as_str).to_vec();
        return Err(ApiError::bad_field(
            "status",
            format!("one of {}", states.join(", ")),
        ));
    }
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| ApiError::bad_field("cursor", "not a cursor from a previous page"))
        })
        .transpose()?;
    let mut items = store::list(&state.pool, query.status.as_deref(), before, limit + 1).await?;
    let next_cursor = if items.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items.last().map(|p| p.id.to_string())
    } else {
        None
    };
    Ok(Json(PaymentPage {
        items: items.into_iter().map(PaymentView::from).collect(),
        next_cursor,
    }))
}

/// Money taken and given back in a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentSummary {
    /// Per currency, alphabetically.
    pub currencies: Vec<store::MoneyMoved>,
}

/// Captures and refunds booked in a window, per currency, and what the shop keeps (net). The
/// window is when money moved: a refund today of last week's order counts today.
#[utoipa::path(get, path = "/admin/payments/summary", tag = "admin", params(Window),
    responses((status = 200, description = "Money moved", body = PaymentSummary),
              service_kit::openapi::responses::WindowRefused))]
pub async fn summary(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<PaymentSummary>, ApiError> {
    let window = window.validated()?;
    Ok(Json(PaymentSummary {
        currencies: store::money_moved(&state.pool, window.from, window.to).await?,
    }))
}
