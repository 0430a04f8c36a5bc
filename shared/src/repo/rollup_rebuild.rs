//! Rebuilding, from the stored events, the rollups range reads need that
//! data stored before they existed lacks: the user sketches
//! ([`super::user_sketches`]) and the hourly buckets of variant names (the
//! `N#` scopes behind a tenant-wide range summary's variant rows).
//!
//! A bounded number of events per call ([`EVENTS_PER_CALL`] from the admin
//! route), within one UTC day, so a
//! call's work is bounded (a Lambda's time limit) and a rebuild resumes
//! where it stopped (`next` and `after` say where). Safe beside the running
//! batch writer, and to run again:
//! - every stored event of the day is merged into its sketches again:
//!   adding a user twice changes nothing;
//! - once a day's events are merged, each of its hours' buckets of a
//!   variant name is set to the sum of that hour's buckets of the
//!   experiments' variants of that name, in a transaction
//!   that checks each of those buckets still holds what was read (or is
//!   still absent). The writer adds to both in one transaction, so a batch
//!   counted meanwhile fails the check, and the hour is read again. Not
//!   covered: an experiment whose first event ever, timestamped within the
//!   day being rebuilt, is counted between the listing of experiments and
//!   the transaction.

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeDelta};
use foldhash::HashMap;
use serde_json::Value;

use super::user_sketches::{self, SketchCache};
use super::{counters, from_item};
use crate::domain::counting::{CONVERSIONS, EVENTS};
use crate::domain::counting::{Scope, ScopeRef};
use crate::domain::event::Event;
use crate::domain::timeseries::parse_hour;
use crate::store::keys;
use crate::store::{Condition, Item, Key, LayoutUse, Query, SortRange, Store, StoreError, WriteOp};

/// Events read and merged per page.
const EVENTS_PER_PAGE: usize = 1_000;
/// Events one call of the admin route merges at most: a few seconds' work.
pub const EVENTS_PER_CALL: u64 = 20_000;
/// Rounds of re-reading an hour a batch writer counted in meanwhile.
const MAX_ATTEMPTS: usize = 8;

/// What one call rebuilt.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuiltDay {
    /// The day rebuilt (in part when `after` is set); none when the
    /// tenant has no events.
    pub day: Option<NaiveDate>,
    /// Stored events merged into sketches.
    pub events: u64,
    /// Variant-name buckets that were missing or short, now set.
    pub buckets_set: u64,
    /// The day to pass to the next call; none when done.
    pub next: Option<NaiveDate>,
    /// Where in `next` to go on (`<event shard>/<stored event's sort key>`) when this call
    /// stopped within a day; pass it with `next`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// The first and last UTC day the tenant has events in.
async fn days_of_data(
    store: &dyn Store,
    tenant_id: &str,
) -> Result<Option<(NaiveDate, NaiveDate)>, StoreError> {
    let span = counters::hour_span(store, tenant_id, &Scope::Tenant).await?;
    Ok(span
        .and_then(|(first, last)| Some((parse_hour(&first)?.date_naive(), parse_hour(&last)?.date_naive()))))
}

/// Where a call stopped within a day: the event shard, and the sort key
/// after which it goes on (`<shard>/<sort key>`; a bare sort key, as
/// calls from before event shards said, is in shard 0).
fn cursor_parts(after: &str) -> (u16, Option<String>) {
    match after.split_once('/') {
        Some((shard, sk)) if !shard.is_empty() && shard.bytes().all(|b| b.is_ascii_digit()) => {
            (shard.parse().unwrap_or(0), Some(sk.to_owned()))
        }
        _ => (0, Some(after.to_owned())),
    }
}

/// Merges the events `query` pages through into their sketches until the
/// call's `budget` is spent; the sort key it stopped after, if it did.
async fn sketch_shard(
    store: &dyn Store,
    sketches: &SketchCache,
    tenant_id: &str,
    mut query: Query,
    budget: u64,
    rebuilt: &mut RebuiltDay,
) -> Result<Option<String>, StoreError> {
    loop {
        let page = store.query(&query).await?;
        let events: Vec<Event> = page
            .items
            .into_iter()
            .map(|(_, mut item)| {
                // Stored events leave their tenant to the key.
                item.insert("tenantId".into(), Value::from(tenant_id));
                from_item(item)
            })
            .collect::<Result<_, _>>()?;
        rebuilt.events += events.len() as u64;
        user_sketches::merge(store, sketches, user_sketches::updates_for(&events)).await?;
        match page.last_sk {
            Some(sk) if rebuilt.events >= budget => return Ok(Some(sk)),
            Some(sk) => query.start_after = Some(sk),
            None => return Ok(None),
        }
    }
}

/// Rebuilds the rollups of `day` (the first day with events when none)
/// from its events after `after` (a sort key; from the start when none),
/// stopping after about `budget` events, and says where the next call goes
/// on.
pub async fn rebuild_day(
    store: &dyn Store,
    sketches: &SketchCache,
    tenant_id: &str,
    (day, after): (Option<NaiveDate>, Option<String>),
    budget: u64,
) -> Result<RebuiltDay, StoreError> {
    store.settle_layout(LayoutUse::Write).await?;
    let Some((first, last)) = days_of_data(store, tenant_id).await? else {
        return Ok(RebuiltDay::default());
    };
    let day = day.unwrap_or(first);
    let next = if day < first {
        Some(first)
    } else if day < last {
        Some(day + TimeDelta::days(1))
    } else {
        None
    };
    let mut rebuilt = RebuiltDay { day: Some(day), next, ..RebuiltDay::default() };
    if day < first || day > last {
        return Ok(rebuilt);
    }

    // 1. Sketches, page by page, up to this call's share, one event shard
    // of the day after the other.
    let page_size = EVENTS_PER_PAGE.min(budget.max(1) as usize);
    let (first_shard, after) = after.as_deref().map_or((0, None), cursor_parts);
    for shard in first_shard..store.layout().event_shards.max(first_shard + 1) {
        let mut query =
            Query::partition(keys::events_partition(tenant_id, &day.to_string(), shard)).limit(page_size);
        query.start_after = if shard == first_shard { after.clone() } else { None };
        if let Some(stopped) = sketch_shard(store, sketches, tenant_id, query, budget, &mut rebuilt).await? {
            rebuilt.next = Some(day);
            rebuilt.after = Some(format!("{shard}/{stopped}"));
            return Ok(rebuilt);
        }
    }

    // 2. Variant-name buckets of the day's hours that have variant events.
    let experiments = experiments_by_variant(store, tenant_id).await?;
    let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let (low, high) = (keys::hour(&midnight), keys::hour(&(midnight + TimeDelta::hours(23))));
    let mut names: Vec<&String> = experiments.keys().collect();
    names.sort();
    for name in names {
        let of_name = &experiments[name];
        let mut hours = BTreeSet::new();
        for experiment in of_name {
            let scope = Scope::Variant(experiment.clone(), name.clone());
            let buckets = counters::hourly(store, tenant_id, &scope, low.clone(), high.clone()).await?;
            hours.extend(buckets.into_iter().map(|(hour, _)| hour));
        }
        for hour in hours {
            if set_variant_name_bucket(store, tenant_id, &hour, name, of_name).await? {
                rebuilt.buckets_set += 1;
            }
        }
    }
    Ok(rebuilt)
}

/// Every experiment with a variant of each name, from the variant counters.
async fn experiments_by_variant(
    store: &dyn Store,
    tenant_id: &str,
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let query = Query::partition(keys::counters_partition(tenant_id)).range(SortRange::Prefix("V#".into()));
    let mut by_name: HashMap<String, Vec<String>> = HashMap::default();
    for (_, item) in crate::store::query_all(store, query).await? {
        let label = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
        if let (Some(experiment), Some(variant)) = (label("experimentId"), label("variant")) {
            by_name.entry(variant).or_default().push(experiment);
        }
    }
    Ok(by_name)
}

/// A bucket's events and conversions (zero when absent).
fn counts(item: Option<&Item>) -> (i64, i64) {
    let totals = item.map(super::counters::bucket_totals_of).unwrap_or_default();
    (totals.events as i64, totals.conversions as i64)
}

/// The condition that an item is still as it was read.
fn unchanged(item: Option<&Item>) -> Condition {
    match item {
        Some(_) => Condition::equals(EVENTS, counts(item).0),
        None => Condition::NotExists,
    }
}

/// Events and conversions of a bucket's shards, summed.
fn summed(shards: &[(Key, Item)]) -> (i64, i64) {
    shards.iter().fold((0, 0), |(e, c), (_, item)| {
        let (events, conversions) = counts(Some(item));
        (e + events, c + conversions)
    })
}

/// Sets the bucket of variant `name` in `hour` to the sum of the buckets of
/// the variants of that name in `experiments` (every shard of each); says
/// whether it changed. The difference is added to the target's shard 0,
/// in a transaction that checks every shard read is unchanged. (A shard
/// the writer creates between the reads and the transaction is not
/// checked: like an experiment's first event, documented above.)
async fn set_variant_name_bucket(
    store: &dyn Store,
    tenant_id: &str,
    hour: &str,
    name: &str,
    experiments: &[String],
) -> Result<bool, StoreError> {
    let target = keys::bucket(tenant_id, ScopeRef::VariantName(name), hour);
    for _ in 0..MAX_ATTEMPTS {
        let mut sources = Vec::new();
        for experiment in experiments {
            sources.extend(
                counters::bucket_items(
                    store,
                    tenant_id,
                    ScopeRef::Variant(experiment, name),
                    hour.into(),
                    hour.into(),
                )
                .await?,
            );
        }
        let targets =
            counters::bucket_items(store, tenant_id, ScopeRef::VariantName(name), hour.into(), hour.into())
                .await?;
        let (events, conversions) = summed(&sources);
        let (current_events, current_conversions) = summed(&targets);
        let add = [
            (EVENTS.to_owned(), events - current_events),
            (CONVERSIONS.to_owned(), conversions - current_conversions),
        ];
        if add.iter().all(|(_, delta)| *delta == 0) {
            return Ok(false);
        }
        let target_item = targets.iter().find(|(key, _)| *key == target).map(|(_, item)| item);
        let mut writes: Vec<WriteOp> = sources
            .iter()
            .chain(targets.iter().filter(|(key, _)| *key != target))
            .map(|(key, item)| WriteOp::Check { key: key.clone(), condition: unchanged(Some(item)) })
            .collect();
        writes.push(WriteOp::Update {
            key: target.clone(),
            add: add.into_iter().collect(),
            set: Item::new(),
            condition: unchanged(target_item),
        });
        if writes.len() > store.max_transaction_writes() {
            return Err(StoreError::Invalid(format!(
                "variant {name:?} has {} bucket shards in {hour}: more than one transaction can check",
                writes.len() - 1
            )));
        }
        match store.transact(writes).await {
            Ok(()) => return Ok(true),
            Err(StoreError::ConditionFailed { .. } | StoreError::Conflict) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Conflict)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet as StdHashSet};
    use std::sync::Arc;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::event::EventType;
    use crate::domain::summary::Summary;
    use crate::repo::events::{WriterMemory, store_events};
    use crate::repo::rollups::summary_between;
    use crate::repo::sketch_unions::SketchUnions;
    use crate::store::query_all;
    use crate::store::sqlite::SqliteStore;

    const TENANT: &str = "t";
    const EXPERIMENTS: [&str; 2] = ["exp-1", "exp-2"];
    const VARIANTS: [&str; 2] = ["A", "B"];

    /// `count` events over three days, of 300 users in two experiments
    /// sharing variant names, and some untagged.
    fn events(count: u64) -> Vec<Event> {
        let start: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let spacing_ms = 3 * 86_400_000 / count as i64;
        (0..count)
            .map(|i| {
                let tagged = i % 5 != 0;
                let experiment = EXPERIMENTS[(i % 2) as usize];
                Event {
                    id: format!("e{i}"),
                    tenant_id: TENANT.into(),
                    user_id: format!("user-{}", (i * 7_919) % 300),
                    event_type: if i % 7 == 0 { EventType::Conversion } else { EventType::PageView },
                    experiment_id: tagged.then(|| experiment.to_owned()),
                    variant: tagged.then(|| VARIANTS[((i / 2) % 2) as usize].to_owned()),
                    properties: Default::default(),
                    timestamp: start + TimeDelta::milliseconds(i as i64 * spacing_ms),
                }
            })
            .collect()
    }

    fn range() -> (DateTime<Utc>, DateTime<Utc>) {
        ("2026-11-01T00:00:00Z".parse().unwrap(), "2026-11-03T23:59:59.999999Z".parse().unwrap())
    }

    async fn summary_of(store: &dyn Store) -> Summary {
        let (start, end) = range();
        summary_between(store, &SketchUnions::default(), TENANT, None, start, end).await.unwrap()
    }

    /// Deletes every item of a partition.
    async fn clear(store: &dyn Store, partition: String) {
        let items = query_all(store, Query::partition(partition)).await.unwrap();
        for chunk in items.chunks(25) {
            let deletes = chunk
                .iter()
                .map(|(key, _)| WriteOp::Delete { key: key.clone(), condition: Condition::Always });
            store.transact(deletes.collect()).await.unwrap();
        }
    }

    fn assert_close(got: u64, want: usize, what: &str) {
        let error = got.abs_diff(want as u64) as f64 / want as f64;
        assert!(error <= 0.02, "{what}: {got}, recount {want}");
    }

    async fn old_data_is_rebuilt_to_match_a_recount(store: Arc<dyn Store>, count: u64) {
        let store = store.as_ref();
        let events = events(count);
        store_events(store, &WriterMemory::default(), events.clone()).await.unwrap();

        // As a version before sketches and variant-name buckets left it.
        let mut scopes = vec![ScopeRef::Tenant];
        for experiment in EXPERIMENTS {
            scopes.push(ScopeRef::Experiment(experiment));
            scopes.extend(VARIANTS.map(|variant| ScopeRef::Variant(experiment, variant)));
        }
        scopes.extend(VARIANTS.map(ScopeRef::VariantName));
        for &scope in &scopes {
            clear(store, keys::sketches_partition(TENANT, scope, 0)).await;
        }
        for variant in VARIANTS {
            clear(store, keys::buckets_partition(TENANT, ScopeRef::VariantName(variant), 0)).await;
        }
        let stale = summary_of(store).await;
        assert_eq!(stale.total_events, count);
        assert_eq!(stale.unique_users, 0, "no sketches, no users");
        assert!(stale.variants.is_empty(), "no variant-name buckets, no rows: {:?}", stale.variants);

        // Every day, following `next`, with a writer's memory of its own.
        // A budget of a third of a day: each day takes three or four calls.
        let memory = WriterMemory::default();
        let mut at = (None, None);
        let mut calls = Vec::new();
        loop {
            let report = rebuild_day(store, &memory.sketches, TENANT, at, count / 9).await.unwrap();
            calls.push((report.day.unwrap().to_string(), report.events));
            match report.next {
                Some(next) => at = (Some(next), report.after),
                None => break,
            }
        }
        let mut days: Vec<&str> = calls.iter().map(|(day, _)| day.as_str()).collect();
        days.dedup();
        assert_eq!(days, ["2026-11-01", "2026-11-02", "2026-11-03"]);
        assert!(calls.len() >= 9, "{calls:?}");
        assert_eq!(calls.iter().map(|(_, events)| events).sum::<u64>(), count, "each event once");

        let summary = summary_of(store).await;
        assert_eq!(summary.total_events, count);
        let users: StdHashSet<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
        assert_close(summary.unique_users, users.len(), "users");
        let mut by_variant: BTreeMap<&str, (u64, u64, StdHashSet<&str>)> = BTreeMap::new();
        for event in events.iter().filter(|e| e.experiment_id.is_some()) {
            let row = by_variant.entry(event.variant.as_deref().unwrap()).or_default();
            row.0 += 1;
            row.1 += u64::from(event.event_type == EventType::Conversion);
            row.2.insert(&event.user_id);
        }
        assert_eq!(summary.variants.len(), by_variant.len());
        for (name, (events, conversions, users)) in by_variant {
            let row = &summary.variants[name];
            assert_eq!((row.events, row.conversions), (events, conversions), "variant {name}");
            assert_close(row.users, users.len(), name);
        }

        // Again: nothing left to set, the same answer.
        for day in ["2026-11-01", "2026-11-02", "2026-11-03"] {
            let again =
                rebuild_day(store, &memory.sketches, TENANT, (day.parse().ok(), None), count).await.unwrap();
            assert_eq!((again.events, again.buckets_set), (count / 3, 0), "{day}");
        }
        let again = summary_of(store).await;
        assert_eq!((again.total_events, again.unique_users), (summary.total_events, summary.unique_users));
        // Outside the data: nothing to do, and the way back to it.
        let before = rebuild_day(store, &memory.sketches, TENANT, ("2026-10-01".parse().ok(), None), count)
            .await
            .unwrap();
        assert_eq!((before.events, before.next), (0, "2026-11-01".parse().ok()));
        let empty = rebuild_day(store, &memory.sketches, "nobody", (None, None), count).await.unwrap();
        assert_eq!(empty, RebuiltDay::default());
    }

    #[tokio::test]
    async fn embedded_old_data_is_rebuilt_to_match_a_recount() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        old_data_is_rebuilt_to_match_a_recount(Arc::new(store), 3_000).await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_old_data_is_rebuilt_to_match_a_recount() {
        // moto's transactions are slow (scripts/moto_server.py): fewer events.
        old_data_is_rebuilt_to_match_a_recount(crate::aws::testing::fresh_context().await.store, 900).await;
    }
}
