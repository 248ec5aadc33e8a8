//! The orders OpenAPI document.

use utoipa::OpenApi;

use crate::{cart, checkout, routes, store};

/// The orders API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "orders",
        description = "Carts, checkout and orders with their saga timeline."
    ),
    paths(
        routes::get_cart,
        routes::admin_summary,
        routes::clear_cart,
        routes::set_line,
        routes::remove_line,
        routes::checkout,
        routes::my_orders,
        routes::get_order,
        routes::cancel_order,
        routes::admin_orders,
        routes::admin_order,
        routes::ship_order,
        routes::admin_cancel_order
    ),
    components(schemas(
        cart::Cart,
        cart::CartLine,
        cart::Price,
        checkout::CheckoutInput,
        checkout::CheckoutAccepted,
        routes::LineInput,
        routes::Shipment,
        store::Order,
        store::OrderSummary,
        store::OrderLineView,
        store::TimelineStep,
        store::OrderPage,
        service_kit::Problem,
        service_kit::FieldError
    ))
)]
pub struct ApiDoc;
