//! The users of each scope per hour and per UTC day, as sketches
//! ([`crate::domain::distinct`]) the batch writer merges events into and
//! range reads union.
//!
//! Merging happens before a batch's counting transactions, for every event
//! of the batch, duplicates included: adding a user to a sketch again
//! changes nothing, so every delivery of a batch merges again, and once the
//! counters show an event its user is in the sketches too. (An event the
//! store refuses for good after its merge leaves its user in a sketch:
//! such events are set aside for redrive, and rare.) Each sketch item carries a version
//! `v`; a write is conditional on the version read, and a writer that lost
//! the race reads the item again and re-applies its users.
//!
//! The writer keeps the sketches it read or wrote in memory (two bounded
//! generations, like [`super::known_members`]): a busy scope's sketch is
//! then read once per process, and written only when the batch changed it,
//! which a dense sketch seldom is by returning users.

use chrono::{DateTime, Utc};
use datasketches::hll::Coupon;
use foldhash::HashMap;
use serde_json::Value;

use super::hot_shards::Draws;
use super::two_generations::TwoGenerations;
use crate::domain::counting::{Membership, ScopeRef};
use crate::domain::counting::{membership_kinds, scopes};
use crate::domain::distinct::{UserSketch, UserUnion, coupon_of, cover};
use crate::domain::event::Event;
use crate::store::keys::{self, Period};
use crate::store::retry::{Attempt, backoff_delay};
use crate::store::{Condition, Item, Key, Query, SortRange, Store, StoreError, WriteOp, query_all};

const SKETCH: &str = "hll";
const VERSION: &str = "v";

/// Sketches per generation of the cache: a dense one is about 8 KiB.
const CACHE_CAPACITY: usize = 512;
/// Sketches a merge holds in memory at once.
const SKETCHES_PER_PART: usize = 256;
/// Sketch writes per transaction: about 11 KiB each when dense (a day's
/// with its version marker, two writes).
const WRITES_PER_TRANSACTION: usize = 25;
/// Rounds of re-reading sketches another writer changed meanwhile.
const MAX_ATTEMPTS: usize = 8;

#[derive(Clone, Default)]
struct Cached {
    /// The stored item's version; 0 when there is no item yet.
    version: i64,
    sketch: UserSketch,
}

/// The sketches this process read or wrote, with their versions, and the
/// sketch shard it merges each tenant's users into.
pub struct SketchCache {
    // A tokio mutex, held across the store calls of a merge: two writers of
    // one process then never race each other for the same sketch.
    memory: tokio::sync::Mutex<Memory>,
}

struct Memory {
    sketches: TwoGenerations<Key, Cached>,
    /// Per tenant, the sketch shard this writer merges into: 0 until
    /// another writer's merge into the same sketches got in the way, then
    /// one drawn at random, kept while it works. A tenant no two writers
    /// merge for at once keeps to shard 0, so its range reads find one
    /// partition per scope with sketches in it.
    homes: HashMap<String, u16>,
    draws: Draws,
}

/// Tenants whose sketch shard a writer remembers (past this, it forgets
/// them all: they start again from shard 0).
const MAX_HOMES: usize = 10_000;

impl Memory {
    fn home(&self, tenant_id: &str, shards: u16) -> u16 {
        self.homes.get(tenant_id).map_or(0, |&home| home % shards.max(1))
    }

    /// Moves `tenant_id`'s sketches to another shard than `from`.
    fn leave(&mut self, tenant_id: &str, from: u16, shards: u16) {
        if shards <= 1 {
            return;
        }
        if self.homes.len() >= MAX_HOMES {
            self.homes.clear();
        }
        let to = self.draws.other_shard(from, shards);
        self.homes.insert(tenant_id.to_owned(), to);
    }
}

impl Default for SketchCache {
    fn default() -> Self {
        Self::seeded(rand::random())
    }
}

impl SketchCache {
    /// A cache whose shard moves are drawn from `seed` (the scale model's
    /// runs repeat exactly).
    pub fn seeded(seed: u64) -> Self {
        Self {
            memory: tokio::sync::Mutex::new(Memory {
                sketches: TwoGenerations::new(CACHE_CAPACITY),
                homes: HashMap::default(),
                draws: Draws::seeded(seed),
            }),
        }
    }
}

/// What a batch adds to sketches: per sketch item (its key in shard 0),
/// its tenant and its users' hashes.
#[derive(Default)]
pub struct SketchUpdates {
    sketches: Vec<Update>,
}

struct Update {
    tenant_id: String,
    key: Key,
    coupons: Vec<Coupon>,
}

impl SketchUpdates {
    pub fn is_empty(&self) -> bool {
        self.sketches.is_empty()
    }
}

/// The sketch items `events` belong in: every scope of each event, its
/// hour and its UTC day, of seen users and (for a conversion) of converted
/// users. Keys are built once per distinct item, not once per event.
pub fn updates_for(events: &[Event]) -> SketchUpdates {
    type Slot<'a> = (&'a str, ScopeRef<'a>, Membership, Period, i64);
    let mut index: HashMap<Slot, usize> = HashMap::default();
    let mut partitions: HashMap<(&str, ScopeRef), String> = HashMap::default();
    let mut updates = SketchUpdates::default();
    for event in events {
        let coupon = coupon_of(&event.user_id);
        let hour = event.timestamp.timestamp().div_euclid(3600);
        for scope in scopes(event) {
            for &kind in membership_kinds(event) {
                for (period, number) in [(Period::Hour, hour), (Period::Day, hour.div_euclid(24))] {
                    let slot = (event.tenant_id.as_str(), scope, kind, period, number);
                    let at = *index.entry(slot).or_insert_with(|| {
                        let partition = partitions
                            .entry((event.tenant_id.as_str(), scope))
                            .or_insert_with(|| keys::sketches_partition(&event.tenant_id, scope, 0));
                        let when = match period {
                            Period::Hour => keys::hour(&event.timestamp),
                            Period::Day => keys::day(&event.timestamp),
                        };
                        updates.sketches.push(Update {
                            tenant_id: event.tenant_id.clone(),
                            key: keys::sketch(partition, kind, period, &when),
                            coupons: Vec::new(),
                        });
                        updates.sketches.len() - 1
                    });
                    updates.sketches[at].coupons.push(coupon);
                }
            }
        }
    }
    updates
}

fn unreadable(key: &Key, why: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("sketch {}/{}: {why}", key.pk, key.sk))
}

fn cached_from(key: &Key, item: Option<Item>) -> Result<Cached, StoreError> {
    let Some(item) = item else {
        return Ok(Cached { version: 0, sketch: UserSketch::default() });
    };
    let stored = item.get(SKETCH).and_then(Value::as_str).ok_or_else(|| unreadable(key, "no sketch"))?;
    Ok(Cached {
        version: item.get(VERSION).and_then(Value::as_i64).unwrap_or(0),
        sketch: UserSketch::from_stored(stored).map_err(|err| unreadable(key, err))?,
    })
}

/// Adds the users of `updates` to their sketches in the store.
pub async fn merge(store: &dyn Store, cache: &SketchCache, updates: SketchUpdates) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    let mut memory = cache.memory.lock().await;
    // In parts: a batch spread over many hours (a backfill) touches
    // thousands of sketches, which need not all be in memory at once.
    let mut sketches = updates.sketches.into_iter().peekable();
    while sketches.peek().is_some() {
        let part: Vec<_> = sketches.by_ref().take(SKETCHES_PER_PART).collect();
        merge_part(store, &mut memory, part).await?;
    }
    Ok(())
}

/// [`merge`] of at most [`SKETCHES_PER_PART`] sketches. Each goes to its
/// tenant's sketch shard; a tenant whose sketches raced another writer's
/// merge moves to another shard for its next attempt (its users are then
/// in two shards' sketches, which range reads union: a user in both counts
/// once).
async fn merge_part(
    store: &dyn Store,
    memory: &mut Memory,
    mut pending: Vec<Update>,
) -> Result<(), StoreError> {
    let shards = store.layout().sketch_shards;
    for attempt in 1..=MAX_ATTEMPTS {
        let targets: Vec<(u16, Key)> = pending
            .iter()
            .map(|update| {
                let shard = memory.home(&update.tenant_id, shards);
                (shard, keys::in_sketch_shard(&update.key, shard))
            })
            .collect();
        let cached = &mut memory.sketches;
        // The batch's sketches, taken out of the cache (a batch may touch
        // more than it holds) or read; they go back once written.
        let mut working: Vec<Option<Cached>> = targets.iter().map(|(_, key)| cached.take(key)).collect();
        let missing: Vec<usize> = (0..pending.len()).filter(|&at| working[at].is_none()).collect();
        for chunk in missing.chunks(100) {
            let keys: Vec<Key> = chunk.iter().map(|&at| targets[at].1.clone()).collect();
            let items = store.batch_get(&keys).await?;
            for ((&at, key), item) in chunk.iter().zip(&keys).zip(items) {
                working[at] = Some(cached_from(key, item)?);
            }
        }
        let mut working: Vec<Cached> = working.into_iter().map(Option::unwrap_or_default).collect();

        // Apply each sketch's users; what changed is written (a day
        // sketch with its version marker, in the same transaction).
        let mut writes: Vec<(usize, Vec<WriteOp>)> = Vec::new();
        for (at, ((update, (_, key)), entry)) in pending.iter().zip(&targets).zip(&mut working).enumerate() {
            let mut changed = false;
            for &coupon in &update.coupons {
                changed |= entry.sketch.add(coupon);
            }
            if !changed {
                continue;
            }
            let condition = if entry.version == 0 {
                Condition::NotExists
            } else {
                Condition::equals(VERSION, entry.version)
            };
            entry.version += 1;
            let mut item = Item::new();
            item.insert(SKETCH.to_owned(), Value::from(entry.sketch.to_stored()));
            item.insert(VERSION.to_owned(), Value::from(entry.version));
            let mut ops = vec![WriteOp::Put { key: key.clone(), item, condition }];
            if let Some(marker) = keys::day_sketch_version(key) {
                let mut item = Item::new();
                item.insert(VERSION.to_owned(), Value::from(entry.version));
                ops.push(WriteOp::Put { key: marker, item, condition: Condition::Always });
            }
            writes.push((at, ops));
        }

        // On any other failure, nothing of this attempt goes back into the
        // cache: what was not written must not look written.
        let mut raced = vec![false; pending.len()];
        let mut refused_for_now = false;
        for chunk in writes.chunks(WRITES_PER_TRANSACTION) {
            match store
                .transact_attempt(chunk.iter().flat_map(|(_, ops)| ops.iter().cloned()).collect())
                .await
            {
                Attempt::Done(Ok(())) => {}
                // Another process wrote some of these: read them again.
                Attempt::Done(Err(StoreError::ConditionFailed { .. } | StoreError::Conflict)) => {
                    chunk.iter().for_each(|(at, _)| raced[*at] = true);
                }
                // Another process is writing some of them (or their
                // partition is throttled): elsewhere, or later.
                Attempt::Again(_) => {
                    refused_for_now = true;
                    chunk.iter().for_each(|(at, _)| raced[*at] = true);
                }
                Attempt::Done(Err(err)) => return Err(err),
            }
        }
        let mut moved: Vec<String> = Vec::new();
        let mut again = Vec::new();
        for (((update, (shard, key)), entry), raced) in
            pending.into_iter().zip(targets).zip(working).zip(raced)
        {
            if !raced {
                memory.sketches.insert(key, entry);
                continue;
            }
            if !moved.contains(&update.tenant_id) {
                memory.leave(&update.tenant_id, shard, shards);
                moved.push(update.tenant_id.clone());
            }
            again.push(update);
        }
        if again.is_empty() {
            return Ok(());
        }
        tracing::debug!(attempt, sketches = again.len(), "sketches raced another writer; merging again");
        // With one shard there is nowhere else to go: wait, as the store's
        // own retry policy would.
        if refused_for_now && shards <= 1 {
            let delay = backoff_delay(attempt as u32, |max| memory.draws.jitter(max));
            tokio::time::sleep(delay).await;
        }
        pending = again;
    }
    Err(StoreError::Conflict)
}

/// Hours since the Unix epoch of an instant.
pub fn hour_number(at: &DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

/// One stored sketch item, as a range read finds it.
#[derive(Clone)]
pub struct StoredSketch {
    pub sk: String,
    pub version: i64,
    pub sketch: String,
}

/// The stored sketches of one scope's users of one kind covering a range
/// of whole hours: their union is the range's users.
#[derive(Default)]
pub struct RangeSketches {
    /// The scope's sketches partition.
    pub partition: String,
    /// Sort key and version of each day sketch of the range's whole UTC
    /// days, from their version markers, oldest first (day sketches
    /// written before markers existed have none).
    pub day_versions: Vec<(String, i64)>,
    /// How many of `day_versions` `start` holds already.
    pub reused: usize,
    /// The union the range starts from: remembered for its first
    /// `reused` days ([`super::sketch_unions`]), else empty.
    pub start: UserUnion,
    /// The day sketches after those, oldest first.
    pub days: Vec<StoredSketch>,
    /// Day sketches before the reused ones that have no version marker.
    pub unmarked: Vec<String>,
    /// The hour sketches of the hours outside those days.
    pub hours: Vec<String>,
}

/// [`RangeSketches`] of a scope's `kind` users in the hours `first..=last`,
/// in one sketch shard
/// (hours since the Unix epoch). `reuse` is shown the partition and the
/// day versions and may answer a union of the first days (and how many);
/// only the day sketches after those are read. The union itself is left
/// to the caller ([`super::sketch_unions`]), which can spread that CPU
/// work over threads.
pub async fn stored_in_hours<'a>(
    store: &dyn Store,
    (tenant_id, scope, shard): (&str, impl Into<ScopeRef<'a>>, u16),
    kind: Membership,
    first: i64,
    last: i64,
    reuse: impl FnOnce(&str, &[(String, i64)]) -> Option<(usize, UserUnion)>,
) -> Result<RangeSketches, StoreError> {
    let partition = keys::sketches_partition(tenant_id, scope, shard);
    let covered = cover(first, last);
    let read = |from: String, to: String, after: Option<String>| {
        let range = SortRange::Between(from, to);
        query_all(store, Query::partition(partition.clone()).range(range).start_after(after))
    };
    let mut stored = RangeSketches::default();
    if let Some((from, to)) = covered.days {
        let prefix = keys::sketches_prefix(kind, Period::Day);
        let from = format!("{prefix}{}", keys::day_numbered(from));
        let to = format!("{prefix}{}", keys::day_numbered(to));
        let markers =
            read(keys::day_sketch_version_sk(&from), keys::day_sketch_version_sk(&to), None).await?;
        stored.day_versions = markers
            .into_iter()
            .filter_map(|(key, item)| {
                let version = item.get(VERSION).and_then(Value::as_i64).unwrap_or(0);
                Some((keys::day_sketch_of_version(&key.sk)?.to_owned(), version))
            })
            .collect();
        if let Some((reused, start)) = reuse(&partition, &stored.day_versions) {
            (stored.reused, stored.start) = (reused, start);
            // Days before the first marked one can hold only sketches
            // stored before markers existed, which no remembered union has.
            let first_marked = &stored.day_versions[0].0;
            if *first_marked != from {
                for (key, item) in read(from.clone(), first_marked.clone(), None).await? {
                    if key.sk != *first_marked {
                        stored.unmarked.push(sketch_and_version(&key, item)?.0);
                    }
                }
            }
        }
        // Every day sketch after the reused ones, marked or not.
        let after = stored.reused.checked_sub(1).map(|last| stored.day_versions[last].0.clone());
        for (key, item) in read(from, to, after).await? {
            let (sketch, version) = sketch_and_version(&key, item)?;
            stored.days.push(StoredSketch { sk: key.sk, version, sketch });
        }
    }
    for (from, to) in covered.hours {
        let prefix = keys::sketches_prefix(kind, Period::Hour);
        let (from, to) = (
            format!("{prefix}{}", keys::hour_numbered(from)),
            format!("{prefix}{}", keys::hour_numbered(to)),
        );
        for (key, item) in read(from, to, None).await? {
            stored.hours.push(sketch_and_version(&key, item)?.0);
        }
    }
    stored.partition = partition;
    Ok(stored)
}

fn sketch_and_version(key: &Key, mut item: Item) -> Result<(String, i64), StoreError> {
    let version = item.get(VERSION).and_then(Value::as_i64).unwrap_or(0);
    match item.remove(SKETCH) {
        Some(Value::String(sketch)) => Ok((sketch, version)),
        _ => Err(unreadable(key, "no sketch")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventType;
    use crate::store::sqlite::SqliteStore;

    fn event(user: &str, kind: EventType, at: &str) -> Event {
        Event {
            id: format!("{user}-{at}"),
            tenant_id: "t".into(),
            user_id: user.into(),
            event_type: kind,
            experiment_id: Some("exp".into()),
            variant: Some("A".into()),
            properties: Default::default(),
            timestamp: at.parse().unwrap(),
        }
    }

    async fn users_in_hours(
        store: &dyn Store,
        kind: Membership,
        first: i64,
        last: i64,
    ) -> Result<u64, StoreError> {
        let stored =
            stored_in_hours(store, ("t", ScopeRef::Tenant, 0), kind, first, last, |_, _| None).await?;
        Ok(crate::repo::sketch_unions::SketchUnions::default().union_of(&stored).unwrap().users())
    }

    #[test]
    fn each_event_goes_to_its_hour_and_day_in_every_scope() {
        let events = [
            event("alice", EventType::PageView, "2026-11-01T10:30:00Z"),
            event("alice", EventType::Conversion, "2026-11-01T10:40:00Z"),
            event("bob", EventType::PageView, "2026-11-02T00:10:00Z"),
        ];
        let updates = updates_for(&events);
        // 4 scopes × (seen hour+day for 2 hours/2 days: 2+2, converted hour+day: 2).
        assert_eq!(updates.sketches.len(), 4 * (2 + 2 + 2));
        let tenant = keys::sketches_partition("t", ScopeRef::Tenant, 0);
        let day = keys::sketch(&tenant, Membership::Seen, Period::Day, "2026-11-01");
        let coupons = &updates.sketches.iter().find(|update| update.key == day).unwrap().coupons;
        assert_eq!(coupons.len(), 2, "both of alice's events on the first");
    }

    #[tokio::test]
    async fn merging_again_changes_nothing_and_racing_writers_both_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        let day = |user: &str| event(user, EventType::PageView, "2026-11-01T10:30:00Z");
        let first: Vec<Event> = (0..300).map(|i| day(&format!("u{i}"))).collect();
        let (one, two) = (SketchCache::default(), SketchCache::default());
        merge(&store, &one, updates_for(&first)).await.unwrap();
        let hours = (hour_number(&first[0].timestamp), hour_number(&first[0].timestamp));
        let users = || users_in_hours(&store, Membership::Seen, hours.0, hours.1);
        assert_eq!(users().await.unwrap(), 300);
        // Redelivered: nothing written, same answer.
        merge(&store, &one, updates_for(&first)).await.unwrap();
        assert_eq!(users().await.unwrap(), 300);
        // A second process, whose cache is cold, then the first one, whose
        // cached version is now stale: both merges land.
        let second: Vec<Event> = (300..400).map(|i| day(&format!("u{i}"))).collect();
        let third: Vec<Event> = (400..450).map(|i| day(&format!("u{i}"))).collect();
        merge(&store, &two, updates_for(&second)).await.unwrap();
        merge(&store, &one, updates_for(&third)).await.unwrap();
        assert_eq!(users().await.unwrap(), 450);
        let whole_day = (hours.0 - 10, hours.0 + 13);
        let day_users = users_in_hours(&store, Membership::Seen, whole_day.0, whole_day.1);
        assert_eq!(day_users.await.unwrap(), 450);
        let converted = users_in_hours(&store, Membership::Converted, hours.0, hours.1);
        assert_eq!(converted.await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_batch_touching_more_sketches_than_the_cache_holds_merges_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        // 600 users, each in an hour of their own: 4 scopes × 600 hours
        // (and 25 days) of sketches.
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let events: Vec<Event> = (0..600)
            .map(|i| {
                let at = start + chrono::TimeDelta::hours(i);
                event(&format!("u{i}"), EventType::PageView, &keys::sort_time(&at))
            })
            .collect();
        let updates = updates_for(&events);
        assert!(updates.sketches.len() > CACHE_CAPACITY, "{}", updates.sketches.len());
        let cache = SketchCache::default();
        merge(&store, &cache, updates).await.unwrap();
        merge(&store, &cache, updates_for(&events)).await.unwrap();
        let first = hour_number(&start);
        assert_eq!(users_in_hours(&store, Membership::Seen, first, first + 599).await.unwrap(), 600);
        assert_eq!(users_in_hours(&store, Membership::Seen, first + 10, first + 59).await.unwrap(), 50);
    }

    /// A page view by user `u<user>` on 2026-11-0`<day>` at 10:00.
    fn page_view_on(day: u32, user: u32) -> Event {
        event(&format!("u{user}"), EventType::PageView, &format!("2026-11-0{day}T10:00:00Z"))
    }

    /// Fifty users seen on each of `days` (of November 2026), new each day.
    fn fifty_new_users_a_day(days: std::ops::RangeInclusive<u32>) -> Vec<Event> {
        days.flat_map(|day| (0..50).map(move |user| page_view_on(day, day * 100 + user))).collect()
    }

    #[tokio::test]
    async fn a_repeated_range_reads_only_the_day_sketches_a_remembered_union_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        let cache = SketchCache::default();
        merge(&store, &cache, updates_for(&fifty_new_users_a_day(1..=3))).await.unwrap();
        let first = hour_number(&"2026-11-01T00:00:00Z".parse().unwrap());
        let unions = crate::repo::sketch_unions::SketchUnions::default();
        let read = || {
            let reuse = |partition: &str, days: &[(String, i64)]| unions.reusable(partition, days);
            stored_in_hours(&store, ("t", ScopeRef::Tenant, 0), Membership::Seen, first, first + 71, reuse)
        };
        let cold = read().await.unwrap();
        assert_eq!(
            (cold.day_versions.len(), cold.reused, cold.days.len()),
            (3, 0, 3),
            "every day has a marker"
        );
        assert_eq!(unions.union_of(&cold).unwrap().users(), 150);
        let warm = read().await.unwrap();
        assert_eq!((warm.reused, warm.days.len()), (2, 1), "only the latest day's registers are read");
        assert_eq!(unions.union_of(&warm).unwrap().users(), 150);
        // A late event on the first day: its marker's version moved.
        merge(&store, &cache, updates_for(&[page_view_on(1, 999)])).await.unwrap();
        let late = read().await.unwrap();
        assert_eq!((late.reused, late.days.len()), (0, 3));
        assert_eq!(unions.union_of(&late).unwrap().users(), 151);
    }

    #[tokio::test]
    async fn a_day_sketch_stored_before_markers_is_read_whatever_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        let cache = SketchCache::default();
        merge(&store, &cache, updates_for(&fifty_new_users_a_day(2..=4))).await.unwrap();
        // Day 1 as a version before markers stored it: a sketch, no marker.
        let mut old = UserSketch::default();
        (0..10).for_each(|user| {
            old.add(coupon_of(&format!("old{user}")));
        });
        let mut item = Item::new();
        item.insert(SKETCH.into(), Value::from(old.to_stored()));
        item.insert(VERSION.into(), Value::from(1));
        let partition = keys::sketches_partition("t", ScopeRef::Tenant, 0);
        let key = keys::sketch(&partition, Membership::Seen, Period::Day, "2026-11-01");
        store.transact(vec![WriteOp::Put { key, item, condition: Condition::NotExists }]).await.unwrap();

        let unions = crate::repo::sketch_unions::SketchUnions::default();
        let day_one = hour_number(&"2026-11-01T00:00:00Z".parse().unwrap());
        let users = |first: i64| {
            let unions = &unions;
            let store = &store;
            async move {
                let reuse = |partition: &str, days: &[(String, i64)]| unions.reusable(partition, days);
                let stored = stored_in_hours(
                    store,
                    ("t", ScopeRef::Tenant, 0),
                    Membership::Seen,
                    first,
                    day_one + 95,
                    reuse,
                )
                .await
                .unwrap();
                (stored.reused, unions.union_of(&stored).unwrap().users())
            }
        };
        // Days 2–4, twice: the union of days 2 and 3 is remembered, keyed
        // by day 2, the first marked day of days 1–4 too.
        assert_eq!(users(day_one + 24).await, (0, 150));
        assert_eq!(users(day_one + 24).await, (2, 150));
        assert_eq!(users(day_one).await, (2, 160), "day 1 is read beside the remembered union");
    }
}
