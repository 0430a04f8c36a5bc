//! Lambda entry point for the experiments routes; all logic lives in `shared`.

use std::sync::Arc;

use shared::api::Function;

// A Lambda environment serves one invocation at a time: worker threads
// would only lengthen its cold start (see ARCHITECTURE.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::init_tracing();
    let ctx = Arc::new(shared::wiring::from_env().await?);
    shared::lambda::serve(Function::Experiments, ctx).await
}
