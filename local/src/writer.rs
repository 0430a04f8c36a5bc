//! The local stand-in for the SQS → Lambda trigger: drains the embedded
//! queue into the batch writer until told to stop.

use std::sync::Arc;
use std::time::Duration;

use shared::batch_writer::drain_once;
use shared::context::AppContext;
use tokio::sync::watch;

/// Messages per batch: each may hold many events, and all events of a
/// batch share one store transaction.
const MAX_MESSAGES: usize = 100;
/// Long-poll wait (SQS counts it in whole seconds).
const WAIT: Duration = Duration::from_secs(1);

pub async fn run(ctx: Arc<AppContext>, stop: watch::Receiver<bool>) {
    // Stop is checked between batches only: a batch, once received, is
    // written and acknowledged before shutdown proceeds.
    while !*stop.borrow() {
        match drain_once(ctx.store.as_ref(), ctx.queue.as_ref(), MAX_MESSAGES, WAIT).await {
            Ok(outcome) if outcome.events > 0 || !outcome.failed.is_empty() => {
                tracing::debug!(
                    events = outcome.events,
                    stored = outcome.report.stored,
                    duplicates = outcome.report.duplicates,
                    failed_messages = outcome.failed.len(),
                    "batch written"
                );
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "draining the queue failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
