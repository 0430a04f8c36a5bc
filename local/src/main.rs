//! `campaign-local`: the whole platform in one process. See `local::run`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    local::init_tracing();
    let config = match local::Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("campaign-local: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = match std::env::args().nth(1).as_deref() {
        None | Some("serve") => local::run(config).await,
        Some("bootstrap") => local::bootstrap(&config).await,
        Some(other) => {
            eprintln!("campaign-local: unknown command {other:?}; use `serve` (default) or `bootstrap`");
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
