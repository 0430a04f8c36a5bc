//! What a handler needs: the store and queue adapters plus configuration.
//! Built once per process (per warm Lambda, or per local stack).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::queue::Queue;
use crate::queue::sqlite::{QueueConfig, SqliteQueue};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

pub struct AppContext {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    /// Opens the admin routes. A secret: never logged (see the Debug impl).
    pub admin_token: Option<String>,
    /// Which adapters are in use, reported by the health check.
    pub backend: &'static str,
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("backend", &self.backend)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot use data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("unknown BACKEND {0:?}: use \"embedded\"")]
    UnknownBackend(String),
}

pub const STORE_FILE: &str = "store.sqlite3";
pub const QUEUE_FILE: &str = "queue.sqlite3";

/// The embedded backend in `data_dir`: SQLite store and queue files.
pub fn open_embedded(
    data_dir: &Path,
    queue_config: QueueConfig,
    admin_token: Option<String>,
) -> Result<AppContext, ContextError> {
    let fail = |reason: String| ContextError::DataDir { path: data_dir.to_path_buf(), reason };
    std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
    let queue =
        SqliteQueue::open(data_dir.join(QUEUE_FILE), queue_config).map_err(|e| fail(e.to_string()))?;
    let store = SqliteStore::open(data_dir.join(STORE_FILE)).map_err(|e| fail(e.to_string()))?;
    Ok(AppContext { store: Arc::new(store), queue: Arc::new(queue), admin_token, backend: "embedded" })
}

/// Reads a non-empty environment variable.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Builds the context a Lambda function or the local stack runs with, from
/// `BACKEND` (default `embedded`), `DATA_DIR` and `ADMIN_TOKEN`.
pub fn from_env() -> Result<AppContext, ContextError> {
    let admin_token = env_var("ADMIN_TOKEN");
    match env_var("BACKEND").as_deref().unwrap_or("embedded") {
        "embedded" => {
            let data_dir = env_var("DATA_DIR").unwrap_or_else(|| "./.data".into());
            open_embedded(Path::new(&data_dir), QueueConfig::default(), admin_token)
        }
        other => Err(ContextError::UnknownBackend(other.to_owned())),
    }
}
