//! Experiments, partitioned by tenant and sorted by their time-ordered ids.

use super::{from_item, to_item};
use crate::domain::experiment::{Experiment, Status};
use crate::store::{Condition, Query, Store, StoreError, WriteOp, keys};

pub async fn create(store: &dyn Store, tenant_id: &str, experiment: &Experiment) -> Result<(), StoreError> {
    store
        .transact(vec![WriteOp::Put {
            key: keys::experiment(tenant_id, &experiment.id),
            item: item(experiment)?,
            condition: Condition::NotExists,
        }])
        .await
}

fn item(experiment: &Experiment) -> Result<crate::store::Item, StoreError> {
    let mut item = to_item(experiment)?;
    item.insert("version".into(), experiment.version.into());
    Ok(item)
}

pub async fn get(store: &dyn Store, tenant_id: &str, id: &str) -> Result<Option<Experiment>, StoreError> {
    store.get(&keys::experiment(tenant_id, id)).await?.map(from_item).transpose()
}

/// Writes `next` only if the stored version is still `next.version - 1`;
/// a concurrent update makes this fail with `ConditionFailed`.
pub async fn update(store: &dyn Store, tenant_id: &str, next: &Experiment) -> Result<(), StoreError> {
    store
        .transact(vec![WriteOp::Put {
            key: keys::experiment(tenant_id, &next.id),
            item: item(next)?,
            condition: Condition::equals("version", next.version - 1),
        }])
        .await
}

/// One page of a tenant's experiments, newest first, optionally of one
/// status. The cursor is the id of the last experiment examined.
pub async fn list(
    store: &dyn Store,
    tenant_id: &str,
    status: Option<Status>,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<Experiment>, Option<String>), StoreError> {
    let mut found = Vec::with_capacity(limit);
    let mut query = Query::partition(keys::experiments_partition(tenant_id))
        .descending()
        .limit(limit.max(1) * 2)
        .start_after(cursor.map(|c| keys::part(&c)));
    loop {
        let page = store.query(&query).await?;
        let page_len = page.items.len();
        for (index, (_, item)) in page.items.into_iter().enumerate() {
            let experiment: Experiment = from_item(item)?;
            if status.is_none_or(|s| s == experiment.status) {
                found.push(experiment);
                if found.len() == limit {
                    let more = index + 1 < page_len || page.last_sk.is_some();
                    let next = more.then(|| found.last().map(|e| e.id.clone())).flatten();
                    return Ok((found, next));
                }
            }
        }
        match page.last_sk {
            Some(sk) => query.start_after = Some(sk),
            None => return Ok((found, None)),
        }
    }
}
