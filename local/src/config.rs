//! Configuration from the environment, with the defaults `make run` documents.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use shared::config::env_var;
use shared::context::Backend;
use shared::queue::sqlite::QueueConfig;

use crate::throttle::{Limit, Limits};

#[derive(Clone, Debug)]
pub struct Config {
    pub host: IpAddr,
    /// `PORT`, default 3000; 0 picks a free port (printed on start).
    pub port: u16,
    /// `DATA_DIR`, default `./.data`.
    pub data_dir: PathBuf,
    /// `ADMIN_TOKEN`; without it the admin routes answer 401.
    pub admin_token: Option<String>,
    /// `DASHBOARD_DIR`, default `dashboard/dist`.
    pub dashboard_dir: PathBuf,
    /// `SDK_DIR`, default `sdk/js/dist`: where the browser SDK's script-tag
    /// build (`sdk.js`) is, served at `/sdk.js`.
    pub sdk_dir: PathBuf,
    /// `SEED_DEMO` (default true): seed the demo tenant into an empty data dir.
    pub seed_demo: bool,
    pub limits: Limits,
    pub queue: QueueConfig,
    /// `BACKEND`: `embedded` (default) or `aws` (DynamoDB and SQS; see `shared::aws`).
    pub backend: Backend,
    /// `BOOTSTRAP` (aws only): create missing tables and queues at start.
    pub bootstrap: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

fn parsed<T: FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    match env_var(name) {
        None => Ok(default),
        Some(raw) => {
            raw.trim().parse().map_err(|_| ConfigError(format!("{name}={raw:?} is not a valid value")))
        }
    }
}

fn limit(prefix: &str, default: Limit) -> Result<Limit, ConfigError> {
    let limit = Limit {
        per_second: parsed(&format!("THROTTLE_{prefix}_RPS"), default.per_second)?,
        burst: parsed(&format!("THROTTLE_{prefix}_BURST"), default.burst)?,
    };
    if limit.per_second == 0 || limit.burst == 0 {
        return Err(ConfigError(format!("THROTTLE_{prefix}_RPS and _BURST must be at least 1")));
    }
    Ok(limit)
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Limits::default();
        let flag = |name: &str, default: bool| match env_var(name).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes") => Ok(true),
            Some("0" | "false" | "no") => Ok(false),
            Some(other) => Err(ConfigError(format!("{name}={other:?}: use true or false"))),
        };
        Ok(Self {
            host: parsed("HOST", IpAddr::V4(Ipv4Addr::LOCALHOST))?,
            port: parsed("PORT", 3000)?,
            data_dir: PathBuf::from(env_var("DATA_DIR").unwrap_or_else(|| "./.data".into())),
            admin_token: env_var("ADMIN_TOKEN"),
            dashboard_dir: PathBuf::from(env_var("DASHBOARD_DIR").unwrap_or_else(|| "dashboard/dist".into())),
            sdk_dir: PathBuf::from(env_var("SDK_DIR").unwrap_or_else(|| "sdk/js/dist".into())),
            seed_demo: flag("SEED_DEMO", true)?,
            bootstrap: flag("BOOTSTRAP", false)?,
            backend: Backend::from_env().map_err(|e| ConfigError(e.to_string()))?,
            limits: Limits {
                ingest: limit("INGEST", defaults.ingest)?,
                analytics: limit("ANALYTICS", defaults.analytics)?,
                experiments: limit("EXPERIMENTS", defaults.experiments)?,
                unauthenticated: limit("UNAUTHENTICATED", defaults.unauthenticated)?,
                admin: limit("ADMIN", defaults.admin)?,
            },
            queue: QueueConfig {
                visibility_timeout: Duration::from_secs(parsed("QUEUE_VISIBILITY_TIMEOUT_SECS", 30)?),
                max_receives: parsed("QUEUE_MAX_RECEIVES", 5)?,
                ..QueueConfig::default()
            },
        })
    }
}
