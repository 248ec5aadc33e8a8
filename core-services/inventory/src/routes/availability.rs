//! Public availability, for product pages.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use service_kit::ApiError;
use service_kit::extract::ApiPath;
use service_kit::sku::Sku;
use utoipa::ToSchema;

use crate::AppState;
use crate::store::{self};

/// The public route.
pub fn router() -> Router<AppState> {
    Router::new().route("/inventory/{sku}", get(availability))
}

/// Public availability.
#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    /// SKU.
    pub sku: String,
    /// Units that can be ordered now.
    pub available: i32,
    /// Whether at least one unit can be ordered.
    pub in_stock: bool,
}

/// Units available to order.
#[utoipa::path(get, path = "/inventory/{sku}", tag = "inventory", params(("sku" = String, Path, description = "SKU")),
    responses((status = 200, description = "Availability", body = Availability)))]
pub async fn availability(
    State(state): State<AppState>,
    ApiPath(sku): ApiPath<Sku>,
) -> Result<Json<Availability>, ApiError> {
    let available = store::level(&state.pool, sku.as_str())
        .await?
        .map_or(0, |l| l.available().max(0));
    Ok(Json(Availability {
        sku: sku.to_string(),
        available,
        in_stock: available > 0,
    }))
}
