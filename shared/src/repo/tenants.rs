//! Tenants and the API-key index that authenticates them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{from_item, to_item};
use crate::domain::tenant::{Tenant, hash_api_key};
use crate::store::{Condition, Item, Store, StoreError, WriteOp, keys};

/// What an API key resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant_id: String,
    pub key_id: String,
}

fn key_item(tenant_id: &str, key_id: &str) -> Item {
    let mut item = Item::new();
    item.insert("tenantId".into(), Value::from(tenant_id));
    item.insert("keyId".into(), Value::from(key_id));
    item
}

/// Stores a new tenant whose key is `api_key` (only its hash is kept).
pub async fn create(
    store: &dyn Store,
    name: &str,
    api_key: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<Tenant, StoreError> {
    create_with_id(store, &uuid::Uuid::now_v7().to_string(), name, api_key, key_id, now).await
}

pub async fn create_with_id(
    store: &dyn Store,
    id: &str,
    name: &str,
    api_key: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<Tenant, StoreError> {
    let tenant = Tenant {
        id: id.to_owned(),
        name: name.to_owned(),
        key_hash: hash_api_key(api_key),
        key_id: key_id.to_owned(),
        created_at: now,
    };
    store
        .transact(vec![
            WriteOp::Put {
                key: keys::tenant(&tenant.id),
                item: to_item(&tenant)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                key: keys::api_key(&tenant.key_hash),
                item: key_item(&tenant.id, key_id),
                condition: Condition::NotExists,
            },
        ])
        .await?;
    Ok(tenant)
}

pub async fn get(store: &dyn Store, tenant_id: &str) -> Result<Option<Tenant>, StoreError> {
    store.get(&keys::tenant(tenant_id)).await?.map(from_item).transpose()
}

/// Resolves an API key, by the hex SHA-256 of its value, to its tenant.
pub async fn find_by_key_hash(store: &dyn Store, key_hash: &str) -> Result<Option<KeyOwner>, StoreError> {
    let Some(item) = store.get(&keys::api_key(key_hash)).await? else {
        return Ok(None);
    };
    let field = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    match (field("tenantId"), field("keyId")) {
        (Some(tenant_id), Some(key_id)) => Ok(Some(KeyOwner { tenant_id, key_id })),
        _ => Err(StoreError::Internal("API key item lacks tenantId/keyId".into())),
    }
}

/// Replaces a tenant's key: the old one stops working in the same
/// transaction that makes the new one work. `None` when there is no such tenant.
pub async fn rotate_key(
    store: &dyn Store,
    tenant_id: &str,
    new_key: &str,
    new_key_id: &str,
) -> Result<Option<Tenant>, StoreError> {
    let Some(tenant) = get(store, tenant_id).await? else {
        return Ok(None);
    };
    let new_hash = hash_api_key(new_key);
    let rotated = Tenant { key_hash: new_hash.clone(), key_id: new_key_id.to_owned(), ..tenant.clone() };
    store
        .transact(vec![
            WriteOp::Put {
                key: keys::tenant(tenant_id),
                item: to_item(&rotated)?,
                condition: Condition::equals("keyHash", json!(tenant.key_hash)),
            },
            WriteOp::Delete { key: keys::api_key(&tenant.key_hash), condition: Condition::Always },
            WriteOp::Put {
                key: keys::api_key(&new_hash),
                item: key_item(tenant_id, new_key_id),
                condition: Condition::NotExists,
            },
        ])
        .await?;
    Ok(Some(rotated))
}
