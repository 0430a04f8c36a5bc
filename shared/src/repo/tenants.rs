//! Tenants and the API-key index that authenticates them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{from_item, to_item};
use crate::domain::tenant::{KeyScope, NewKey, Tenant, hash_api_key};
use crate::store::{Condition, Item, Key, Query, Store, StoreError, WriteOp, keys, query_all};

/// What an API key resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant_id: String,
    /// The key's id at the key gateway (API Gateway's on AWS).
    pub key_id: String,
    pub scope: KeyScope,
    /// Origins a web page may use an `ingest` key from.
    pub allowed_origins: Vec<String>,
    /// Whether the events it sends from known crawlers are dropped (only
    /// ever for an `ingest` key).
    pub filter_bots: bool,
    /// The last UTC day (`YYYY-MM-DD`) the key was recorded as used.
    pub last_used_day: Option<String>,
}

/// The attribute of an API-key item (and its listing) that says whether
/// its events from known crawlers are dropped; absent on keys made before
/// the filter, which then follow their scope's default.
pub const FILTER_BOTS: &str = "filterBots";

/// Whether a key's item says to drop its crawlers' events.
fn filters_bots(item: &Item, scope: KeyScope) -> bool {
    scope == KeyScope::Ingest && item.get(FILTER_BOTS).and_then(Value::as_bool).unwrap_or(true)
}

/// The attribute of an API-key item that says when it was last used.
pub const LAST_USED_DAY: &str = "lastUsedDay";

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
    /// Events it sends from known crawlers (by `User-Agent`) are dropped:
    /// on for `ingest` keys unless they opted out, off for `full` keys.
    pub filter_bots: bool,
    #[serde(with = "crate::domain::event::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// The last UTC day the key authenticated a request (recorded once a
    /// day per running process); `null` if never.
    #[schema(value_type = Option<String>, format = Date)]
    pub last_used_day: Option<String>,
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
    item.insert(FILTER_BOTS.into(), json!(info.filter_bots));
    item.insert("createdAt".into(), Value::from(crate::domain::event::rfc3339::format(&info.created_at)));
    item.insert("keyHash".into(), Value::from(info.key_hash.as_str()));
    item.insert("keyId".into(), Value::from(info.gateway_key_id.as_str()));
    item
}

fn info_from_index(id: String, item: &Item) -> Option<ApiKeyInfo> {
    let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    let scope = serde_json::from_value(item.get("scope")?.clone()).ok()?;
    Some(ApiKeyInfo {
        id,
        label: text("label")?,
        scope,
        allowed_origins: serde_json::from_value(item.get("allowedOrigins").cloned().unwrap_or(json!([])))
            .ok()?,
        filter_bots: filters_bots(item, scope),
        created_at: text("createdAt")?.parse().ok()?,
        last_used_day: None,
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
        filter_bots: new.filter_bots,
        created_at: now,
        last_used_day: None,
        key_hash: hash_api_key(api_key),
        gateway_key_id: gateway_key_id.to_owned(),
    };
    let mut owner = key_item(tenant_id, gateway_key_id);
    owner.insert("scope".into(), json!(info.scope));
    owner.insert("allowedOrigins".into(), json!(info.allowed_origins));
    owner.insert(FILTER_BOTS.into(), json!(info.filter_bots));
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

/// A tenant's keys: the primary one (while it works) and those it added,
/// each with the day it was last used (from its API-key item).
pub async fn list_keys(store: &dyn Store, tenant: &Tenant) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let added = query_all(store, Query::partition(keys::tenant_keys_partition(&tenant.id))).await?;
    let mut listed = vec![ApiKeyInfo {
        id: PRIMARY_KEY_ID.into(),
        label: "primary key".into(),
        scope: KeyScope::Full,
        allowed_origins: Vec::new(),
        filter_bots: false,
        created_at: tenant.created_at,
        last_used_day: None,
        key_hash: tenant.key_hash.clone(),
        gateway_key_id: tenant.key_id.clone(),
    }];
    listed.extend(added.into_iter().filter_map(|(key, item)| info_from_index(keys::unpart(&key.sk), &item)));
    let key_items: Vec<Key> = listed.iter().map(|info| keys::api_key(&info.key_hash)).collect();
    let key_items = store.batch_get(&key_items).await?;
    // A key without its API-key item no longer authenticates (the primary
    // key of a tenant being rotated, a key half-deleted): not listed.
    Ok(listed
        .into_iter()
        .zip(key_items)
        .filter_map(|(mut info, item)| {
            info.last_used_day = last_used_day(&item?);
            Some(info)
        })
        .collect())
}

fn last_used_day(item: &Item) -> Option<String> {
    item.get(LAST_USED_DAY).and_then(Value::as_str).map(str::to_owned)
}

/// Records that a key authenticated a request on `day` (`YYYY-MM-DD`). A
/// key deleted meanwhile stays deleted: `false`, nothing written.
pub async fn record_key_use(store: &dyn Store, key_hash: &str, day: &str) -> Result<bool, StoreError> {
    let mut set = Item::new();
    set.insert(LAST_USED_DAY.into(), Value::from(day));
    let write =
        WriteOp::Update { key: keys::api_key(key_hash), add: Vec::new(), set, condition: Condition::Exists };
    match store.transact(vec![write]).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(err) => Err(err),
    }
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
///
/// Deleting a `full` key checks, in the same transaction, that another
/// `full` key still exists: of two concurrent deletions of a tenant's last
/// two full keys, one fails its check, looks again, and is refused.
pub async fn delete_key(store: &dyn Store, tenant: &Tenant, id: &str) -> Result<KeyDeletion, StoreError> {
    // Each retry follows a write that changed this tenant's keys.
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let listed = list_keys(store, tenant).await?;
        let Some(doomed) = listed.iter().find(|info| info.id == id).cloned() else {
            return Ok(KeyDeletion::NotFound);
        };
        let mut writes =
            vec![WriteOp::Delete { key: keys::api_key(&doomed.key_hash), condition: Condition::Exists }];
        if doomed.id != PRIMARY_KEY_ID {
            writes.push(WriteOp::Delete {
                key: keys::tenant_key(&tenant.id, &doomed.id),
                condition: Condition::Always,
            });
        }
        if doomed.scope == KeyScope::Full {
            let Some(survivor) = listed.iter().find(|info| info.scope == KeyScope::Full && info.id != id)
            else {
                return Ok(KeyDeletion::LastFullKey);
            };
            writes.push(WriteOp::Check {
                key: keys::api_key(&survivor.key_hash),
                condition: Condition::Exists,
            });
        }
        match store.transact(writes).await {
            Ok(()) => return Ok(KeyDeletion::Deleted(doomed)),
            // The doomed key went meanwhile, or the survivor did: look again.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Unavailable("the tenant's keys kept changing during the deletion; try again".into()))
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
        (Some(tenant_id), Some(key_id)) => Ok(Some(KeyOwner {
            tenant_id,
            key_id,
            scope,
            allowed_origins,
            filter_bots: filters_bots(&item, scope),
            last_used_day: last_used_day(&item),
        })),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::testing::{Intercept, Intercepted};

    /// Lets two callers both read before either writes, then lets their
    /// writes through one at a time: the interleaving in which a
    /// check-then-write race shows, made certain.
    struct ReadsBeforeWrites {
        first_writes: std::sync::atomic::AtomicUsize,
        writers: tokio::sync::Barrier,
        one_at_a_time: tokio::sync::Mutex<()>,
    }

    #[async_trait::async_trait]
    impl Intercept for ReadsBeforeWrites {
        async fn transact(&self, inner: &dyn Store, writes: Vec<WriteOp>) -> Result<(), StoreError> {
            // The first two writes wait for each other; retries pass.
            if self.first_writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                self.writers.wait().await;
            }
            let _turn = self.one_at_a_time.lock().await;
            inner.transact(writes).await
        }
    }

    fn full_key(label: &str) -> NewKey {
        NewKey { scope: KeyScope::Full, label: label.into(), allowed_origins: Vec::new(), filter_bots: false }
    }

    async fn two_concurrent_deletions_leave_one_full_key(store: Arc<dyn Store>) {
        let now = Utc::now();
        let tenant = create(store.as_ref(), "Acme", "primary-secret", "gw-1", now).await.unwrap();
        let second = add_key(store.as_ref(), &tenant.id, "second-secret", "gw-2", &full_key("ops"), now)
            .await
            .unwrap();
        let racing = Intercepted::new(
            store.clone(),
            ReadsBeforeWrites {
                first_writes: Default::default(),
                writers: tokio::sync::Barrier::new(2),
                one_at_a_time: tokio::sync::Mutex::new(()),
            },
        );
        let (a, b) = tokio::join!(
            delete_key(&racing, &tenant, PRIMARY_KEY_ID),
            delete_key(&racing, &tenant, &second.id)
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        assert_eq!(
            outcomes.iter().filter(|o| matches!(o, KeyDeletion::Deleted(_))).count(),
            1,
            "{outcomes:?}"
        );
        assert!(outcomes.contains(&KeyDeletion::LastFullKey), "{outcomes:?}");
        let left = list_keys(store.as_ref(), &tenant).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].scope, KeyScope::Full);
        let survivor = if left[0].id == PRIMARY_KEY_ID { "primary-secret" } else { "second-secret" };
        assert!(find_by_key_hash(store.as_ref(), &hash_api_key(survivor)).await.unwrap().is_some());
    }

    async fn key_use_is_recorded_by_day_and_listed(store: Arc<dyn Store>) {
        let now = Utc::now();
        let tenant = create(store.as_ref(), "Acme", "primary-secret", "gw-1", now).await.unwrap();
        let web = NewKey {
            scope: KeyScope::Ingest,
            label: "web".into(),
            allowed_origins: Vec::new(),
            filter_bots: true,
        };
        let added = add_key(store.as_ref(), &tenant.id, "web-secret", "gw-2", &web, now).await.unwrap();
        let listed = list_keys(store.as_ref(), &tenant).await.unwrap();
        assert!(listed.iter().all(|k| k.last_used_day.is_none()), "{listed:?}");

        assert!(record_key_use(store.as_ref(), &hash_api_key("web-secret"), "2026-12-01").await.unwrap());
        assert!(record_key_use(store.as_ref(), &hash_api_key("web-secret"), "2026-12-02").await.unwrap());
        let owner = find_by_key_hash(store.as_ref(), &hash_api_key("web-secret")).await.unwrap().unwrap();
        assert_eq!(owner.last_used_day.as_deref(), Some("2026-12-02"));
        assert_eq!((owner.tenant_id.as_str(), owner.scope), (tenant.id.as_str(), KeyScope::Ingest));
        let listed = list_keys(store.as_ref(), &tenant).await.unwrap();
        let day_of = |id: &str| listed.iter().find(|k| k.id == id).unwrap().last_used_day.clone();
        assert_eq!(day_of(&added.id).as_deref(), Some("2026-12-02"));
        assert_eq!(day_of(PRIMARY_KEY_ID), None);
        let shown = serde_json::to_value(&listed).unwrap();
        assert_eq!(shown[1]["lastUsedDay"], "2026-12-02");
        assert_eq!(shown[0]["lastUsedDay"], Value::Null);

        // Recording the use of a deleted key does not bring it back.
        assert!(matches!(
            delete_key(store.as_ref(), &tenant, &added.id).await.unwrap(),
            KeyDeletion::Deleted(_)
        ));
        assert!(!record_key_use(store.as_ref(), &hash_api_key("web-secret"), "2026-12-03").await.unwrap());
        assert_eq!(find_by_key_hash(store.as_ref(), &hash_api_key("web-secret")).await.unwrap(), None);
    }

    fn embedded() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        (dir, Arc::new(store))
    }

    #[tokio::test]
    async fn embedded_two_concurrent_deletions_leave_one_full_key() {
        let (_dir, store) = embedded();
        two_concurrent_deletions_leave_one_full_key(store).await;
    }

    #[tokio::test]
    async fn embedded_key_use_is_recorded_by_day_and_listed() {
        let (_dir, store) = embedded();
        key_use_is_recorded_by_day_and_listed(store).await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_two_concurrent_deletions_leave_one_full_key() {
        two_concurrent_deletions_leave_one_full_key(crate::aws::testing::fresh_context().await.store).await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_key_use_is_recorded_by_day_and_listed() {
        key_use_is_recorded_by_day_and_listed(crate::aws::testing::fresh_context().await.store).await;
    }
}
