//! The baseline for the cold-start comparison: the smallest `lambda_runtime`
//! function (echoes its event), built with the same profile as ours.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) },
    ))
    .await
}
