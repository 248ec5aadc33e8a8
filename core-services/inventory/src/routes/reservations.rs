//! Reservations in flight.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use service_kit::extract::ApiQuery;
use service_kit::identity::Admin;
use utoipa::ToSchema;

use super::{decode_cursor, encode_cursor, limit};
use crate::AppState;
use crate::store::{self};

/// The reservation route.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/inventory/reservations", get(list_reservations))
}

/// Paging of reservations.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReservationQuery {
    /// Page size, 1 to 200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A page of reservations in flight (held, not yet committed or released), one row per line.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationPage {
    /// Lines, by order id and SKU.
    pub items: Vec<store::HeldLine>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// Reservations in flight (held, not yet committed or released), by order id and SKU.
#[utoipa::path(get, path = "/admin/inventory/reservations", tag = "admin", params(ReservationQuery),
    responses((status = 200, description = "Reservations", body = ReservationPage)))]
pub async fn list_reservations(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ReservationQuery>,
) -> Result<Json<ReservationPage>, ApiError> {
    let limit = limit(query.limit)?;
    let after = match query.cursor.as_deref().map(decode_cursor).transpose()? {
        None => None,
        Some(key) => {
            let (order, sku) = key
                .split_once('|')
                .ok_or_else(|| ApiError::bad_field("cursor", "not a cursor this API handed out"))?;
            Some((order.to_owned(), sku.to_owned()))
        }
    };
    let rows = store::held(&state.pool, after.as_ref(), limit + 1).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let items: Vec<store::HeldLine> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    let next_cursor = more
        .then(|| {
            items
                .last()
                .map(|r| encode_cursor(&format!("{}|{}", r.order_id, r.sku)))
        })
        .flatten();
    Ok(Json(ReservationPage { items, next_cursor }))
}
