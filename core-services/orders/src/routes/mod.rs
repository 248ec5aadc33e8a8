//! HTTP routes, one module per feature: [`cart`], [`checkout`], the caller's [`orders`] and the
//! back office ([`admin`]).

pub mod admin;
pub mod cart;
pub mod checkout;
pub mod orders;

use axum::Router;

use crate::AppState;

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(cart::router())
        .merge(checkout::router())
        .merge(orders::router())
        .merge(admin::router())
        .with_state(state)
}
