//! The inventory OpenAPI document.

use utoipa::OpenApi;

use crate::routes;
use crate::store::StockLevel;

/// The inventory API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "inventory",
        description = "Stock availability and administration."
    ),
    paths(
        routes::availability,
        routes::stock_level,
        routes::set_stock,
        routes::import_stock,
        routes::list_stock,
        routes::list_reservations
    ),
    components(schemas(
        routes::Availability,
        routes::StockChange,
        StockLevel,
        service_kit::Problem,
        service_kit::FieldError
    ))
)]
pub struct ApiDoc;
