//! AWS configuration.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// From the environment: region, credentials (IRSA or the Lambda role) and, locally, the
/// endpoint from `AWS_ENDPOINT_URL`.
pub async fn from_env() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// For an emulator at `endpoint` (moto) with fixed test credentials.
pub async fn for_endpoint(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await
}

/// The emulator tests use: `TEST_AWS_ENDPOINT_URL`, by default the local moto server.
pub fn test_endpoint() -> String {
    std::env::var("TEST_AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

/// The string value of a Secrets Manager secret (`secret_id`: an ARN or a name), as the
/// functions read their keys at start-up.
pub async fn secret_string(config: &SdkConfig, secret_id: &str) -> anyhow::Result<String> {
    let value = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
        })?;
    value
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("secret {secret_id} has no string value"))
}
