//! Admin writes (role `admin`): create, replace (`PUT`), merge-patch (`PATCH`), soft delete and
//! bulk import of products; categories. Replacing and patching need `If-Match` with the
//! product's current `ETag` (optimistic concurrency): a stale one answers 412, none 428.

use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service_kit::extract::{ApiJson, BulkJson, parse_json};
use service_kit::identity::Admin;
use service_kit::{ApiError, FieldError};
use utoipa::ToSchema;
use uuid::Uuid;

use super::products::ProductPage;
use crate::AppState;
use crate::domain::category::{CategoryInput, CategoryNode};
use crate::domain::listing::{Audience, ListQuery};
use crate::domain::product::{Product, ProductInput, ProductPatch, merge_patch};
use crate::store::{ImportReport, ImportRowError, Visibility};

/// The admin routes; the import route accepts bodies up to `import_limit` bytes.
pub fn router(import_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/admin/products", get(list_products).post(create_product))
        .route(
            "/admin/products/{id}",
            get(get_product)
                .put(replace_product)
                .patch(patch_product)
                .delete(delete_product),
        )
        .route(
            "/admin/products/import",
            post(import_products).layer(DefaultBodyLimit::max(import_limit)),
        )
        .route("/admin/categories", post(create_category))
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::bad_field("id", "must be a UUID"))
}

/// The version an `If-Match` names: `Ok(None)` for `*`, 412 for a tag that cannot match.
fn if_match(headers: &HeaderMap, required: bool) -> Result<Option<Option<i64>>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        if required {
            return Err(ApiError::PreconditionRequired(
                "send `If-Match` with the product's ETag to change it".into(),
            ));
        }
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(Some(None));
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(|version| Some(Some(version)))
        .ok_or_else(|| {
            ApiError::PreconditionFailed(format!(
                "`If-Match: {value}` matches no version of this product"
            ))
        })
}

fn with_etag(status: StatusCode, product: &Product) -> Response {
    let mut response = (status, Json(product)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&product.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

fn product_keys(id: Uuid, skus: &[&str]) -> Vec<String> {
    let mut keys = vec![format!("product:id:{id}")];
    keys.extend(skus.iter().map(|sku| format!("product:sku:{sku}")));
    keys
}

/// Lists products as admins see them: inactive ones too, filtered by `status`, with the
/// public listing's filters, sorts and keyset cursors. Read from PostgreSQL, never cached, so
/// a product just deactivated shows as such at once.
#[utoipa::path(get, path = "/admin/products", tag = "admin",
    params(
        ("status" = Option<String>, Query, description = "active, inactive or all (default)"),
        ("q" = Option<String>, Query, description = "Full-text search, as in the public listing"),
        ("category" = Option<String>, Query, description = "Category slug; sub-categories included"),
        ("brand" = Option<String>, Query, description = "Brand (case-insensitive); repeat or comma-separate for several"),
        ("min_price" = Option<i64>, Query, description = "Lowest price in minor units"),
        ("max_price" = Option<i64>, Query, description = "Highest price in minor units"),
        ("currency" = Option<String>, Query, description = "Only prices in this ISO 4217 currency"),
        ("sort" = Option<String>, Query, description = "relevance (default with q), newest (default without), price_asc, price_desc"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-100, default 20"),
    ),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 400, description = "A parameter is invalid", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No identity", body = service_kit::Problem, content_type = "application/problem+json"),
        service_kit::openapi::responses::NotAdmin,
    ))]
pub async fn list_products(
    _admin: Admin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<ProductPage>, ApiError> {
    let query = ListQuery::parse_for(query.as_deref(), Audience::Admin)?;
    let (items, after) = state.store.list(&query).await?;
    Ok(Json(ProductPage {
        items,
        next_cursor: after.map(|next| query.encode_cursor(next)),
    }))
}

/// A product as admins see it (inactive ones too).
#[utoipa::path(get, path = "/admin/products/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 401, description = "No identity", body = service_kit::Problem, content_type = "application/problem+json"),
        service_kit::openapi::responses::NotAdmin,
        (status = 404, description = "No such product", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_product(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let product = state
        .store
        .product_by_id(id, Visibility::Admin)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no product with id {id}")))?;
    Ok(with_etag(StatusCode::OK, &product))
}

/// Creates a product.
#[utoipa::path(post, path = "/admin/products", tag = "admin", request_body = ProductInput,
    responses(
        (status = 201, description = "Created; `Location` and `ETag` set", body = Product),
        (status = 400, description = "Malformed JSON", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = service_kit::Problem, content_type = "application/problem+json"),
        service_kit::openapi::responses::InvalidFields,
    ))]
pub async fn create_product(
    _admin: Admin,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ProductInput>,
) -> Result<Response, ApiError> {
    let draft = input.validate().map_err(ApiError::Validation)?;
    let product = state.store.create(&draft).await?;
    state
        .cache
        .invalidate(product_keys(product.id, &[&product.sku]))
        .await;
    tracing::info!(product.id = %product.id, product.sku = %product.sku, "product created");
    let mut response = with_etag(StatusCode::CREATED, &product);
    if let Ok(location) = HeaderValue::from_str(&format!("/products/{}", product.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Replaces a product.
#[utoipa::path(put, path = "/admin/products/{id}", tag = "admin", request_body = ProductInput,
    params(("id" = Uuid, Path, description = "Product id"), ("If-Match" = String, Header, description = "The product's ETag")),
    responses(
        (status = 200, description = "Replaced", body = Product),
        (status = 409, description = "Another live product has this SKU", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The product changed since it was read", body = service_kit::Problem, content_type = "application/problem+json"),
        service_kit::openapi::responses::InvalidFields,
        (status = 428, description = "If-Match missing", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn replace_product(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ProductInput>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let expected = if_match(&headers, true)?.flatten();
    let draft = input.validate().map_err(ApiError::Validation)?;
    let (product, old_sku) = state.store.update(id, expected, &draft).await?;
    state
        .cache
        .invalidate(product_keys(id, &[&product.sku, &old_sku]))
        .await;
    Ok(with_etag(StatusCode::OK, &product))
}

/// Changes some fields of a product (RFC 7396 JSON merge patch; `null` clears a field).
#[utoipa::path(patch, path = "/admin/products/{id}", tag = "admin",
    request_body(content = ProductPatch, content_type = "application/merge-patch+json"),
    params(("id" = Uuid, Path, description = "Product id"), ("If-Match" = String, Header, description = "The product's ETag")),
    responses(
        (status = 200, description = "Patched", body = Product),
        (status = 409, description = "Another live product has this SKU", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The product changed since it was read", body = service_kit::Problem, content_type = "application/problem+json"),
        service_kit::openapi::responses::InvalidFields,
        (status = 428, description = "If-Match missing", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_product(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let expected = if_match(&headers, true)?.flatten();
    if !patch.is_object() {
        return Err(ApiError::invalid_field(
            "body",
            "a merge patch must be a JSON object",
        ));
    }
    let current = state
        .store
        .product_by_id(id, Visibility::Admin)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no product with id {id}")))?;
    if expected.is_some_and(|v| v != current.version) {
        return Err(ApiError::PreconditionFailed(format!(
            "the product is at version {}",
            current.version
        )));
    }
    let mut document =
        serde_json::to_value(current.to_input()).map_err(|e| ApiError::Internal(e.into()))?;
    merge_patch(&mut document, &patch);
    let merged = serde_json::to_vec(&document).map_err(|e| ApiError::Internal(e.into()))?;
    let input: ProductInput = parse_json(&merged)?;
    let draft = input.validate().map_err(ApiError::Validation)?;
    let (product, old_sku) = state
        .store
        .update(id, Some(current.version), &draft)
        .await?;
    state
        .cache
        .invalidate(product_keys(id, &[&product.sku, &old_sku]))
        .await;
    Ok(with_etag(StatusCode::OK, &product))
}

/// Soft-deletes a product: shoppers no longer see it and its SKU can be reused.
#[utoipa::path(delete, path = "/admin/products/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Product id"), ("If-Match" = Option<String>, Header, description = "Only if still at this ETag")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such product", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The product changed", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_product(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let expected = if_match(&headers, false)?.flatten();
    let sku = state.store.delete(id, expected).await?;
    state.cache.invalidate(product_keys(id, &[&sku])).await;
    tracing::info!(product.id = %id, "product deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A bulk import request.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Products to create, or to replace when a live product has the same SKU, each as
    /// `ProductInput` describes it. A row that is not a valid `ProductInput` (or names an
    /// unknown category, or repeats an earlier row's SKU) is not written and is reported in the
    /// answer; the other rows are written. So any JSON value is taken as a row. At most
    /// `import.max_products` rows (1,000 by default).
    #[schema(schema_with = import_rows_schema)]
    pub products: Vec<Value>,
}

fn import_rows_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, SchemaType};
    let row = AnyOfBuilder::new()
        .item(utoipa::openapi::Ref::from_schema_name("ProductInput"))
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some("Anything else: reported as a failed row")),
        );
    ArrayBuilder::new().items(row).build()
}

/// Creates or replaces many products at once; invalid rows are reported, valid ones written.
#[utoipa::path(post, path = "/admin/products/import", tag = "admin", request_body = ImportRequest,
    responses(
        (status = 200, description = "Per-row report", body = ImportReport),
        (status = 422, description = "Too many rows", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_products(
    _admin: Admin,
    State(state): State<AppState>,
    BulkJson(request): BulkJson<ImportRequest>,
) -> Result<Json<ImportReport>, ApiError> {
    let max = state.import.max_products;
    if request.products.len() > max {
        return Err(ApiError::invalid_field(
            "products",
            format!("at most {max} products per import"),
        ));
    }
    let mut report = ImportReport::default();
    let mut valid = Vec::with_capacity(request.products.len());
    let mut seen = std::collections::HashSet::new();
    for (index, row) in request.products.into_iter().enumerate() {
        let sku_sent = row.get("sku").and_then(Value::as_str).map(str::to_owned);
        let parsed = serde_json::to_vec(&row)
            .map_err(|e| ApiError::Internal(e.into()))
            .and_then(|bytes| parse_json::<ProductInput>(&bytes));
        let errors = match parsed {
            Ok(input) => match input.validate() {
                Ok(draft) if !seen.insert(draft.sku.clone()) => {
                    vec![FieldError::new("sku", "appears earlier in this import")]
                }
                Ok(draft) => {
                    valid.push((index, draft));
                    continue;
                }
                Err(errors) => errors,
            },
            Err(ApiError::Validation(errors) | ApiError::BadRequest { errors, .. }) => errors,
            Err(other) => return Err(other),
        };
        report.failed += 1;
        report.errors.push(ImportRowError {
            index,
            sku: sku_sent,
            errors,
        });
    }
    let written = state.store.import(&valid, &mut report).await?;
    let mut keys: Vec<String> = written
        .iter()
        .map(|id| format!("product:id:{id}"))
        .collect();
    keys.extend(valid.iter().map(|(_, d)| format!("product:sku:{}", d.sku)));
    state.cache.invalidate(keys).await;
    report.errors.sort_by_key(|e| e.index);
    tracing::info!(
        created = report.created,
        updated = report.updated,
        failed = report.failed,
        "import done"
    );
    Ok(Json(report))
}

/// Creates a category.
#[utoipa::path(post, path = "/admin/categories", tag = "admin", request_body = CategoryInput,
    responses(
        (status = 201, description = "Created", body = CategoryNode),
        (status = 409, description = "Slug taken", body = service_kit::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or unknown parent", body = service_kit::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_category(
    _admin: Admin,
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<Response, ApiError> {
    input.validate().map_err(ApiError::Validation)?;
    let row = state.store.create_category(&input).await?;
    state.cache.invalidate(Vec::new()).await;
    let node = CategoryNode {
        id: row.id,
        slug: row.slug,
        name: row.name,
        children: Vec::new(),
    };
    Ok((StatusCode::CREATED, Json(node)).into_response())
}
