//! Storing events exactly once, and reading them back by time.

use std::collections::BTreeSet;

use foldhash::{HashSet, HashSetExt};

use super::known_members::KnownMembers;
use crate::domain::counting::{self, membership_keys};
use crate::domain::event::Event;
use crate::domain::summary::{EventRecord, Summarizer, Summary};
use crate::domain::time_range::TimeRange;
use crate::store::keys::{self, Scope};
use crate::store::{Key, Query, SortRange, Store, StoreError};

/// Attempts at a batch when concurrent writers keep invalidating our reads.
const MAX_ATTEMPTS: usize = 8;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Events stored and counted by this call.
    pub stored: usize,
    /// Events skipped because their id was already stored (or repeated).
    pub duplicates: usize,
    /// Store transactions committed.
    pub transactions: usize,
}

/// Stores and counts every event whose id this tenant has not stored yet.
///
/// Safe to call again with the same events after any failure, at any
/// point: committed transactions marked their events, and the retry skips
/// them. Safe against concurrent writers too: a transaction whose reads
/// went stale fails its conditions and is re-planned from fresh reads.
///
/// `members` spares the reads of memberships already seen to exist; pass
/// the same one to every call a process makes.
pub async fn store_events(
    store: &dyn Store,
    members: &KnownMembers,
    events: Vec<Event>,
) -> Result<WriteReport, StoreError> {
    let mut report = WriteReport::default();
    let first_of_id: Vec<bool> = {
        let mut seen = HashSet::with_capacity(events.len());
        events.iter().map(|event| seen.insert((event.tenant_id.as_str(), event.id.as_str()))).collect()
    };
    let mut pending: Vec<Event> = Vec::with_capacity(events.len());
    for (event, first) in events.into_iter().zip(first_of_id) {
        if first {
            pending.push(event);
        } else {
            report.duplicates += 1;
        }
    }

    let mut attempt = 0;
    while !pending.is_empty() {
        attempt += 1;
        // The first attempt assumes every id is new, as it almost always
        // is, and reads no id markers: each transaction puts its events'
        // markers on condition that they do not exist, so an id stored
        // already fails its transaction, and the next attempt reads the
        // markers and drops the duplicates. Only a redelivery or a client's
        // retry pays for that; the common batch saves a read of every id.
        if attempt > 1 {
            report.duplicates += drop_stored(store, &mut pending).await?;
            if pending.is_empty() {
                break;
            }
        }

        let wanted = membership_keys(&pending);
        let is_known = members.known(&wanted);
        let unknown: Vec<Key> =
            wanted.into_iter().zip(is_known).filter_map(|(key, known)| (!known).then_some(key)).collect();
        let found = store.exist_before_write(&unknown).await?;
        let mut absent = HashSet::new();
        let mut present = Vec::new();
        for (key, exists) in unknown.into_iter().zip(found) {
            if exists {
                present.push(key);
            } else {
                absent.insert(key);
            }
        }
        members.remember(&present);

        let plan = counting::plan(&pending, &absent, store.max_transaction_writes());
        let mut committed = 0;
        let mut failure = None;
        for transaction in plan {
            match store.transact(transaction.writes).await {
                Ok(()) => {
                    committed += transaction.events;
                    report.transactions += 1;
                    members.remember(&transaction.new_members);
                }
                Err(err @ (StoreError::ConditionFailed { .. } | StoreError::Conflict)) => {
                    failure = Some(err);
                    break;
                }
                Err(err) => return Err(err),
            }
        }
        report.stored += committed;
        pending.drain(..committed);
        if let Some(err) = failure {
            if attempt >= MAX_ATTEMPTS {
                return Err(err);
            }
            tracing::debug!(attempt, "batch raced another writer; re-planning from fresh reads");
        }
    }
    Ok(report)
}

/// Drops the events whose id markers the store has; returns how many.
async fn drop_stored(store: &dyn Store, pending: &mut Vec<Event>) -> Result<usize, StoreError> {
    let markers: Vec<_> = pending.iter().map(|e| keys::event_marker(&e.tenant_id, &e.id)).collect();
    let stored = store.exist_before_write(&markers).await?;
    let before = pending.len();
    let mut stored = stored.into_iter();
    pending.retain(|_| !stored.next().unwrap_or(false));
    Ok(before - pending.len())
}

/// The hours (`YYYY-MM-DDTHH`) in which a scope has events, within a range.
async fn active_hours(
    store: &dyn Store,
    tenant_id: &str,
    scope: &Scope,
    range: &TimeRange,
) -> Result<Vec<String>, StoreError> {
    let low = range.start.map(|t| keys::hour(&t)).unwrap_or_default();
    let high = range.end.map(|t| keys::hour(&t)).unwrap_or_else(|| "\u{10FFFF}".to_owned());
    let buckets = super::counters::hourly(store, tenant_id, scope, low, high).await?;
    Ok(buckets.into_iter().map(|(hour, _)| hour).collect())
}

/// Summarises a tenant's events within a time range exactly, by reading
/// the events of the days that have any (found through the hourly
/// buckets, so empty days cost nothing).
pub async fn summarize_range(
    store: &dyn Store,
    tenant_id: &str,
    range: &TimeRange,
    experiment_id: Option<&str>,
) -> Result<Summary, StoreError> {
    let scope = match experiment_id {
        Some(experiment) => Scope::Experiment(experiment.to_owned()),
        None => Scope::Tenant,
    };
    let days: BTreeSet<String> = active_hours(store, tenant_id, &scope, range)
        .await?
        .into_iter()
        .map(|hour| hour[..10].to_owned())
        .collect();
    let low = range.start.map(|t| keys::sort_time(&t)).unwrap_or_default();
    let high = range
        .end
        .map(|t| format!("{}#\u{10FFFF}", keys::sort_time(&t)))
        .unwrap_or_else(|| "\u{10FFFF}".to_owned());
    let mut summarizer = Summarizer::new(experiment_id);
    for day in days {
        let mut query = Query::partition(keys::events_partition(tenant_id, &day))
            .range(SortRange::Between(low.clone(), high.clone()))
            .limit(5000);
        loop {
            let page = store.query(&query).await?;
            for (_, item) in page.items {
                let record: EventRecord = super::from_item(item)?;
                summarizer.add(&record);
            }
            match page.last_sk {
                Some(sk) => query.start_after = Some(sk),
                None => break,
            }
        }
    }
    Ok(summarizer.finish())
}
