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
        routes::availability::availability,
        routes::stock::stock_level,
        routes::stock::set_stock,
        routes::stock::import_stock,
        routes::stock::list_stock,
        routes::reservations::list_reservations
    ),
    components(schemas(
        routes::availability::Availability,
        routes::stock::StockChange,
        StockLevel,
        service_kit::Problem,
        service_kit::FieldError
    ))
)]
pub struct ApiDoc;
