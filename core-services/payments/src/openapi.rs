//! The payments OpenAPI document.

use utoipa::OpenApi;

use crate::{reconcile, routes, store};

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
        routes::refunds::RefundView,
        reconcile::Report,
        reconcile::Difference,
        routes::payments::PaymentView,
        routes::payments::LedgerEntryView,
        store::Balance,
        service_kit::Problem,
        service_kit::FieldError
    ))
)]
pub struct ApiDoc;
