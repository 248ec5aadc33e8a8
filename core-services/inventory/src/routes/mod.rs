//! HTTP routes, one module per feature: public [`availability`] for product pages, and the
//! back office's [`stock`] and [`reservations`].

pub mod availability;
pub mod reservations;
pub mod stock;

use axum::Router;
use service_kit::ApiError;

use crate::AppState;

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(availability::router())
        .merge(stock::router())
        .merge(reservations::router())
        .with_state(state)
}

// Paging shared by the stock list and the reservation list.

/// A page size: 50 by default, 1 to 200.
fn limit(raw: Option<i64>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_field("limit", "must be between 1 and 200")),
    }
}

/// A cursor handed out by [`encode_cursor`].
fn decode_cursor(raw: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_field("cursor", "not a cursor this API handed out"))
}

/// The opaque cursor of a list key.
fn encode_cursor(key: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}
