//! HTTP routes, one module per feature: the back office's [`payments`], [`refunds`] and
//! [`reconciliation`], and the [`provider`]'s callbacks.

pub mod payments;
pub mod provider;
pub mod reconciliation;
pub mod refunds;

use axum::Router;

use crate::AppState;

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(payments::router())
        .merge(refunds::router())
        .merge(reconciliation::router())
        .merge(provider::router())
        .with_state(state)
}
