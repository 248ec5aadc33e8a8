//! The webhook-admin Lambda function, invoked by the gateway.

use lambda_http::Error;
use webhook_admin::{AdminApi, router};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let config = function_kit::aws::from_env().await;
    let api = AdminApi::from_env(&config)?;
    lambda_http::run(router(api)).await
}
