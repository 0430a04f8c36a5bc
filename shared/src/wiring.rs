//! The composition root: the context a process runs with, built from its
//! environment. Above both `context` (which knows no backend adapter) and
//! `aws` (which builds a context), so neither depends on the other.

use std::path::Path;

use crate::config::env_var;
use crate::context::{AppContext, Backend, ContextError, open_embedded};
use crate::queue::sqlite::QueueConfig;

/// Builds the context a Lambda function runs with, from `BACKEND`,
/// `ADMIN_TOKEN`, and `DATA_DIR` (embedded) or the resource names of
/// [`crate::aws::Resources`] (aws).
pub async fn from_env() -> Result<AppContext, ContextError> {
    let admin_token = env_var("ADMIN_TOKEN");
    match Backend::from_env()? {
        Backend::Embedded => {
            let data_dir = env_var("DATA_DIR").unwrap_or_else(|| "./.data".into());
            open_embedded(Path::new(&data_dir), QueueConfig::default(), admin_token)?
        }
        Backend::Aws => open_aws(admin_token).await?,
    }
    .configured_from_env()
}

/// The AWS backend named by the environment ([`crate::aws::Resources`]),
/// or why this build has none.
pub async fn open_aws(admin_token: Option<String>) -> Result<AppContext, ContextError> {
    #[cfg(feature = "aws")]
    {
        crate::aws::open(&crate::aws::Resources::from_env(), admin_token).await
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = admin_token;
        Err(ContextError::NoAwsBackend)
    }
}
