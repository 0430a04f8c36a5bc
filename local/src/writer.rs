//! The local stand-in for the SQS → Lambda trigger: drains the embedded
//! queue into the batch writer until told to stop.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use shared::batch_writer::drain_once;
use shared::context::{AppContext, Backend};
use tokio::sync::watch;

/// Messages per batch: each may hold many events, and all events of a
/// batch share one store transaction.
const MAX_MESSAGES: usize = 100;
/// Long-poll wait (SQS counts it in whole seconds).
const WAIT: Duration = Duration::from_secs(1);
/// A batch of fewer events than this was a trickle, not a backlog: about
/// what one full message holds.
const SMALL_BATCH_EVENTS: usize = 1_000;
/// How long a drain loop lets messages gather after a small batch, as the
/// SQS trigger's `MaximumBatchingWindowInSeconds` does on AWS: under a
/// steady stream of single events, one store transaction (and one fsync)
/// per window's worth of events instead of one per handful. Counts lag by
/// at most this much more. Measured in BENCHMARKS.md ("batching window").
const BATCHING_WINDOW: Duration = Duration::from_millis(30);
/// How many drain loops run at once. On the embedded store, two, like
/// concurrent batch-writer Lambdas: while one commits its batch (SQLite
/// writes one transaction at a time), the other decodes and plans the next
/// on the other core. Batches that race for the same new members are safe:
/// the loser's conditions fail and it re-plans from fresh reads
/// (`repo::events::store_events`). On `BACKEND=aws`, one: DynamoDB itself
/// would serialize concurrent transactions, but the emulators this mode
/// runs against locally do not (moto applies and rolls back concurrent
/// transactions over each other, which counted events twice in a test).
fn loops(backend: Backend) -> usize {
    match backend {
        Backend::Embedded => 2,
        Backend::Aws => 1,
    }
}

/// Starts the drain loops on a runtime of their own, whose threads (its
/// workers and the blocking threads that run the store's SQLite calls) run
/// at a lower scheduling priority than the listener's. A client waits for
/// its `202`, not for its events to be counted: when both want the CPU,
/// acknowledging goes first and counting catches up in the gaps. Measured
/// in BENCHMARKS.md ("the writer's priority").
pub fn start(
    ctx: Arc<AppContext>,
    backend: Backend,
    stop: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("batch-writer".into()).spawn(move || {
        lower_priority();
        // One worker plans for both loops (a plan overlaps the other loop's
        // commit, which runs on a blocking thread); a blocking thread per
        // loop. Every thread keeps allocator heaps of its own: two workers
        // and an unbounded blocking pool peaked ~20 MB higher for no gain.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("batch-writer")
            .on_thread_start(lower_priority)
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => runtime.block_on(run(ctx, backend, stop)),
            Err(err) => tracing::error!(error = %err, "cannot start the batch writer's runtime"),
        }
    })
}

/// Nice 10 for the calling thread (on Linux a thread's own setting; other
/// systems would apply it to the whole process, so they keep the default).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads no memory of ours; `who` 0 is this thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

async fn run(ctx: Arc<AppContext>, backend: Backend, stop: watch::Receiver<bool>) {
    let loops: Vec<_> = (0..loops(backend)).map(|_| tokio::spawn(drain(ctx.clone(), stop.clone()))).collect();
    for drain in loops {
        if let Err(err) = drain.await {
            tracing::error!(error = %err, "a batch writer loop ended abnormally");
        }
    }
}

async fn drain(ctx: Arc<AppContext>, stop: watch::Receiver<bool>) {
    // Stop is checked between batches only: a batch, once received, is
    // written and acknowledged before shutdown proceeds.
    while !*stop.borrow() {
        match drain_once(ctx.store.as_ref(), &ctx.writer_memory, ctx.queue.as_ref(), MAX_MESSAGES, WAIT).await
        {
            Ok(outcome) if outcome.events > 0 || !outcome.failed.is_empty() => {
                tracing::debug!(
                    events = outcome.events,
                    stored = outcome.report.stored,
                    duplicates = outcome.report.duplicates,
                    failed_messages = outcome.failed.len(),
                    "batch written"
                );
                if outcome.events > 0 && outcome.events < SMALL_BATCH_EVENTS {
                    tokio::time::sleep(BATCHING_WINDOW).await;
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "draining the queue failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
