//! The provider's webhook events, received directly (locally, from the simulator).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use service_kit::ApiError;

use crate::AppState;
use crate::signature;
use crate::webhooks;

/// The provider callback route (not behind the gateway).
pub fn router() -> Router<AppState> {
    Router::new().route("/internal/psp/callback", post(psp_callback))
}

/// A Stripe webhook event, signed with `Stripe-Signature`. Not routed through the gateway: the
/// simulator posts here locally. In AWS the psp-webhook function receives the events and queues
/// them on SQS instead, and [`crate::callbacks`] applies them the same way.
pub async fn psp_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let header = headers
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::Unauthorized("missing Stripe-Signature".into()))?;
    webhooks::receive(
        &state.pool,
        &state.provider,
        &state.webhook_secrets,
        header,
        &body,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
