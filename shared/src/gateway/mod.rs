//! The key-gateway port: where a tenant's API key must also be registered
//! for requests to reach the functions at all.
//!
//! On AWS that is API Gateway: a key belongs to a usage plan, which applies
//! the throttle and quota before any Lambda runs, and the gateway reports
//! the matched key's id (`apiKeyId`) so the handlers can check it is the key
//! the tenant holds. The local stack throttles by key itself, so its
//! adapter only mints the id.

#[cfg(feature = "aws")]
pub mod apigateway;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("API gateway unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait KeyGateway: Send + Sync + 'static {
    /// Makes `api_key` (a secret: never logged) usable at the gateway for
    /// `tenant_id`; returns the gateway's id for the key.
    async fn register(&self, tenant_id: &str, api_key: &str) -> Result<String, GatewayError>;

    /// Withdraws a key by the id `register` returned. Unknown ids are fine:
    /// revoking is retried after partial failures.
    async fn revoke(&self, key_id: &str) -> Result<(), GatewayError>;
}

/// The local stack's gateway: keys live only in the store.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalKeys;

#[async_trait]
impl KeyGateway for LocalKeys {
    async fn register(&self, _tenant_id: &str, _api_key: &str) -> Result<String, GatewayError> {
        Ok(uuid::Uuid::new_v4().to_string())
    }

    async fn revoke(&self, _key_id: &str) -> Result<(), GatewayError> {
        Ok(())
    }
}
