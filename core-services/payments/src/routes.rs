//! HTTP: payment administration (ledger, refunds, reconciliation with the provider) and the
//! provider's signed webhook events.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_kit::extract::{ApiJson, ApiQuery};
use service_kit::identity::Admin;
use service_kit::window::Window;
use service_kit::{ApiError, FieldError};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::domain::PaymentStatus;
use crate::flow::{self, Refund};
use crate::reconcile::{self, Report};
use crate::signature;
use crate::store::{self, Balance, LedgerEntry, Payment};
use crate::webhooks;

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/admin/payments", get(list_payments))
        .route("/admin/payments/summary", get(summary))
        .route("/admin/payments/reconciliation", get(reconciliation))
        .route("/admin/payments/{order_id}", get(payment_detail))
        .route("/admin/payments/{order_id}/refunds", post(create_refund))
        .route("/internal/psp/callback", post(psp_callback))
        .with_state(state)
}

/// A payment with its ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentDetail {
    /// The payment.
    #[serde(flatten)]
    pub payment: Payment,
    /// Every money movement, oldest first.
    pub ledger: Vec<LedgerEntry>,
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
    Path(order_id): Path<String>,
) -> Result<Json<PaymentDetail>, ApiError> {
    let payment = store::by_order(&state.pool, &order_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no payment for this order".into()))?;
    let mut conn = state.pool.acquire().await?;
    let ledger = store::entries(&mut conn, payment.id).await?;
    let balance = store::balance(&ledger);
    Ok(Json(PaymentDetail {
        payment,
        ledger,
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
    pub items: Vec<Payment>,
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
    Ok(Json(PaymentPage { items, next_cursor }))
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
              (status = 422, description = "`to` not after `from`, or more than 366 days later", body = service_kit::Problem, content_type = "application/problem+json")))]
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

/// Compares our payments and ledger with the provider's PaymentIntents created in a window,
/// and lists every difference (none when the two agree).
#[utoipa::path(get, path = "/admin/payments/reconciliation", tag = "admin", params(Window),
    responses((status = 200, description = "The comparison", body = Report),
              (status = 422, description = "`to` not after `from`, or more than 366 days later", body = service_kit::Problem, content_type = "application/problem+json"),
              (status = 503, description = "The provider could not be read", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn reconciliation(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<Report>, ApiError> {
    let window = window.validated()?;
    Ok(Json(
        reconcile::reconcile(&state.pool, &state.provider, window.from, window.to).await?,
    ))
}

/// A refund request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// Minor units, at most what was captured and not yet refunded; absent refunds all of
    /// that.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    pub amount: Option<i64>,
    /// Why (kept with the refund), 1 to 200 characters.
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub reason: String,
}

/// Refunds a captured payment, fully or partly (`payment.refunded`). An `Idempotency-Key`
/// header makes retries safe.
#[utoipa::path(post, path = "/admin/payments/{order_id}/refunds", tag = "admin", request_body = RefundInput,
    params(("order_id" = String, Path, description = "Order id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, description = "Refunded", body = Refund),
              (status = 200, description = "Already refunded with this key", body = Refund),
              (status = 409, description = "Not captured", body = service_kit::Problem, content_type = "application/problem+json"),
              (status = 422, description = "Amount out of range", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn create_refund(
    Admin(admin): Admin,
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<RefundInput>,
) -> Result<Response, ApiError> {
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::Validation(vec![FieldError::new(
            "reason",
            "must be 1 to 200 characters",
        )]));
    }
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::trim).unwrap_or_default())
        .map(|k| {
            if k.is_empty() || k.len() > 255 {
                Err(ApiError::bad_field(
                    "Idempotency-Key",
                    "must be 1 to 255 visible ASCII characters",
                ))
            } else {
                Ok(k)
            }
        })
        .transpose()?;
    let (created, refund) = flow::refund(
        &state.pool,
        &state.provider,
        &order_id,
        input.amount,
        reason,
        key,
        &admin.subject,
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(refund)).into_response())
}

/// A Stripe webhook event, signed with `Stripe-Signature`. Not routed through the gateway: the
/// simulator posts here locally. In AWS the psp-webhook function receives the events and queues
/// them on SQS instead, and [`crate::callbacks`] applies them the same way.
pub async fn psp_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let header = headers
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::Unauthorized("missing Stripe-Signature".into()))?;
    webhooks::receive(
        &state.pool,
        &state.provider,
        &state.webhook_secrets,
        header,
        &body,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
