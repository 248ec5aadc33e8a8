//! Reconciliation with the payment provider.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use service_kit::ApiError;
use service_kit::extract::ApiQuery;
use service_kit::identity::Admin;
use service_kit::window::Window;

use crate::AppState;
use crate::reconcile::{self, Report};

/// The reconciliation route.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/payments/reconciliation", get(reconciliation))
}

/// Compares our payments and ledger with the provider's PaymentIntents created in a window,
/// and lists every difference (none when the two agree).
#[utoipa::path(get, path = "/admin/payments/reconciliation", tag = "admin", params(Window),
    responses((status = 200, description = "The comparison", body = Report),
              service_kit::openapi::responses::WindowRefused,
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
