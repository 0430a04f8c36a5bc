//! API Gateway adapter: each tenant key becomes an API Gateway API key with
//! the same value, attached to the stack's usage plan (which throttles it).

use async_trait::async_trait;
use aws_sdk_apigateway::Client;

use super::{GatewayError, KeyGateway};

pub struct ApiGatewayKeys {
    client: Client,
    usage_plan_id: String,
}

impl ApiGatewayKeys {
    pub fn new(client: Client, usage_plan_id: impl Into<String>) -> Self {
        Self { client, usage_plan_id: usage_plan_id.into() }
    }
}

fn unavailable(what: &str, err: impl std::fmt::Debug) -> GatewayError {
    GatewayError::Unavailable(format!("{what}: {err:?}"))
}

#[async_trait]
impl KeyGateway for ApiGatewayKeys {
    async fn register(&self, tenant_id: &str, api_key: &str) -> Result<String, GatewayError> {
        let created = self
            .client
            .create_api_key()
            .name(format!("tenant-{tenant_id}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")))
            .description(format!("campaign-analytics key of tenant {tenant_id}"))
            .value(api_key)
            .enabled(true)
            .tags("tenant", tenant_id)
            .send()
            .await
            .map_err(|e| unavailable("create API key", e))?;
        let key_id = created.id.ok_or_else(|| unavailable("create API key", "no id in the answer"))?;
        let attached = self
            .client
            .create_usage_plan_key()
            .usage_plan_id(&self.usage_plan_id)
            .key_id(&key_id)
            .key_type("API_KEY")
            .send()
            .await;
        if let Err(err) = attached {
            // A key outside the plan would be refused by the gateway anyway;
            // delete it rather than leave a stray secret behind.
            let _ = self.revoke(&key_id).await;
            return Err(unavailable("attach API key to the usage plan", err));
        }
        Ok(key_id)
    }

    async fn revoke(&self, key_id: &str) -> Result<(), GatewayError> {
        // Deleting a key also detaches it from every usage plan.
        match self.client.delete_api_key().api_key(key_id).send().await {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found_exception()) => Ok(()),
            Err(err) => Err(unavailable("delete API key", err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client_and_plan() -> (Client, String) {
        crate::aws::testing::use_emulator();
        let client = Client::new(&crate::aws::sdk_config().await);
        let plan = client
            .create_usage_plan()
            .name(format!("plan-{}", uuid::Uuid::new_v4().simple()))
            .send()
            .await
            .expect("create usage plan on the emulator");
        (client, plan.id.expect("usage plan id"))
    }

    #[tokio::test]
    async fn registered_keys_carry_the_tenant_value_in_the_usage_plan_and_revoke_removes_them() {
        let (client, plan) = client_and_plan().await;
        let gateway = ApiGatewayKeys::new(client.clone(), &plan);
        let secret = crate::domain::tenant::generate_api_key();

        let key_id = gateway.register("tenant-1", &secret).await.unwrap();
        let key = client.get_api_key().api_key(&key_id).include_value(true).send().await.unwrap();
        assert_eq!(key.value.as_deref(), Some(secret.as_str()));
        assert!(key.enabled);
        let in_plan = client.get_usage_plan_keys().usage_plan_id(&plan).send().await.unwrap();
        let ids: Vec<_> = in_plan.items().iter().filter_map(|k| k.id.as_deref()).collect();
        assert_eq!(ids, [key_id.as_str()]);

        gateway.revoke(&key_id).await.unwrap();
        assert!(client.get_api_key().api_key(&key_id).send().await.is_err());
        // Revoking again (a retried rotation) is not an error.
        gateway.revoke(&key_id).await.unwrap();
    }
}
