//! The caller's orders: list, read, cancel while PENDING.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use service_kit::ApiError;
use service_kit::extract::{ApiPath, ApiQuery};
use service_kit::identity::{Identity, ROLE_ADMIN};
use uuid::Uuid;

use crate::AppState;
use crate::domain::{Decision, Input, OrderId};
use crate::saga::{self, Cause};
use crate::store::{self, Order, OrderFilter, OrderPage};

/// The caller's order routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", get(my_orders))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/cancel", post(cancel_order))
}

/// Paging of order lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyOrdersQuery {
    /// Page size (1 to 100, default 20).
    #[serde(default)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A page size (1 to 100, default 20) and the cursor's order id.
pub(super) fn page(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(i64, Option<Uuid>), ApiError> {
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_field("limit", "must be 1 to 100"));
    }
    let before = cursor
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| ApiError::bad_field("cursor", "not a cursor from a previous page"))
        })
        .transpose()?;
    Ok((limit, before))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "orders",
    params(("limit" = Option<i64>, Query, description = "1 to 100"), ("cursor" = Option<String>, Query, description = "From the previous page")),
    responses((status = 200, description = "Orders", body = OrderPage)))]
pub async fn my_orders(
    identity: Identity,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<MyOrdersQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let (limit, before) = page(query.limit, query.cursor.as_deref())?;
    let filter = OrderFilter {
        customer_id: Some(identity.subject),
        before,
        limit,
        ..OrderFilter::default()
    };
    store::list(&state.pool, &filter).await.map(Json)
}

/// An order with its saga timeline: the owner's or, for admins, anyone's.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "Order", body = Order),
              (status = 404, description = "No such order visible to the caller", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn get_order(
    identity: Identity,
    State(state): State<AppState>,
    ApiPath(OrderId(id)): ApiPath<OrderId>,
) -> Result<Json<Order>, ApiError> {
    store::order(&state.pool, id)
        .await?
        .filter(|o| o.summary.customer_id == identity.subject || identity.has_role(ROLE_ADMIN))
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("no such order".into()))
}

/// Cancels order `id` as `request` asks (the customer's or the shop's), when the domain allows
/// it; 409 otherwise.
pub(super) async fn cancel_with(
    state: &AppState,
    id: Uuid,
    owner: Option<&str>,
    request: Input,
    actor: &str,
) -> Result<Json<Order>, ApiError> {
    let mut tx = state.pool.begin().await?;
    let order = saga::lock(&mut tx, id)
        .await?
        .filter(|o| owner.is_none_or(|c| c == o.customer_id))
        .ok_or_else(|| ApiError::NotFound("no such order".into()))?;
    let Decision::Cancel(reason) = crate::domain::decide(order.status, request) else {
        return Err(ApiError::Conflict(format!(
            "an order that is {} cannot be cancelled here",
            order.status
        )));
    };
    let correlation = id.to_string();
    let cause = Cause {
        correlation_id: &correlation,
        event_id: None,
    };
    saga::cancel(
        &mut tx,
        &state.saga_metrics,
        &order,
        reason,
        json!({"by": actor}),
        cause,
    )
    .await?;
    tx.commit().await?;
    store::order(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("no such order".into()))
}

/// Cancels the caller's order while it is still PENDING.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, description = "Cancelled", body = Order),
              (status = 409, description = "Past PENDING", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn cancel_order(
    identity: Identity,
    State(state): State<AppState>,
    ApiPath(OrderId(id)): ApiPath<OrderId>,
) -> Result<Json<Order>, ApiError> {
    cancel_with(
        &state,
        id,
        Some(&identity.subject),
        Input::CustomerCancels,
        &identity.subject,
    )
    .await
}
