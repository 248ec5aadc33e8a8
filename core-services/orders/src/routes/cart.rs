//! The caller's cart: read, empty, set and remove lines.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use service_kit::ApiError;
use service_kit::extract::{ApiJson, ApiPath};
use service_kit::identity::Identity;
use service_kit::sku::Sku;
use utoipa::ToSchema;

use crate::AppState;
use crate::cart::{self, Cart, CartLine, MAX_QUANTITY};

/// The cart's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cart", get(get_cart).delete(clear_cart))
        .route("/cart/lines/{sku}", put(set_line).delete(remove_line))
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
    let line = CartLine {
        sku: product.sku,
        product_id: product.id,
        name: product.name,
        quantity: input.quantity,
        line_total: cart::line_total(product.price, input.quantity)?,
        unit_price: product.price,
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
