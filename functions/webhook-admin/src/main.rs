//! The webhook-admin Lambda function, invoked by the gateway.

use axum::response::Response;
use lambda_http::Error;
use tracing::Instrument as _;
use webhook_admin::{AdminApi, router};

#[tokio::main]
async fn main() -> Result<(), Error> {
    function_kit::telemetry::init("webhook-admin", function_kit::telemetry::Logs::Stdout)?;
    let config = function_kit::aws::from_env().await;
    let api = AdminApi::from_env(&config)?;
    lambda_http::run(router(api).layer(axum::middleware::from_fn(traced))).await
}

/// Each request in a span continuing the gateway's trace, exported before the answer.
async fn traced(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let span = function_kit::telemetry::request_span(
        request.method().as_str(),
        request.uri().path(),
        request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
    );
    let response = next.run(request).instrument(span).await;
    function_kit::telemetry::flush().await;
    response
}
