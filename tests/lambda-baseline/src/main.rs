//! The smallest Lambda function: `lambda_runtime` answering each event with itself. Built
//! the way the platform's functions are (`cargo lambda build --release`), it is the floor
//! under their cold start and package size in `cargo xtask bench functions`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
