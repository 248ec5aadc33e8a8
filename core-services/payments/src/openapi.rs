//! The payments OpenAPI document.

use utoipa::OpenApi;

use crate::{flow, routes, store};

/// The payments API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "payments",
        description = "Payments per order, their ledger, and refunds."
    ),
    paths(
        routes::payment_detail,
        routes::list_payments,
        routes::summary,
        routes::create_refund
    ),
    components(schemas(
        routes::PaymentDetail,
        routes::PaymentSummary,
        store::MoneyMoved,
        routes::PaymentPage,
        routes::RefundInput,
        flow::Refund,
        store::Payment,
        store::LedgerEntry,
        store::Balance,
        service_kit::Problem,
        service_kit::FieldError
    ))
)]
pub struct ApiDoc;
