//! The catalog's OpenAPI document, served at `/openapi.json`.

use utoipa::OpenApi;

use crate::domain::category::{CategoryInput, CategoryNode};
use crate::domain::product::{Price, PricePatch, Product, ProductInput, ProductPatch};
use crate::routes::{admin, categories, products};
use crate::store::{ImportReport, ImportRowError};

/// The catalog API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "catalog", description = "Products, categories, search and admin writes."),
    paths(
        products::list_products,
        products::get_product,
        products::get_product_by_sku,
        categories::list_categories,
        admin::list_products,
        admin::get_product,
        admin::create_product,
        admin::replace_product,
        admin::patch_product,
        admin::delete_product,
        admin::import_products,
        admin::create_category,
    ),
    components(schemas(
        Product, ProductInput, ProductPatch, Price, PricePatch, products::ProductPage, CategoryNode, CategoryInput,
        admin::ImportRequest, ImportReport, ImportRowError, service_kit::Problem, service_kit::FieldError,
    )),
    tags(
        (name = "products", description = "Public catalog reads"),
        (name = "categories", description = "The category tree"),
        (name = "admin", description = "Catalog administration (role `admin`)"),
    )
)]
pub struct ApiDoc;

/// The document as this instance serves it: the import's row limit is its configured one.
pub fn document(import: &crate::config::ImportSettings) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    let mut doc = ApiDoc::openapi();
    let products = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("ImportRequest"))
        .and_then(|schema| match schema {
            RefOr::T(Schema::Object(object)) => object.properties.get_mut("products"),
            _ => None,
        });
    if let Some(RefOr::T(Schema::Array(rows))) = products {
        rows.max_items = Some(import.max_products);
    }
    doc
}
