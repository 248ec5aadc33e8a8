//! The webhook-dispatcher Lambda function (built with `cargo lambda build --release --arm64`).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use webhook_dispatcher::Dispatcher;

#[tokio::main]
async fn main() -> Result<(), Error> {
    function_kit::telemetry::init("webhook-dispatcher", function_kit::telemetry::Logs::Stdout)?;
    let config = function_kit::aws::from_env().await;
    let dispatcher = Dispatcher::from_env(&config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let dispatcher = dispatcher.clone();
        async move { Ok::<_, Error>(dispatcher.handle(event.payload).await) }
    }))
    .await
}
