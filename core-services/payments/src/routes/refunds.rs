//! Refunds asked by the back office.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_kit::extract::{ApiJson, ApiPath};
use service_kit::identity::Admin;
use service_kit::{ApiError, FieldError};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::domain::OrderId;
use crate::flow::{self, Refund};

/// The refund route.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/payments/{order_id}/refunds", post(create_refund))
}

/// A refund request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// Minor units, at most what was captured and not yet refunded; absent refunds all of
    /// that.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    pub amount: Option<i64>,
    /// Why (kept with the refund), 1 to 200 characters.
    #[schema(
        max_length = 200,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub reason: String,
}

/// A [`Refund`] as the back office reads it, its amount as two fields.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Refund, description = "A refund that was made.")]
pub struct RefundView {
    /// Refund id.
    pub id: Uuid,
    /// Order id.
    pub order_id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Why.
    pub reason: String,
}

impl From<Refund> for RefundView {
    fn from(refund: Refund) -> Self {
        Self {
            id: refund.id,
            order_id: refund.order_id,
            amount: refund.amount.amount(),
            currency: refund.amount.currency().to_string(),
            reason: refund.reason,
        }
    }
}

/// Refunds a captured payment, fully or partly (`payment.refunded`). An `Idempotency-Key`
/// header makes retries safe.
#[utoipa::path(post, path = "/admin/payments/{order_id}/refunds", tag = "admin", request_body = RefundInput,
    params(("order_id" = String, Path, description = "Order id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, description = "Refunded", body = RefundView),
              (status = 200, description = "Already refunded with this key", body = RefundView),
              (status = 409, description = "Not captured", body = service_kit::Problem, content_type = "application/problem+json"),
              (status = 422, description = "Amount out of range", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn create_refund(
    Admin(admin): Admin,
    State(state): State<AppState>,
    ApiPath(order_id): ApiPath<OrderId>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<RefundInput>,
) -> Result<Response, ApiError> {
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::Validation(vec![FieldError::new(
            "reason",
            "must be 1 to 200 characters",
        )]));
    }
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::trim).unwrap_or_default())
        .map(|k| {
            if k.is_empty() || k.len() > 255 {
                Err(ApiError::bad_field(
                    "Idempotency-Key",
                    "must be 1 to 255 visible ASCII characters",
                ))
            } else {
                Ok(k)
            }
        })
        .transpose()?;
    let (created, refund) = flow::refund(
        &state.pool,
        &state.provider,
        &order_id.key(),
        input.amount,
        reason,
        key,
        &admin.subject,
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(RefundView::from(refund))).into_response())
}
