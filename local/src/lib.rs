//! The local stack: plays API Gateway (routing, API-key throttling, body
//! limit) and the SQS trigger (a loop draining the queue into the batch
//! writer) around the very handlers the Lambda functions run, on the
//! embedded store and queue in `DATA_DIR`.

pub mod admin_client;
pub mod allocator;
mod config;
mod server;
mod throttle;
mod writer;

use std::sync::Arc;

pub use config::{Config, ConfigError};
use shared::context::{self, Backend};

/// Logs go to stderr: compact text, or JSON with `LOG_FORMAT=json`.
/// Verbosity follows `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if shared::config::env_var("LOG_FORMAT").as_deref() == Some("json") {
        builder.json().flatten_event(true).init();
    } else {
        builder.compact().init();
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(String);

/// Runs until SIGTERM or Ctrl-C: serves HTTP, drains the queue, then shuts
/// down cleanly (in-flight requests and the current batch finish; anything
/// not yet written stays queued for the next start).
pub async fn run(config: Config) -> Result<(), RunError> {
    let ctx = match config.backend {
        Backend::Embedded => {
            context::open_embedded(&config.data_dir, config.queue, config.admin_token.clone())
        }
        Backend::Aws => {
            if config.bootstrap {
                bootstrap(&config).await?;
            }
            shared::wiring::open_aws(config.admin_token.clone()).await
        }
    }
    .and_then(context::AppContext::configured_from_env)
    .map_err(|e| RunError(e.to_string()))?;
    let mut ctx = ctx;
    let throttle = Arc::new(throttle::Throttle::new(config.limits));
    ctx.limiter = Some(throttle.clone());
    let ctx = Arc::new(ctx);
    if config.seed_demo && shared::demo::seed(&ctx).await.map_err(|e| RunError(e.to_string()))? {
        println!(
            "seeded a demo tenant: X-API-Key {} (a demo experiment and {} users of events)",
            shared::demo::DEMO_API_KEY,
            shared::demo::DEMO_USERS
        );
    }

    let listener = tokio::net::TcpListener::bind((config.host, config.port))
        .await
        .map_err(|e| RunError(format!("cannot listen on {}:{}: {e}", config.host, config.port)))?;
    let address = listener.local_addr().map_err(|e| RunError(e.to_string()))?;

    let (stop_writer, writer_stopped) = tokio::sync::watch::channel(false);
    let writer = writer::start(ctx.clone(), config.backend, writer_stopped)
        .map_err(|e| RunError(format!("cannot start the batch writer: {e}")))?;

    let app = server::router(ctx.clone(), throttle, &config);
    let data = match config.backend {
        Backend::Embedded => format!("data in {}", config.data_dir.display()),
        Backend::Aws => "data in DynamoDB/SQS".to_owned(),
    };
    println!("campaign-local listening on http://{address} (API at /api, {data})");
    tracing::info!(%address, backend = ctx.backend, "listening");
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    tracing::info!("HTTP server stopped; letting the batch writer finish its batch");
    let _ = stop_writer.send(true);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    served.map_err(|e| RunError(e.to_string()))
}

/// Creates the AWS backend's tables and queues where missing (`make bootstrap`).
#[cfg(feature = "aws")]
pub async fn bootstrap(config: &Config) -> Result<(), RunError> {
    use shared::aws;
    let resources = aws::Resources::from_env();
    let settings = aws::QueueSettings {
        visibility_timeout: config.queue.visibility_timeout,
        max_receives: config.queue.max_receives,
    };
    aws::bootstrap(&resources, settings).await.map_err(|e| RunError(e.to_string()))?;
    println!(
        "bootstrapped tables {} and {}, queue {} (dead letters: {})",
        resources.events_table, resources.state_table, resources.queue_name, resources.dead_letter_name
    );
    Ok(())
}

/// Without the AWS backend there is nothing to bootstrap.
#[cfg(not(feature = "aws"))]
pub async fn bootstrap(_config: &Config) -> Result<(), RunError> {
    Err(RunError(context::ContextError::NoAwsBackend.to_string()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
