//! HTTP routes: authentication, the account flows, the caller's own profile, public keys.

pub mod account;
pub mod auth;
pub mod me;

use axum::Router;

use crate::AppState;

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(account::router())
        .merge(auth::router())
        .merge(me::router())
        .with_state(state)
}
