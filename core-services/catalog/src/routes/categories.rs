//! The category tree.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use service_kit::ApiError;

use crate::AppState;
use crate::domain::category::{CategoryNode, build_tree};

/// The public category routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/categories", get(list_categories))
}

/// Every category as a tree.
#[utoipa::path(get, path = "/categories", tag = "categories",
    responses((status = 200, description = "The category tree", body = Vec<CategoryNode>)))]
pub async fn list_categories(
    State(state): State<AppState>,
) -> Result<Json<Vec<CategoryNode>>, ApiError> {
    Ok(Json(build_tree(&state.store.categories().await?)))
}
