//! Lambda entry point for the SQS-triggered batch writer.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

// A Lambda environment serves one invocation at a time: worker threads
// would only lengthen its cold start (see ARCHITECTURE.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::lambda::init_tracing();
    let ctx = Arc::new(shared::wiring::from_env().await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let ctx = ctx.clone();
        async move { Ok::<SqsBatchResponse, Error>(shared::lambda::write_batch(&ctx, event.payload).await) }
    }))
    .await
}
