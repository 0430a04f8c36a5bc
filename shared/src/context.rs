//! What a handler needs: the store and queue adapters plus configuration.
//! Built once per process (per warm Lambda, or per local stack).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{CorsPolicy, env_var};
use crate::gateway::{KeyGateway, LocalKeys};
use crate::outbox::Outbox;
use crate::queue::Queue;
use crate::queue::sqlite::{QueueConfig, SqliteQueue};
use crate::repo::events::WriterMemory;
use crate::repo::settings::TenantSettings;
use crate::repo::sketch_unions::SketchUnions;
use crate::repo::tenants::KeyOwner;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;
pub use crate::ttl_cache::TtlCache;

pub struct AppContext {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    /// The way from ingest to `queue`: concurrent requests share messages.
    pub outbox: Outbox,
    /// Who may use the admin routes.
    pub admin: AdminAuth,
    /// Which adapters are in use, reported by the health check.
    pub backend: &'static str,
    /// Recently resolved API keys (by hash), to spare a read per request.
    pub key_cache: KeyCache,
    /// Recently read tenant settings (by tenant id): ingest reads a
    /// tenant's ignored referrers for every request.
    pub settings_cache: TtlCache<TenantSettings>,
    /// Which other origins (the dashboard's) may call the API from a browser.
    pub cors: CorsPolicy,
    /// Where tenant keys are registered besides the store (API Gateway on AWS).
    pub key_gateway: Arc<dyn KeyGateway>,
    /// What the batch writer remembers of the store between batches.
    pub writer_memory: WriterMemory,
    /// What range reads remember: unions of past days' user sketches.
    pub sketch_unions: SketchUnions,
    /// How old an ingested event's timestamp may be (`MAX_EVENT_AGE_DAYS`).
    pub max_event_age_days: u32,
    /// Request rate limits, applied after authentication (the local stack's;
    /// on AWS, API Gateway's usage plans throttle instead).
    pub limiter: Option<Arc<dyn crate::limiter::RequestLimiter>>,
}

impl AppContext {
    /// A context with bearer-token admin auth (when `admin_token` is set),
    /// same-origin access only, and no external key gateway.
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        admin_token: Option<String>,
        backend: &'static str,
    ) -> Self {
        // A lookup costs a read per request (a network round trip on AWS):
        // cache briefly. Rotation forgets the tenant's entries in this
        // process at once; on AWS a rotated key keeps working in other warm
        // processes for at most this long (the embedded store has one process).
        let ttl = Duration::from_secs(30);
        Self {
            store,
            outbox: Outbox::new(queue.clone()),
            queue,
            admin: admin_token.map_or(AdminAuth::Disabled, AdminAuth::BearerToken),
            backend,
            key_cache: KeyCache::new(ttl),
            settings_cache: TtlCache::new(ttl),
            cors: CorsPolicy::same_origin_only(),
            key_gateway: Arc::new(LocalKeys),
            writer_memory: WriterMemory::default(),
            sketch_unions: SketchUnions::default(),
            max_event_age_days: crate::domain::event::DEFAULT_MAX_EVENT_AGE_DAYS,
            limiter: None,
        }
    }

    /// Applies the settings both the Lambdas and the local stack read from
    /// the environment: `CORS_ALLOWED_ORIGINS` (comma-separated origins) and
    /// `ADMIN_AUTH=iam` (admin routes trust API Gateway's IAM authorization
    /// instead of a bearer token).
    pub fn configured_from_env(mut self) -> Result<Self, ContextError> {
        if let Some(origins) = env_var("CORS_ALLOWED_ORIGINS") {
            self.cors = CorsPolicy::parse(&origins).map_err(ContextError::Config)?;
        }
        match env_var("ADMIN_AUTH").as_deref() {
            None | Some("token") => {}
            Some("iam") => self.admin = AdminAuth::Iam,
            Some(other) => {
                return Err(ContextError::Config(format!("ADMIN_AUTH={other:?}: use \"token\" or \"iam\"")));
            }
        }
        if let Some(days) = env_var("MAX_EVENT_AGE_DAYS") {
            self.max_event_age_days = days.trim().parse().map_err(|_| {
                ContextError::Config(format!("MAX_EVENT_AGE_DAYS={days:?}: use a whole number of days"))
            })?;
        }
        Ok(self)
    }
}

/// How the admin routes authenticate their caller.
#[derive(Clone, PartialEq, Eq)]
pub enum AdminAuth {
    /// No `ADMIN_TOKEN` configured: the admin routes answer 401.
    Disabled,
    /// `Authorization: Bearer <ADMIN_TOKEN>` (the local stack, or Lambdas
    /// reached without API Gateway IAM auth). A secret: never logged.
    BearerToken(String),
    /// API Gateway has verified a SigV4 signature (`AWS_IAM` authorization)
    /// and passes the caller's ARN in the request context.
    Iam,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminAuth::Disabled => "Disabled",
            AdminAuth::BearerToken(_) => "BearerToken(<redacted>)",
            AdminAuth::Iam => "Iam",
        })
    }
}

/// Resolved API keys, by the hash of the key.
pub type KeyCache = TtlCache<KeyOwner>;

impl KeyCache {
    /// Forgets every cached key of a tenant (after a rotation).
    pub fn forget_tenant(&self, tenant_id: &str) {
        self.forget_where(|_, owner| owner.tenant_id == tenant_id);
    }
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("backend", &self.backend)
            .field("admin", &self.admin)
            .field("cors", &self.cors)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot use data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("unknown BACKEND {0:?}: use \"embedded\" or \"aws\"")]
    UnknownBackend(String),
    #[error("AWS backend: {0}")]
    Backend(String),
    #[error("{0}")]
    Config(String),
    #[error(
        "BACKEND=aws: this build has no AWS backend; build with the `aws` feature \
         (`make run BACKEND=aws` does)"
    )]
    NoAwsBackend,
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
    Ok(AppContext::new(Arc::new(store), Arc::new(queue), admin_token, "embedded"))
}

/// Which backend `BACKEND` names (default `embedded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Aws,
}

impl Backend {
    pub fn from_env() -> Result<Self, ContextError> {
        match env_var("BACKEND").as_deref().unwrap_or("embedded") {
            "embedded" => Ok(Backend::Embedded),
            "aws" => Ok(Backend::Aws),
            other => Err(ContextError::UnknownBackend(other.to_owned())),
        }
    }
}
