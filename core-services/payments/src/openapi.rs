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
        routes::payments::payment_detail,
        routes::payments::list_payments,
        routes::payments::summary,
        routes::reconciliation::reconciliation,
        routes::refunds::create_refund
    ),
    components(schemas(
        routes::payments::PaymentDetail,
        routes::payments::PaymentSummary,
        store::MoneyMoved,
        routes::payments::PaymentPage,
        routes::refunds::RefundInput,
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
