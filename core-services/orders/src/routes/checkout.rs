//! Checkout: the cart becomes a PENDING order, once per `Idempotency-Key`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use service_kit::ApiError;
use service_kit::extract::{ApiJson, parse_json};
use service_kit::identity::Identity;

use crate::AppState;
use crate::checkout::{self, CheckoutAccepted, CheckoutInput, Claim};

/// The checkout route.
pub fn router() -> Router<AppState> {
    Router::new().route("/checkout", post(checkout))
}

fn accepted(code: u16, body: Value, replayed: bool) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::ACCEPTED);
    let location = body["order_id"]
        .as_str()
        .and_then(|id| HeaderValue::from_str(&format!("/orders/{id}")).ok());
    let mut response = (status, Json(body)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Turns the cart into an order (PENDING) and answers 202 with its id; the outcome follows
/// on `GET /orders/{id}`. Needs an `Idempotency-Key`.
#[utoipa::path(post, path = "/checkout", tag = "checkout", request_body = CheckoutInput,
    params(("Idempotency-Key" = String, Header, description = "A fresh key (e.g. a UUID) per purchase; retries reuse it")),
    responses((status = 202, description = "Order placed; follow Location", body = CheckoutAccepted),
              (status = 400, description = "Missing or malformed Idempotency-Key", body = service_kit::Problem, content_type = "application/problem+json"),
              (status = 409, description = "Same key still in progress, or the cart needs review", body = service_kit::Problem, content_type = "application/problem+json"),
              (status = 422, description = "Empty cart, bad payment method, or key reused with another body", body = service_kit::Problem, content_type = "application/problem+json")))]
pub async fn checkout(
    identity: Identity,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let key = checkout::key(&headers)?;
    let input: CheckoutInput = parse_json(&serde_json::to_vec(&body).unwrap_or_default())?;
    let hash = checkout::fingerprint(&body);
    match checkout::checkout(
        &state.pool,
        &state.carts,
        &state.upstream,
        &identity,
        &key,
        &hash,
        &input,
    )
    .await?
    {
        Claim::Replay(code, body) => Ok(accepted(code, body, true)),
        Claim::Fresh(code, body) => Ok(accepted(code, body, false)),
    }
}
