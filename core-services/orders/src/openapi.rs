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
        routes::cart::get_cart,
        routes::admin::admin_summary,
        routes::cart::clear_cart,
        routes::cart::set_line,
        routes::cart::remove_line,
        routes::checkout::checkout,
        routes::orders::my_orders,
        routes::orders::get_order,
        routes::orders::cancel_order,
        routes::admin::admin_orders,
        routes::admin::admin_order,
        routes::admin::ship_order,
        routes::admin::admin_cancel_order
    ),
    components(schemas(
        cart::Cart,
        cart::CartLine,
        service_kit::money::Money,
        checkout::CheckoutInput,
        checkout::CheckoutAccepted,
        routes::cart::LineInput,
        routes::admin::Shipment,
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
