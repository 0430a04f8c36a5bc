//! Reading the running totals the batch writer maintains. A summary costs
//! one point read plus one query over the variants: O(variants), whatever
//! the number of events.

use serde_json::Value;

use crate::domain::counting::{
    CONVERSIONS, CONVERTED_USERS, EVENTS, NEW_CONVERTED_USERS, NEW_USERS, Scope, USERS,
};
use crate::domain::summary::{Summary, Totals};
use crate::domain::timeseries::BucketTotals;
use crate::store::keys;
use crate::store::{Item, Query, SortRange, Store, StoreError, query_all};

/// The running totals a counter item holds (absent counts are 0).
pub fn totals_of(item: &Item) -> Totals {
    let read = |attr: &str| item.get(attr).and_then(Value::as_u64).unwrap_or(0);
    Totals {
        events: read(EVENTS),
        users: read(USERS),
        conversions: read(CONVERSIONS),
        converted_users: read(CONVERTED_USERS),
    }
}

/// What an hourly bucket item counts (absent counts are 0).
pub fn bucket_totals_of(item: &Item) -> BucketTotals {
    let read = |attr: &str| item.get(attr).and_then(Value::as_u64).unwrap_or(0);
    BucketTotals {
        events: read(EVENTS),
        conversions: read(CONVERSIONS),
        new_users: read(NEW_USERS),
        new_converted_users: read(NEW_CONVERTED_USERS),
    }
}

pub async fn totals(store: &dyn Store, tenant_id: &str, scope: &Scope) -> Result<Totals, StoreError> {
    Ok(store.get(&keys::counter(tenant_id, scope)).await?.map(|item| totals_of(&item)).unwrap_or_default())
}

/// Variant name and totals of every variant counter under a sort-key prefix.
async fn variant_totals(
    store: &dyn Store,
    tenant_id: &str,
    prefix: String,
) -> Result<Vec<(String, Totals)>, StoreError> {
    let items = query_all(
        store,
        Query::partition(keys::counters_partition(tenant_id)).range(SortRange::Prefix(prefix)),
    )
    .await?;
    Ok(items
        .into_iter()
        .filter_map(|(_, item): (_, Item)| {
            let name = item.get("variant").and_then(Value::as_str)?.to_owned();
            Some((name, totals_of(&item)))
        })
        .collect())
}

/// Totals of each variant of one experiment that has seen events.
pub async fn experiment_variants(
    store: &dyn Store,
    tenant_id: &str,
    experiment_id: &str,
) -> Result<Vec<(String, Totals)>, StoreError> {
    variant_totals(store, tenant_id, keys::variant_counters_prefix(experiment_id)).await
}

/// All-time totals of the variants a summary lists: one experiment's, or
/// (without one) every variant name's across experiments.
pub async fn variant_totals_of(
    store: &dyn Store,
    tenant_id: &str,
    experiment_id: Option<&str>,
) -> Result<Vec<(String, Totals)>, StoreError> {
    let prefix = match experiment_id {
        Some(experiment) => keys::variant_counters_prefix(experiment),
        None => keys::VARIANT_NAME_COUNTERS_PREFIX.to_owned(),
    };
    variant_totals(store, tenant_id, prefix).await
}

/// The all-time summary, from counters only.
pub async fn summary(
    store: &dyn Store,
    tenant_id: &str,
    experiment_id: Option<&str>,
) -> Result<Summary, StoreError> {
    let scope = match experiment_id {
        Some(experiment) => Scope::Experiment(experiment.to_owned()),
        None => Scope::Tenant,
    };
    let (overall, variants) = tokio::try_join!(
        totals(store, tenant_id, &scope),
        variant_totals_of(store, tenant_id, experiment_id)
    )?;
    Ok(Summary::new(overall, variants))
}

/// A scope's hourly buckets between two hour keys (inclusive; an empty low
/// end is open), oldest first.
pub async fn hourly(
    store: &dyn Store,
    tenant_id: &str,
    scope: &Scope,
    low: String,
    high: String,
) -> Result<Vec<(String, BucketTotals)>, StoreError> {
    let items = query_all(
        store,
        Query::partition(keys::buckets_partition(tenant_id, scope)).range(SortRange::Between(low, high)),
    )
    .await?;
    Ok(items.into_iter().map(|(key, item)| (key.sk, bucket_totals_of(&item))).collect())
}

/// The first and last hour a scope has events in, if any.
pub async fn hour_span(
    store: &dyn Store,
    tenant_id: &str,
    scope: &Scope,
) -> Result<Option<(String, String)>, StoreError> {
    let partition = keys::buckets_partition(tenant_id, scope);
    let first = store.query(&Query::partition(partition.clone()).limit(1)).await?;
    let last = store.query(&Query::partition(partition).descending().limit(1)).await?;
    Ok(match (first.items.first(), last.items.first()) {
        (Some((first, _)), Some((last, _))) => Some((first.sk.clone(), last.sk.clone())),
        _ => None,
    })
}
