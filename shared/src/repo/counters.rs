//! Reading the running totals the batch writer maintains. A summary costs
//! two queries, one for the scope's counter and one over the variants:
//! O(variants × shards in use), whatever the number of events.
//!
//! Counters and buckets may be split into shards ([`keys::on_shard`]): the
//! shards of a counter share its partition and sort-key prefix, so the same
//! query finds them all, and readers sum what they find. A shard's counts
//! may be negative (a user's `newUsers` credit leaves one hour's bucket on
//! one shard after another shard added it), so shards are summed as signed
//! numbers and only the sum is taken as a count.

use serde_json::Value;

use std::collections::HashMap;

use crate::domain::arm_sums::{self, ArmSums};
use crate::domain::counting::{
    CONVERSIONS, CONVERTED_USERS, EVENTS, NEW_CONVERTED_USERS, NEW_USERS, Scope, ScopeRef, USERS,
};
use crate::domain::metric::{self, MetricSums};
use crate::domain::summary::{Summary, Totals};
use crate::domain::timeseries::BucketTotals;
use crate::store::keys;
use crate::store::{Item, Key, Query, SortRange, Store, StoreError, query_all};

/// The counts of a counter, bucket or sums item, in the order of `names`,
/// added to `sums` (absent counts are 0).
fn add_counts<const N: usize>(sums: &mut [i64; N], item: &Item, names: [&str; N]) {
    for (sum, name) in sums.iter_mut().zip(names) {
        *sum += item.get(name).and_then(Value::as_i64).unwrap_or(0);
    }
}

fn count(sum: i64) -> u64 {
    u64::try_from(sum).unwrap_or(0)
}

const COUNTER_COUNTS: [&str; 4] = [EVENTS, USERS, CONVERSIONS, CONVERTED_USERS];
const BUCKET_COUNTS: [&str; 4] = [EVENTS, CONVERSIONS, NEW_USERS, NEW_CONVERTED_USERS];

fn totals_of_sums([events, users, conversions, converted_users]: [i64; 4]) -> Totals {
    Totals {
        events: count(events),
        users: count(users),
        conversions: count(conversions),
        converted_users: count(converted_users),
    }
}

fn bucket_totals_of_sums([events, conversions, new_users, new_converted_users]: [i64; 4]) -> BucketTotals {
    BucketTotals {
        events: count(events),
        conversions: count(conversions),
        new_users: count(new_users),
        new_converted_users: count(new_converted_users),
    }
}

/// The running totals a counter item holds (absent counts are 0).
pub fn totals_of(item: &Item) -> Totals {
    let mut sums = [0; 4];
    add_counts(&mut sums, item, COUNTER_COUNTS);
    totals_of_sums(sums)
}

/// What an hourly bucket item counts (absent counts are 0).
pub fn bucket_totals_of(item: &Item) -> BucketTotals {
    let mut sums = [0; 4];
    add_counts(&mut sums, item, BUCKET_COUNTS);
    bucket_totals_of_sums(sums)
}

/// A scope's all-time totals: the sum of its counter's shards.
pub async fn totals(store: &dyn Store, tenant_id: &str, scope: &Scope) -> Result<Totals, StoreError> {
    let counter = keys::counter(tenant_id, scope);
    let shards =
        query_all(store, Query::partition(counter.pk.clone()).range(SortRange::Prefix(counter.sk.clone())))
            .await?;
    let mut sums = [0; 4];
    for (key, item) in &shards {
        if keys::is_shard_of(&key.sk, &counter.sk) {
            add_counts(&mut sums, item, COUNTER_COUNTS);
        }
    }
    Ok(totals_of_sums(sums))
}

/// Variant name, totals and per-user sums ([`ArmSums`], which an
/// experiment arm's counter holds beside its counts; zero for variant
/// names') of every variant counter under a sort-key prefix, their shards
/// summed, in sort-key order.
async fn variant_items(
    store: &dyn Store,
    tenant_id: &str,
    prefix: String,
) -> Result<Vec<(String, Totals, ArmSums)>, StoreError> {
    let items = query_all(
        store,
        Query::partition(keys::counters_partition(tenant_id)).range(SortRange::Prefix(prefix)),
    )
    .await?;
    let mut variants: Vec<(String, [i64; 4], [i64; 5])> = Vec::new();
    let mut position: foldhash::HashMap<String, usize> = foldhash::HashMap::default();
    for (_, item) in items {
        let Some(name) = item.get("variant").and_then(Value::as_str) else { continue };
        let at = *position.entry(name.to_owned()).or_insert_with(|| {
            variants.push((name.to_owned(), [0; 4], [0; 5]));
            variants.len() - 1
        });
        add_counts(&mut variants[at].1, &item, COUNTER_COUNTS);
        add_counts(&mut variants[at].2, &item, arm_sums::ATTRIBUTES);
    }
    Ok(variants
        .into_iter()
        .map(|(name, sums, arm)| (name, totals_of_sums(sums), ArmSums::of_array(arm)))
        .collect())
}

async fn variant_totals(
    store: &dyn Store,
    tenant_id: &str,
    prefix: String,
) -> Result<Vec<(String, Totals)>, StoreError> {
    let items = variant_items(store, tenant_id, prefix).await?;
    Ok(items.into_iter().map(|(name, totals, _)| (name, totals)).collect())
}

/// Totals of each variant of one experiment that has seen events.
pub async fn experiment_variants(
    store: &dyn Store,
    tenant_id: &str,
    experiment_id: &str,
) -> Result<Vec<(String, Totals)>, StoreError> {
    variant_totals(store, tenant_id, keys::variant_counters_prefix(experiment_id)).await
}

/// Totals and per-user sums of each variant of one experiment that has
/// seen events (the same one query as [`experiment_variants`]).
pub async fn experiment_arms(
    store: &dyn Store,
    tenant_id: &str,
    experiment_id: &str,
) -> Result<Vec<(String, Totals, ArmSums)>, StoreError> {
    variant_items(store, tenant_id, keys::variant_counters_prefix(experiment_id)).await
}

/// The sums of each defined metric (by digest) in each arm (by variant
/// name) of one experiment, their shards summed: one query, O(variants ×
/// metrics × shards in use).
pub async fn experiment_metric_sums(
    store: &dyn Store,
    tenant_id: &str,
    experiment_id: &str,
) -> Result<HashMap<(String, String), MetricSums>, StoreError> {
    let query = Query::partition(keys::counters_partition(tenant_id))
        .range(SortRange::Prefix(keys::metric_sums_prefix(experiment_id)));
    let mut sums: HashMap<(String, String), [i64; 5]> = HashMap::new();
    for (_, item) in query_all(store, query).await? {
        let label = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(variant), Some(metric)) = (label("variant"), label("metric")) else { continue };
        add_counts(sums.entry((variant, metric)).or_default(), &item, metric::ATTRIBUTES);
    }
    Ok(sums.into_iter().map(|(key, sums)| (key, MetricSums::of_array(sums))).collect())
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
/// end is open), oldest first, each hour's shards summed over the scope's
/// bucket partitions.
pub async fn hourly(
    store: &dyn Store,
    tenant_id: &str,
    scope: &Scope,
    low: String,
    high: String,
) -> Result<Vec<(String, BucketTotals)>, StoreError> {
    let mut hours: std::collections::BTreeMap<String, [i64; 4]> = std::collections::BTreeMap::new();
    for (key, item) in bucket_items(store, tenant_id, scope.into(), low, high).await? {
        let sums = hours.entry(keys::unsharded(&key.sk).to_owned()).or_default();
        add_counts(sums, &item, BUCKET_COUNTS);
    }
    Ok(hours.into_iter().map(|(hour, sums)| (hour, bucket_totals_of_sums(sums))).collect())
}

/// Every shard item of a scope's buckets of the hours `low..=high`, from
/// each of its bucket partitions (read at once), partition by partition.
pub async fn bucket_items(
    store: &dyn Store,
    tenant_id: &str,
    scope: ScopeRef<'_>,
    low: String,
    high: String,
) -> Result<Vec<(Key, Item)>, StoreError> {
    let range = SortRange::Between(low, keys::last_shard_sk(&high));
    let partitions = (0..store.layout().bucket_partitions).map(|partition| {
        let query =
            Query::partition(keys::buckets_partition(tenant_id, scope, partition)).range(range.clone());
        query_all(store, query)
    });
    Ok(futures_util::future::try_join_all(partitions).await?.into_iter().flatten().collect())
}

/// The first and last hour a scope has events in, if any: the ends of its
/// bucket partitions.
pub async fn hour_span(
    store: &dyn Store,
    tenant_id: &str,
    scope: &Scope,
) -> Result<Option<(String, String)>, StoreError> {
    let ends = (0..store.layout().bucket_partitions).map(|partition| async move {
        let partition = keys::buckets_partition(tenant_id, scope, partition);
        let first = store.query(&Query::partition(partition.clone()).limit(1)).await?;
        let last = store.query(&Query::partition(partition).descending().limit(1)).await?;
        Ok::<_, StoreError>(match (first.items.first(), last.items.first()) {
            (Some((first, _)), Some((last, _))) => {
                Some((keys::unsharded(&first.sk).to_owned(), keys::unsharded(&last.sk).to_owned()))
            }
            _ => None,
        })
    });
    let spans = futures_util::future::try_join_all(ends).await?;
    Ok(spans.into_iter().flatten().reduce(|(first, last), (low, high)| (first.min(low), last.max(high))))
}
