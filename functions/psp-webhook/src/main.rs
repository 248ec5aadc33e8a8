//! The psp-webhook Lambda function, behind a function URL.

use lambda_http::{Body, Error, Request, Response, service_fn};
use psp_webhook::{Receiver, env};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let config = function_kit::aws::from_env().await;
    let secret =
        std::env::var(env::SECRET_ARN).map_err(|_| format!("{} is not set", env::SECRET_ARN))?;
    let queue =
        std::env::var(env::QUEUE_URL).map_err(|_| format!("{} is not set", env::QUEUE_URL))?;
    let replay = std::env::var(env::REPLAY_TABLE)
        .map_err(|_| format!("{} is not set", env::REPLAY_TABLE))?;
    let receiver = Receiver::new(&config, &secret, &queue, &replay).await?;
    lambda_http::run(service_fn(|request: Request| {
        let receiver = receiver.clone();
        async move {
            let signature = request
                .headers()
                .get(psp_signature::HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let answer = receiver
                .receive(signature.as_deref(), request.body().as_ref())
                .await;
            Response::builder()
                .status(answer.status)
                .header("content-type", answer.content_type)
                .body(Body::from(answer.body))
                .map_err(Error::from)
        }
    }))
    .await
}
