//! The payments OpenAPI document.

use utoipa::OpenApi;

use crate::{flow, reconcile, routes, store};

/// The payments API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "payments",
        description = "Payments per order, their ledger, refunds, and reconciliation with the payment provider."
    ),
    paths(
        routes::payment_detail,
        routes::list_payments,
        routes::summary,
        routes::reconciliation,
        routes::create_refund
    ),
    components(schemas(
        routes::PaymentDetail,
        routes::PaymentSummary,
        store::MoneyMoved,
        routes::PaymentPage,
        routes::RefundInput,
        flow::Refund,
        reconcile::Report,
        reconcile::Difference,
        store::Payment,
        store::LedgerEntry,
        store::Balance,
        service_kit::Problem,
        service_kit::FieldError
    ))
)]
pub struct ApiDoc;
