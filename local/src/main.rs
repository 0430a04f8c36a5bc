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
    match local::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "campaign-local failed");
            eprintln!("campaign-local: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
