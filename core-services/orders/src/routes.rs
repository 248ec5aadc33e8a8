//! HTTP: the cart, checkout, a shopper's orders, and order administration.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use service_kit::extract::{ApiJson, ApiPath, ApiQuery, parse_json};
use service_kit::identity::{Admin, Identity, ROLE_ADMIN};
use service_kit::sku::Sku;
use service_kit::window::Window;
use service_kit::{ApiError, FieldError};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::cart::{Cart, CartLine, MAX_QUANTITY, Price};
use crate::checkout::{self, CheckoutAccepted, CheckoutInput, Claim};
use crate::domain::{Decision, Input, OrderId, OrderStatus};
use crate::saga::{self, Cause};
use crate::store::{self, Order, OrderFilter, OrderPage};

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/cart", get(get_cart).delete(clear_cart))
        .route("/cart/lines/{sku}", put(set_line).delete(remove_line))
        .route("/checkout", post(checkout))
        .route("/orders", get(my_orders))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/cancel", post(cancel_order))
        .route("/admin/orders", get(admin_orders))
        .route("/admin/orders/summary", get(admin_summary))
        .route("/admin/orders/{id}", get(admin_order))
        .route("/admin/orders/{id}/ship", post(ship_order))
        .route("/admin/orders/{id}/cancel", post(admin_cancel_order))
        .with_state(state)
}

/// The caller's cart.
#[utoipa::path(get, path = "/cart", tag = "cart", responses((status = 200, description = "Cart", body = Cart)))]
pub async fn get_cart(
    identity: Identity,
    State(state): State<AppState>,
) -> Result<Json<Cart>, ApiError> {
    state.carts.get(&identity.subject).await.map(Json)
}

/// Empties the cart.
#[utoipa::path(delete, path = "/cart", tag = "cart", responses((status = 200, description = "Cart", body = Cart)))]
pub async fn clear_cart(
    identity: Identity,
    State(state): State<AppState>,
) -> Result<Json<Cart>, ApiError> {
    state.carts.remove(&identity.subject, None).await.map(Json)
}

/// A line's new quantity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    /// Units, 1 to 100.
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: i32,
}

/// Puts `quantity` units of a SKU in the cart. A SKU new to the cart is looked up in catalog
/// and its current price recorded; a SKU already there keeps its recorded price.
#[utoipa::path(put, path = "/cart/lines/{sku}", tag = "cart", request_body = LineInput,
    params(("sku" = String, Path, description = "SKU")),
    responses((status = 200, description = "Cart", body = Cart),
              (status = 422, description = "Unknown or unsold product, bad quantity, mixed currencies", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn set_line(
    identity: Identity,
    State(state): State<AppState>,
    ApiPath(sku): ApiPath<Sku>,
    ApiJson(input): ApiJson<LineInput>,
) -> Result<Json<Cart>, ApiError> {
    if !(1..=MAX_QUANTITY).contains(&input.quantity) {
        return Err(ApiError::invalid_field(
            "quantity",
            format!("must be 1 to {MAX_QUANTITY}"),
        ));
    }
    if let Some(cart) = state
        .carts
        .update_quantity(&identity.subject, sku.as_str(), input.quantity)
        .await?
    {
        return Ok(Json(cart));
    }
    let product = state
        .upstream
        .product(&identity, sku.as_str())
        .await?
        .filter(|p| p.active)
        .ok_or_else(|| ApiError::invalid_field("sku", "no product with this SKU is for sale"))?;
    let unit_price = Price {
        amount: product.price.amount,
        currency: product.price.currency,
    };
    let line = CartLine {
        sku: product.sku,
        product_id: product.id,
        name: product.name,
        quantity: input.quantity,
        line_total: Price {
            amount: unit_price.amount.saturating_mul(i64::from(input.quantity)),
            currency: unit_price.currency.clone(),
        },
        unit_price,
    };
    state
        .carts
        .set_line(&identity.subject, &line)
        .await
        .map(Json)
}

/// Removes a SKU from the cart.
#[utoipa::path(delete, path = "/cart/lines/{sku}", tag = "cart", params(("sku" = String, Path, description = "SKU")),
    responses((status = 200, description = "Cart", body = Cart)))]
pub async fn remove_line(
    identity: Identity,
    State(state): State<AppState>,
    ApiPath(sku): ApiPath<Sku>,
) -> Result<Json<Cart>, ApiError> {
    state
        .carts
        .remove(&identity.subject, Some(sku.as_str()))
        .await
        .map(Json)
}

fn accepted(code: u16, body: Value, replayed: bool) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::ACCEPTED);
    let location = body["order_id"]
        .as_str()
        .and_then(|id| HeaderValue::from_str(&format!("/orders/{id}")).ok());
    let mut response = (status, Json(body)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Turns the cart into an order (PENDING) and answers 202 with its id; the outcome follows
/// on `GET /orders/{id}`. Needs an `Idempotency-Key`.
#[utoipa::path(post, path = "/checkout", tag = "checkout", request_body = CheckoutInput,
    params(("Idempotency-Key" = String, Header, description = "A fresh key (e.g. a UUID) per purchase; retries reuse it")),
    responses((status = 202, description = "Order placed; follow Location", body = CheckoutAccepted),
              (status = 400, description = "Missing or malformed Idempotency-Key", body = service_kit::Problem, content_type = "application/problem+json"),
              (status = 409, description = "Same key still in progress, or the cart needs review", body = service_kit::Problem, content_type = "application/problem+json"),
              (status = 422, description = "Empty cart, bad payment method, or key reused with another body", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn checkout(
    identity: Identity,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let key = checkout::key(&headers)?;
    let input: CheckoutInput = parse_json(&serde_json::to_vec(&body).unwrap_or_default())?;
    let hash = checkout::fingerprint(&body);
    match checkout::checkout(
        &state.pool,
        &state.carts,
        &state.upstream,
        &identity,
        &key,
        &hash,
        &input,
    )
    .await?
    {
        Claim::Replay(code, body) => Ok(accepted(code, body, true)),
        Claim::Fresh(code, body) => Ok(accepted(code, body, false)),
    }
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

fn page(limit: Option<i64>, cursor: Option<&str>) -> Result<(i64, Option<Uuid>), ApiError> {
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

async fn cancel_with(
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
              (status = 422, description = "`to` not after `from`, or more than 366 days later", body = service_kit::Problem, content_type = "application/problem+json")))]
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
