//! The back office: every order, summaries, shipping and cancelling on behalf of the shop.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use service_kit::extract::{ApiJson, ApiPath, ApiQuery};
use service_kit::identity::Admin;
use service_kit::window::Window;
use service_kit::{ApiError, FieldError};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::orders::{cancel_with, page};
use crate::AppState;
use crate::domain::{Input, OrderId, OrderStatus};
use crate::saga::{self};
use crate::store::{self, Order, OrderFilter, OrderPage};

/// The back office's order routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/orders", get(admin_orders))
        .route("/admin/orders/summary", get(admin_summary))
        .route("/admin/orders/{id}", get(admin_order))
        .route("/admin/orders/{id}/ship", post(ship_order))
        .route("/admin/orders/{id}/cancel", post(admin_cancel_order))
}

/// Cancels an order still in flight (PENDING, RESERVED or PAID) on behalf of the shop.
#[utoipa::path(post, path = "/admin/orders/{id}/cancel", tag = "admin", params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "Cancelled", body = Order),
              (status = 409, description = "Already decided", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn admin_cancel_order(
    Admin(admin): Admin,
    State(state): State<AppState>,
    ApiPath(OrderId(id)): ApiPath<OrderId>,
) -> Result<Json<Order>, ApiError> {
    cancel_with(&state, id, None, Input::ShopCancels, &admin.subject).await
}

/// Filters of the admin order list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminOrdersQuery {
    /// Only this state.
    #[serde(default)]
    pub status: Option<String>,
    /// Only this customer (user id).
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Placed at or after (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub from: Option<OffsetDateTime>,
    /// Placed before (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub to: Option<OffsetDateTime>,
    /// Page size (1 to 100, default 20).
    #[serde(default)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Every order, filtered by state, customer and date, newest first.
#[utoipa::path(get, path = "/admin/orders", tag = "admin",
    params(("status" = Option<String>, Query, description = "State"), ("customer_id" = Option<String>, Query, description = "Customer"),
           ("from" = Option<String>, Query, description = "RFC 3339"), ("to" = Option<String>, Query, description = "RFC 3339"),
           ("limit" = Option<i64>, Query, description = "1 to 100"), ("cursor" = Option<String>, Query, description = "From the previous page")),
    responses((status = 200, description = "Orders", body = OrderPage)))]
pub async fn admin_orders(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AdminOrdersQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let (limit, before) = page(query.limit, query.cursor.as_deref())?;
    if let Some(s) = &query.status
        && s.parse::<OrderStatus>().is_err()
    {
        let states: Vec<&str> = OrderStatus::ALL.map(OrderStatus::as_str).to_vec();
        return Err(ApiError::bad_field(
            "status",
            format!("one of {}", states.join(", ")),
        ));
    }
    let filter = OrderFilter {
        customer_id: query.customer_id,
        status: query.status,
        from: query.from,
        to: query.to,
        before,
        limit,
    };
    store::list(&state.pool, &filter).await.map(Json)
}

/// Orders placed in a window: how many, revenue per currency (confirmed and shipped orders),
/// counts per state and cancellations per reason.
#[utoipa::path(get, path = "/admin/orders/summary", tag = "admin", params(Window),
    responses((status = 200, description = "Summary", body = store::Summary),
              service_kit::openapi::responses::WindowRefused))]
pub async fn admin_summary(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<store::Summary>, ApiError> {
    let window = window.validated()?;
    Ok(Json(
        store::summary(&state.pool, window.from, window.to).await?,
    ))
}

/// Any order, for the back office.
#[utoipa::path(get, path = "/admin/orders/{id}", tag = "admin", params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "Order", body = Order)))]
pub async fn admin_order(
    _admin: Admin,
    State(state): State<AppState>,
    ApiPath(OrderId(id)): ApiPath<OrderId>,
) -> Result<Json<Order>, ApiError> {
    store::order(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("no such order".into()))
}

/// Shipment details.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Shipment {
    /// Carrier name, 1 to 100 characters.
    #[serde(default)]
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub carrier: Option<String>,
    /// Tracking number, 1 to 100 characters.
    #[serde(default)]
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub tracking_number: Option<String>,
}

/// Marks a CONFIRMED order shipped (`order.shipped`).
#[utoipa::path(post, path = "/admin/orders/{id}/ship", tag = "admin", request_body = Shipment,
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "Shipped", body = Order),
              (status = 409, description = "Not CONFIRMED", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn ship_order(
    Admin(admin): Admin,
    State(state): State<AppState>,
    ApiPath(OrderId(id)): ApiPath<OrderId>,
    ApiJson(shipment): ApiJson<Shipment>,
) -> Result<Json<Order>, ApiError> {
    let mut errors = Vec::new();
    for (field, value) in [
        ("carrier", &shipment.carrier),
        ("tracking_number", &shipment.tracking_number),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.trim().is_empty() || v.chars().count() > 100)
        {
            errors.push(FieldError::new(field, "must be 1 to 100 characters"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.pool.begin().await?;
    let order = saga::lock(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such order".into()))?;
    if !saga::ship(
        &mut tx,
        &order,
        shipment.carrier.as_deref(),
        shipment.tracking_number.as_deref(),
        &admin.subject,
    )
    .await?
    {
        return Err(ApiError::Conflict(format!(
            "only CONFIRMED orders can be shipped; this one is {}",
            order.status
        )));
    }
    tx.commit().await?;
    store::order(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("no such order".into()))
}
