//! The catalog's OpenAPI document, served at `/openapi.json`.

use utoipa::OpenApi;

use crate::domain::category::{CategoryInput, CategoryNode};
use crate::domain::product::{Price, Product, ProductInput};
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
        Product, ProductInput, Price, products::ProductPage, CategoryNode, CategoryInput,
        admin::ImportRequest, ImportReport, ImportRowError, service_kit::Problem, service_kit::FieldError,
    )),
    tags(
        (name = "products", description = "Public catalog reads"),
        (name = "categories", description = "The category tree"),
        (name = "admin", description = "Catalog administration (role `admin`)"),
    )
)]
pub struct ApiDoc;
