//! The analytics Lambda function (built with `cargo lambda build --release --arm64`).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    function_kit::telemetry::init("analytics", function_kit::telemetry::Logs::Stderr)?;
    let namespace =
        std::env::var(analytics::NAMESPACE_ENV).unwrap_or_else(|_| "Retail/Business".to_owned());
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let namespace = namespace.clone();
        async move { Ok::<_, Error>(analytics::handle(&namespace, event.payload).await) }
    }))
    .await
}
