//! The psp-webhook Lambda function, behind a function URL.

use lambda_http::{Body, Error, Request, Response, service_fn};
use psp_webhook::{Receiver, env};
use tracing::Instrument as _;

#[tokio::main]
async fn main() -> Result<(), Error> {
    function_kit::telemetry::init("psp-webhook", function_kit::telemetry::Logs::Stdout)?;
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
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let signature = header(psp_signature::HEADER);
            let span = function_kit::telemetry::request_span(
                request.method().as_str(),
                request.uri().path(),
                header("traceparent").as_deref(),
            );
            let answer = receiver
                .receive(signature.as_deref(), request.body().as_ref())
                .instrument(span)
                .await;
            function_kit::telemetry::flush().await;
            Response::builder()
                .status(answer.status)
                .header("content-type", answer.content_type)
                .body(Body::from(answer.body))
                .map_err(Error::from)
        }
    }))
    .await
}
