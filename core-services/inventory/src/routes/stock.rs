//! Stock administration: one SKU, a count of many, the stock list.

use axum::extract::State;
use axum::routing::put;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_kit::extract::{ApiJson, ApiPath, ApiQuery};
use service_kit::identity::Admin;
use service_kit::sku::Sku;
use service_kit::{ApiError, FieldError};
use utoipa::ToSchema;

use super::{decode_cursor, encode_cursor, limit};
use crate::AppState;
use crate::store::{self, StockLevel};

/// The stock routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/inventory/{sku}", put(set_stock).get(stock_level))
        .route(
            "/admin/inventory",
            axum::routing::post(import_stock).get(list_stock),
        )
}

/// Stock of a SKU, reservations included.
#[utoipa::path(get, path = "/admin/inventory/{sku}", tag = "admin", params(("sku" = String, Path, description = "SKU")),
    responses((status = 200, description = "Stock", body = StockLevel), (status = 404, description = "Never stocked", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn stock_level(
    _admin: Admin,
    State(state): State<AppState>,
    ApiPath(sku): ApiPath<Sku>,
) -> Result<Json<StockLevel>, ApiError> {
    store::level(&state.pool, sku.as_str())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("this SKU was never stocked".into()))
}

/// A stock change: set `on_hand`, or `adjust` by a signed number of units, with a reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockChange {
    /// New units on hand (a count); give this or `adjust`.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2_147_483_647)]
    pub on_hand: Option<i32>,
    /// Units to add (restock) or remove (damage, loss).
    #[serde(default)]
    #[schema(minimum = -2_147_483_648_i64, maximum = 2_147_483_647)]
    pub adjust: Option<i32>,
    /// Why (kept with the movement), 1 to 200 characters.
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub reason: String,
    /// New low-stock threshold.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2_147_483_647)]
    pub low_threshold: Option<i32>,
}

/// Sets or adjusts stock.
#[utoipa::path(put, path = "/admin/inventory/{sku}", tag = "admin", request_body = StockChange,
    params(("sku" = String, Path, description = "SKU")),
    responses((status = 200, description = "Stock", body = StockLevel),
              (status = 409, description = "Would drop below reserved units", body = service_kit::Problem, content_type = "application/problem+json"),
              service_kit::openapi::responses::InvalidFields))]
pub async fn set_stock(
    _admin: Admin,
    State(state): State<AppState>,
    ApiPath(sku): ApiPath<Sku>,
    ApiJson(change): ApiJson<StockChange>,
) -> Result<Json<StockLevel>, ApiError> {
    let mut errors = Vec::new();
    match (change.on_hand, change.adjust) {
        (Some(_), Some(_)) | (None, None) => errors.push(FieldError::new(
            "on_hand",
            "give exactly one of `on_hand` and `adjust`",
        )),
        (Some(n), None) if n < 0 => errors.push(FieldError::new("on_hand", "must not be negative")),
        _ => {}
    }
    if change.reason.trim().is_empty() || change.reason.chars().count() > 200 {
        errors.push(FieldError::new("reason", "must be 1 to 200 characters"));
    }
    if change.low_threshold.is_some_and(|t| t < 0) {
        errors.push(FieldError::new("low_threshold", "must not be negative"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    store::restock(
        &state.pool,
        sku.as_str(),
        change.on_hand,
        change.adjust,
        change.low_threshold,
        change.reason.trim(),
    )
    .await
    .map(Json)
}

/// One line of a stock count.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountLine {
    /// SKU.
    pub sku: String,
    /// Units on hand.
    #[schema(minimum = 0, maximum = 2_147_483_647)]
    pub on_hand: i32,
}

/// A stock count for many SKUs (initial load, periodic counts).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockCount {
    /// Why (kept with every movement), 1 to 200 characters.
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub reason: String,
    /// At most 5,000 lines.
    #[schema(max_items = 5000)]
    pub items: Vec<CountLine>,
}

/// How a count went.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountReport {
    /// SKUs set.
    pub updated: usize,
}

/// Sets units on hand for many SKUs in one transaction; all lines are checked first.
#[utoipa::path(post, path = "/admin/inventory", tag = "admin", request_body = StockCount,
    responses((status = 200, description = "Counted", body = CountReport),
              (status = 409, description = "A count is below the reserved units", body = service_kit::Problem, content_type = "application/problem+json"),
              (status = 422, description = "Invalid lines", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn import_stock(
    _admin: Admin,
    State(state): State<AppState>,
    ApiJson(count): ApiJson<StockCount>,
) -> Result<Json<CountReport>, ApiError> {
    let mut errors = Vec::new();
    if count.items.len() > 5000 {
        errors.push(FieldError::new("items", "at most 5000 lines per count"));
    }
    if count.reason.trim().is_empty() || count.reason.chars().count() > 200 {
        errors.push(FieldError::new("reason", "must be 1 to 200 characters"));
    }
    let mut lines = Vec::with_capacity(count.items.len());
    for (i, line) in count.items.iter().enumerate() {
        match Sku::parse(&line.sku) {
            Ok(sku) if line.on_hand >= 0 => lines.push((sku.to_string(), line.on_hand)),
            Ok(_) => errors.push(FieldError::new(
                format!("items[{i}].on_hand"),
                "must not be negative",
            )),
            Err(e) => errors.push(FieldError::new(format!("items[{i}].sku"), e.to_string())),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let updated = store::count(&state.pool, &lines, count.reason.trim()).await?;
    Ok(Json(CountReport { updated }))
}

/// Paging and filter of the stock list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StockQuery {
    /// Only SKUs at or below their low-stock threshold.
    #[serde(default)]
    pub low_only: bool,
    /// Page size, 1 to 200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One SKU in the stock list.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockRow {
    /// SKU.
    pub sku: String,
    /// Units in the warehouse.
    pub on_hand: i32,
    /// Units held for orders in flight.
    pub reserved: i32,
    /// Units that can be sold.
    pub available: i32,
    /// Low-stock threshold.
    pub low_threshold: i32,
    /// At or below the threshold.
    pub low: bool,
}

/// A page of the stock list.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockPage {
    /// SKUs in order.
    pub items: Vec<StockRow>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// Stock per SKU, in SKU order, optionally only the low ones.
#[utoipa::path(get, path = "/admin/inventory", tag = "admin", params(StockQuery),
    responses((status = 200, description = "Stock", body = StockPage)))]
pub async fn list_stock(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<StockQuery>,
) -> Result<Json<StockPage>, ApiError> {
    let limit = limit(query.limit)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let rows = store::levels(&state.pool, query.low_only, after.as_deref(), limit + 1).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let items: Vec<StockRow> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|level| StockRow {
            available: level.available(),
            low: level.is_low(),
            sku: level.sku,
            on_hand: level.on_hand,
            reserved: level.reserved,
            low_threshold: level.low_threshold,
        })
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|r| encode_cursor(&r.sku)))
        .flatten();
    Ok(Json(StockPage { items, next_cursor }))
}
