//! Tenants and the API-key index that authenticates them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{from_item, to_item};
use crate::domain::tenant::{KeyScope, NewKey, Tenant, hash_api_key};
use crate::store::{Condition, Item, Query, Store, StoreError, WriteOp, keys, query_all};

/// What an API key resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant_id: String,
    /// The key's id at the key gateway (API Gateway's on AWS).
    pub key_id: String,
    pub scope: KeyScope,
    /// Origins a web page may use an `ingest` key from.
    pub allowed_origins: Vec<String>,
}

/// Id of the key a tenant was created with (or rotated to), in listings.
pub const PRIMARY_KEY_ID: &str = "primary";

/// A key as its tenant sees it: never the key or its hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub id: String,
    pub label: String,
    pub scope: KeyScope,
    pub allowed_origins: Vec<String>,
    #[serde(with = "crate::domain::event::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub key_hash: String,
    #[serde(skip)]
    pub gateway_key_id: String,
}

fn index_item(info: &ApiKeyInfo) -> Item {
    let mut item = Item::new();
    item.insert("label".into(), Value::from(info.label.as_str()));
    item.insert("scope".into(), json!(info.scope));
    item.insert("allowedOrigins".into(), json!(info.allowed_origins));
    item.insert("createdAt".into(), Value::from(crate::domain::event::rfc3339::format(&info.created_at)));
    item.insert("keyHash".into(), Value::from(info.key_hash.as_str()));
    item.insert("keyId".into(), Value::from(info.gateway_key_id.as_str()));
    item
}

fn info_from_index(id: String, item: &Item) -> Option<ApiKeyInfo> {
    let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    Some(ApiKeyInfo {
        id,
        label: text("label")?,
        scope: serde_json::from_value(item.get("scope")?.clone()).ok()?,
        allowed_origins: serde_json::from_value(item.get("allowedOrigins").cloned().unwrap_or(json!([])))
            .ok()?,
        created_at: text("createdAt")?.parse().ok()?,
        key_hash: text("keyHash")?,
        gateway_key_id: text("keyId")?,
    })
}

/// Adds a key to a tenant: its hash, which authenticates, and its entry in
/// the tenant's list, in one transaction.
pub async fn add_key(
    store: &dyn Store,
    tenant_id: &str,
    api_key: &str,
    gateway_key_id: &str,
    new: &NewKey,
    now: DateTime<Utc>,
) -> Result<ApiKeyInfo, StoreError> {
    let info = ApiKeyInfo {
        id: uuid::Uuid::now_v7().to_string(),
        label: new.label.clone(),
        scope: new.scope,
        allowed_origins: new.allowed_origins.clone(),
        created_at: now,
        key_hash: hash_api_key(api_key),
        gateway_key_id: gateway_key_id.to_owned(),
    };
    let mut owner = key_item(tenant_id, gateway_key_id);
    owner.insert("scope".into(), json!(info.scope));
    owner.insert("allowedOrigins".into(), json!(info.allowed_origins));
    store
        .transact(vec![
            WriteOp::Put { key: keys::api_key(&info.key_hash), item: owner, condition: Condition::NotExists },
            WriteOp::Put {
                key: keys::tenant_key(tenant_id, &info.id),
                item: index_item(&info),
                condition: Condition::NotExists,
            },
        ])
        .await?;
    Ok(info)
}

/// A tenant's keys: the primary one (while it works) and those it added.
pub async fn list_keys(store: &dyn Store, tenant: &Tenant) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let primary_key = keys::api_key(&tenant.key_hash);
    let (primary, added) = tokio::try_join!(
        store.get(&primary_key),
        query_all(store, Query::partition(keys::tenant_keys_partition(&tenant.id)))
    )?;
    let mut listed = Vec::new();
    if primary.is_some() {
        listed.push(ApiKeyInfo {
            id: PRIMARY_KEY_ID.into(),
            label: "primary key".into(),
            scope: KeyScope::Full,
            allowed_origins: Vec::new(),
            created_at: tenant.created_at,
            key_hash: tenant.key_hash.clone(),
            gateway_key_id: tenant.key_id.clone(),
        });
    }
    listed.extend(added.into_iter().filter_map(|(key, item)| info_from_index(keys::unpart(&key.sk), &item)));
    Ok(listed)
}

/// Why a key was not deleted.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyDeletion {
    Deleted(ApiKeyInfo),
    NotFound,
    /// It is the tenant's last `full` key: the tenant could manage nothing.
    LastFullKey,
}

/// Deletes one of a tenant's keys; it stops authenticating at once (in
/// this process; other warm processes forget it within their cache's TTL,
/// and on AWS the gateway refuses it at once).
pub async fn delete_key(store: &dyn Store, tenant: &Tenant, id: &str) -> Result<KeyDeletion, StoreError> {
    let listed = list_keys(store, tenant).await?;
    let Some(doomed) = listed.iter().find(|info| info.id == id).cloned() else {
        return Ok(KeyDeletion::NotFound);
    };
    let full_keys = listed.iter().filter(|info| info.scope == KeyScope::Full).count();
    if doomed.scope == KeyScope::Full && full_keys <= 1 {
        return Ok(KeyDeletion::LastFullKey);
    }
    let mut writes =
        vec![WriteOp::Delete { key: keys::api_key(&doomed.key_hash), condition: Condition::Exists }];
    if doomed.id != PRIMARY_KEY_ID {
        writes.push(WriteOp::Delete {
            key: keys::tenant_key(&tenant.id, &doomed.id),
            condition: Condition::Always,
        });
    }
    match store.transact(writes).await {
        Ok(()) => Ok(KeyDeletion::Deleted(doomed)),
        Err(StoreError::ConditionFailed { .. }) => Ok(KeyDeletion::NotFound),
        Err(err) => Err(err),
    }
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
    // Keys from before scopes carry none: they are `full`.
    let scope = item.get("scope").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let allowed_origins =
        item.get("allowedOrigins").and_then(|o| serde_json::from_value(o.clone()).ok()).unwrap_or_default();
    match (field("tenantId"), field("keyId")) {
        (Some(tenant_id), Some(key_id)) => Ok(Some(KeyOwner { tenant_id, key_id, scope, allowed_origins })),
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
