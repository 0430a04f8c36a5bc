//! Lambda entry point for the ingest routes; all logic lives in `shared`.

use std::sync::Arc;

use shared::api::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::init_tracing();
    let ctx = Arc::new(shared::context::from_env().await?);
    shared::lambda::serve(Function::Ingest, ctx).await
}
