//! The notifier Lambda function (built with `cargo lambda build --release --arm64`).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use notifier::{ACCOUNT_KEY_ENV, ACCOUNT_LINK_ENV, AccountLinks, Notifier, SENDER_ENV, TABLE_ENV};

#[tokio::main]
async fn main() -> Result<(), Error> {
    function_kit::telemetry::init("notifier", function_kit::telemetry::Logs::Stdout)?;
    let config = function_kit::aws::from_env().await;
    let table = std::env::var(TABLE_ENV).map_err(|_| format!("{TABLE_ENV} is not set"))?;
    let sender = std::env::var(SENDER_ENV).map_err(|_| format!("{SENDER_ENV} is not set"))?;
    let key_secret =
        std::env::var(ACCOUNT_KEY_ENV).map_err(|_| format!("{ACCOUNT_KEY_ENV} is not set"))?;
    let link_base =
        std::env::var(ACCOUNT_LINK_ENV).map_err(|_| format!("{ACCOUNT_LINK_ENV} is not set"))?;
    let accounts = AccountLinks::load(&config, &key_secret, &link_base).await?;
    let notifier = Notifier::new(&config, &table, &sender, accounts);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let notifier = notifier.clone();
        async move { Ok::<_, Error>(notifier.handle(event.payload).await) }
    }))
    .await
}
