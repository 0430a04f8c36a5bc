//! Date-range questions answered from rollups, never by reading every
//! event in the range.
//!
//! A range is split into the whole hours it covers and the parts of an
//! hour at its ends. Whole hours are read from rollups: events and
//! conversions from each scope's hourly buckets (exact), users from the
//! sketches of the UTC days and hours they span ([`user_sketches`],
//! estimates). The parts of an hour at either end (an instant such as
//! `10:30` rather than a day) are read from the stored events of those two
//! hours at most, so counts stay exact for any instant; dates, as the
//! dashboard sends them, have no such parts. The cost is O(hours and days
//! in the range + events in its two edge hours), whatever the range holds.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::sketch_unions::SketchUnions;
use super::user_sketches::{RangeSketches, hour_number, stored_in_hours};
use super::{counters, from_item};
use crate::domain::counting::{Membership, Scope};
use crate::domain::distinct::{UserSketch, UserUnion, coupon_of};
use crate::domain::event::EventType;
use crate::domain::summary::{EventRecord, Summary, Totals};
use crate::store::keys;
use crate::store::{Query, SortRange, Store, StoreError, query_all};

/// What a range adds up to in one scope: its counts, and its users still
/// as the stored sketches and the edge events' users, to be unioned.
#[derive(Default)]
struct Tally {
    events: u64,
    conversions: u64,
    /// One per sketch shard.
    seen: Vec<RangeSketches>,
    converted: Vec<RangeSketches>,
    edge: EdgeUsers,
}

/// Users of the events at a range's edges.
#[derive(Default)]
struct EdgeUsers {
    seen: UserSketch,
    converted: UserSketch,
}

/// The users of every tally, unioned: CPU work (a dense sketch has 16,384
/// registers), spread over one blocking thread per core.
async fn union_all(unions: &SketchUnions, tallies: &mut [Tally]) -> Result<Vec<(u64, u64)>, StoreError> {
    let jobs: Vec<(Vec<RangeSketches>, UserSketch)> = tallies
        .iter_mut()
        .flat_map(|tally| {
            let edge = std::mem::take(&mut tally.edge);
            [
                (std::mem::take(&mut tally.seen), edge.seen),
                (std::mem::take(&mut tally.converted), edge.converted),
            ]
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len().max(1));
    let per_thread = jobs.len().div_ceil(threads).max(1);
    let mut jobs = jobs.into_iter().peekable();
    let mut running = Vec::new();
    while jobs.peek().is_some() {
        let part: Vec<_> = jobs.by_ref().take(per_thread).collect();
        let unions = unions.clone();
        running.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|(shards, edge)| {
                    let mut union = UserUnion::default();
                    for stored in &shards {
                        let shard =
                            unions.union_of(stored).map_err(|err| StoreError::Internal(err.to_string()))?;
                        union.absorb(&shard);
                    }
                    union.add(&edge);
                    Ok(union.users())
                })
                .collect::<Result<Vec<u64>, StoreError>>()
        }));
    }
    let mut users = Vec::with_capacity(tallies.len() * 2);
    for job in running {
        users.extend(job.await.map_err(|err| StoreError::Internal(format!("union of sketches: {err}")))??);
    }
    Ok(users.chunks(2).map(|pair| (pair[0], pair[1])).collect())
}

/// The whole hours (since the Unix epoch) `start..=end` covers entirely,
/// and the instants before and after them.
struct Split {
    whole: Option<(i64, i64)>,
    /// At most two spans of instants, each within one hour.
    edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn split(start: DateTime<Utc>, end: DateTime<Utc>) -> Split {
    let hour = TimeDelta::hours(1);
    let floor = |at: DateTime<Utc>| DateTime::from_timestamp(hour_number(&at) * 3600, 0).unwrap_or(at);
    // The first hour starting at or after `start`; the last ending by `end`.
    let first = if floor(start) == start { hour_number(&start) } else { hour_number(&start) + 1 };
    let last_end = end + TimeDelta::microseconds(1);
    let last = hour_number(&last_end) - 1;
    if first > last {
        // Within one hour, or across one hour's end.
        let boundary = floor(end);
        if boundary > start {
            return Split {
                whole: None,
                edges: vec![(start, boundary - TimeDelta::microseconds(1)), (boundary, end)],
            };
        }
        return Split { whole: None, edges: vec![(start, end)] };
    }
    let mut edges = Vec::new();
    let first_start = DateTime::from_timestamp(first * 3600, 0).unwrap_or(start);
    if start < first_start {
        edges.push((start, first_start - TimeDelta::microseconds(1)));
    }
    let after_last = DateTime::from_timestamp(last * 3600, 0).unwrap_or(end) + hour;
    if after_last <= end {
        edges.push((after_last, end));
    }
    Split { whole: Some((first, last)), edges }
}

/// The summary of a tenant's (or one experiment's) events within
/// `start..=end`: the same figures as the all-time summary, users
/// estimated ([`Summary::users_approximate`]).
pub async fn summary_between(
    store: &dyn Store,
    unions: &SketchUnions,
    tenant_id: &str,
    experiment_id: Option<&str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Summary, StoreError> {
    let overall_scope = match experiment_id {
        Some(experiment) => Scope::Experiment(experiment.to_owned()),
        None => Scope::Tenant,
    };
    let variant_scope = |name: &str| match experiment_id {
        Some(experiment) => Scope::Variant(experiment.to_owned(), name.to_owned()),
        None => Scope::VariantName(name.to_owned()),
    };
    let names: Vec<String> = counters::variant_totals_of(store, tenant_id, experiment_id)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect();

    let mut overall = Tally::default();
    let mut variants: BTreeMap<String, Tally> = BTreeMap::new();
    let Split { whole, edges } = split(start, end);
    if let Some((first, last)) = whole {
        add_whole_hours(store, unions, tenant_id, &overall_scope, first, last, &mut overall).await?;
        for name in &names {
            let tally = variants.entry(name.clone()).or_default();
            add_whole_hours(store, unions, tenant_id, &variant_scope(name), first, last, tally).await?;
        }
    }
    for (from, to) in edges {
        for record in events_between(store, tenant_id, from, to).await? {
            if experiment_id.is_some() && record.experiment_id.as_deref() != experiment_id {
                continue;
            }
            let conversion = record.event_type == EventType::Conversion;
            count_edge_event(&mut overall, &record.user_id, conversion);
            // Variants group events with both an experiment and a variant,
            // as the counters do.
            if let (Some(_), Some(variant)) = (&record.experiment_id, &record.variant) {
                count_edge_event(variants.entry(variant.clone()).or_default(), &record.user_id, conversion);
            }
        }
    }
    let (names, mut tallies): (Vec<String>, Vec<Tally>) =
        variants.into_iter().filter(|(_, tally)| tally.events > 0).unzip();
    tallies.push(overall);
    let users = union_all(unions, &mut tallies).await?;
    let mut totals = tallies.iter().zip(users).map(|(tally, (users, converted_users))| Totals {
        events: tally.events,
        users,
        conversions: tally.conversions,
        converted_users,
    });
    let rows: Vec<(String, Totals)> = names.into_iter().zip(totals.by_ref()).collect();
    let overall = totals.next().unwrap_or_default();
    let mut summary = Summary::new(overall, rows);
    summary.users_approximate = true;
    Ok(summary)
}

fn count_edge_event(tally: &mut Tally, user_id: &str, conversion: bool) {
    let coupon = coupon_of(user_id);
    tally.events += 1;
    tally.edge.seen.add(coupon);
    if conversion {
        tally.conversions += 1;
        tally.edge.converted.add(coupon);
    }
}

/// Adds a scope's whole hours `first..=last` to `tally`: its buckets, and
/// the sketches its users' union needs besides what `unions` remembers.
async fn add_whole_hours(
    store: &dyn Store,
    unions: &SketchUnions,
    tenant_id: &str,
    scope: &Scope,
    first: i64,
    last: i64,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    let (low, high) = (keys::hour_numbered(first), keys::hour_numbered(last));
    for (_, bucket) in counters::hourly(store, tenant_id, scope, low, high).await? {
        tally.events += bucket.events;
        tally.conversions += bucket.conversions;
    }
    // Every sketch shard's, read at once (a tenant no two writers merged
    // for at once has sketches in shard 0 only; the others answer empty).
    for (kind, stored) in [(Membership::Seen, &mut tally.seen), (Membership::Converted, &mut tally.converted)]
    {
        let shards = (0..store.layout().sketch_shards).map(|shard| {
            let reuse = |partition: &str, days: &[(String, i64)]| unions.reusable(partition, days);
            stored_in_hours(store, (tenant_id, scope, shard), kind, first, last, reuse)
        });
        *stored = futures_util::future::try_join_all(shards).await?;
    }
    Ok(())
}

/// The events stored within `from..=to` (which lies within one hour, so
/// within one day), from each of the day's event shards.
async fn events_between(
    store: &dyn Store,
    tenant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<EventRecord>, StoreError> {
    let low = keys::sort_time(&from);
    let high = format!("{}#\u{10FFFF}", keys::sort_time(&to));
    let day = keys::day(&from);
    let shards = (0..store.layout().event_shards).map(|shard| {
        let query = Query::partition(keys::events_partition(tenant_id, &day, shard))
            .range(SortRange::Between(low.clone(), high.clone()));
        query_all(store, query)
    });
    let mut events = Vec::new();
    for shard in futures_util::future::try_join_all(shards).await? {
        for (_, item) in shard {
            events.push(from_item(item)?);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_range_splits_into_whole_hours_and_edges_within_an_hour() {
        let h = |text: &str| hour_number(&at(text));
        let days = split(at("2026-11-01T00:00:00Z"), at("2026-11-03T23:59:59.999999Z"));
        assert_eq!(days.whole, Some((h("2026-11-01T00:00:00Z"), h("2026-11-03T23:00:00Z"))));
        assert!(days.edges.is_empty());
        let instants = split(at("2026-11-01T10:30:00Z"), at("2026-11-01T13:15:00Z"));
        assert_eq!(instants.whole, Some((h("2026-11-01T11:00:00Z"), h("2026-11-01T12:00:00Z"))));
        assert_eq!(
            instants.edges,
            [
                (at("2026-11-01T10:30:00Z"), at("2026-11-01T10:59:59.999999Z")),
                (at("2026-11-01T13:00:00Z"), at("2026-11-01T13:15:00Z")),
            ]
        );
        // Within one hour, or an end exactly on the hour.
        let inside = split(at("2026-11-01T10:30:00Z"), at("2026-11-01T10:40:00Z"));
        assert_eq!((inside.whole, inside.edges.len()), (None, 1));
        let across = split(at("2026-11-01T23:30:00Z"), at("2026-11-02T00:15:00Z"));
        assert_eq!(across.whole, None);
        assert_eq!(
            across.edges,
            [
                (at("2026-11-01T23:30:00Z"), at("2026-11-01T23:59:59.999999Z")),
                (at("2026-11-02T00:00:00Z"), at("2026-11-02T00:15:00Z")),
            ]
        );
        let on = split(at("2026-11-01T10:30:00Z"), at("2026-11-01T12:00:00Z"));
        assert_eq!(on.whole, Some((h("2026-11-01T11:00:00Z"), h("2026-11-01T11:00:00Z"))));
        assert_eq!(on.edges[1], (at("2026-11-01T12:00:00Z"), at("2026-11-01T12:00:00Z")));
    }
}
