//! `campaign-local`: the whole platform in one process. See `local::run`.

/// The system allocator keeps a memory arena per thread that has ever
/// allocated, and the SQLite adapters run on tokio's blocking threads:
/// under load that fragmented into ~130 MB of extra resident memory, and
/// malloc/free were a quarter of the batch writer's profile (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    local::allocator::return_memory_promptly();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(run_command())
}

async fn run_command() -> std::process::ExitCode {
    local::init_tracing();
    let config = match local::Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("campaign-local: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => local::run(config).await,
        Some("bootstrap") => local::bootstrap(&config).await,
        Some("tenant" | "dlq") => local::admin_client::run(&args).await,
        Some(other) => {
            eprintln!(
                "campaign-local: unknown command {other:?}; use `serve` (default), `bootstrap`, `tenant` or `dlq`"
            );
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "campaign-local failed");
            eprintln!("campaign-local: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
