//! Public reads: a product by id or SKU, and listings/search. All served cache-aside.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use service_kit::sku::Sku;
use utoipa::ToSchema;
use uuid::Uuid;

use super::respond_cached;
use crate::AppState;
use crate::cache::Entry;
use crate::domain::listing::{ListQuery, fnv1a};
use crate::domain::product::Product;
use crate::store::Visibility;

/// The public product routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(list_products))
        .route("/products/{id}", get(get_product))
        .route("/products/by-sku/{sku}", get(get_product_by_sku))
}

/// A page of products.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    /// The products on this page.
    pub items: Vec<Product>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The cache entry for a product: its JSON and its version tag.
pub fn product_entry(product: &Product) -> Result<Entry, ApiError> {
    let body = serde_json::to_vec(product).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Entry {
        etag: HeaderValue::from_str(&product.etag()).map_err(|e| ApiError::Internal(e.into()))?,
        body: Bytes::from(body),
    })
}

/// A product by id.
#[utoipa::path(get, path = "/products/{id}", tag = "products",
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Malformed id", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::bad_field("id", "must be a UUID"))?;
    let store = state.store.clone();
    let (entry, lookup) = state
        .cache
        .get_or_load("product", &format!("id:{id}"), || async move {
            store
                .product_by_id(id, Visibility::Public)
                .await?
                .as_ref()
                .map(product_entry)
                .transpose()
        })
        .await?;
    let entry = entry.ok_or_else(|| ApiError::NotFound(format!("no product with id {id}")))?;
    Ok(respond_cached(entry, &headers, lookup))
}

/// A product by SKU.
#[utoipa::path(get, path = "/products/by-sku/{sku}", tag = "products",
    params(("sku" = String, Path, description = "SKU (case-insensitive)")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Malformed SKU", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_product_by_sku(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sku = Sku::parse(&sku).map_err(|e| ApiError::bad_field("sku", e.to_string()))?;
    let store = state.store.clone();
    let key = format!("sku:{sku}");
    let (entry, lookup) = state
        .cache
        .get_or_load("product", &key, || async move {
            store
                .product_by_sku(sku.as_str(), Visibility::Public)
                .await?
                .as_ref()
                .map(product_entry)
                .transpose()
        })
        .await?;
    let entry = entry.ok_or_else(|| ApiError::NotFound("no product with this SKU".into()))?;
    Ok(respond_cached(entry, &headers, lookup))
}

/// Lists, filters and searches products, one keyset page at a time.
#[utoipa::path(get, path = "/products", tag = "products",
    params(
        ("q" = Option<String>, Query, description = "Full-text search (web search syntax: quotes, -exclusion, or); short queries tolerate typos"),
        ("category" = Option<String>, Query, description = "Category slug; sub-categories included"),
        ("brand" = Option<String>, Query, description = "Brand (case-insensitive); repeat or comma-separate for several"),
        ("min_price" = Option<i64>, Query, description = "Lowest price in minor units"),
        ("max_price" = Option<i64>, Query, description = "Highest price in minor units"),
        ("currency" = Option<String>, Query, description = "Only prices in this ISO 4217 currency"),
        ("attr.<name>" = Option<String>, Query, description = "Attribute equality, e.g. attr.color=black"),
        ("sort" = Option<String>, Query, description = "relevance (default with q), newest (default without), price_asc, price_desc"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-100, default 20"),
    ),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "A parameter is invalid", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_products(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = ListQuery::parse(query.as_deref())?;
    let store = state.store.clone();
    let (entry, lookup) = state
        .cache
        .get_or_load("list", &query.cache_key(), || async move {
            let (items, after) = store.list(&query).await?;
            let page = ProductPage {
                items,
                next_cursor: after.map(|next| query.encode_cursor(next)),
            };
            let body = serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.into()))?;
            let etag = format!("\"{:016x}\"", fnv1a(&body));
            Ok(Some(Entry {
                etag: HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.into()))?,
                body: Bytes::from(body),
            }))
        })
        .await?;
    let entry =
        entry.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("listing produced no page")))?;
    Ok(respond_cached(entry, &headers, lookup))
}
