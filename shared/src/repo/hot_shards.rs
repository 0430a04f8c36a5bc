//! Committing a planned transaction when its counters, buckets and
//! campaign cells are split into shards ([`keys::on_shard`]).
//!
//! DynamoDB cancels a transaction that touches an item another transaction
//! is writing (`TransactionConflict`) rather than queueing it, and a single
//! item never splits: with one item per counter, one transaction per
//! tenant is in flight at a time. So each writer adds to a shard of its
//! own (its *home*, drawn at random), and after a conflict or throttling
//! moves its home to another shard and sends the same transaction there,
//! with the adapter's backoff: nothing is re-read, since only the `ADD`s
//! move and an `ADD` holds whichever shard it lands on. A writer that
//! keeps its home keeps out of the others' way, so conflicts die out once
//! the writers have spread over the shards.

use std::sync::Mutex;

use super::counting::PlannedTransaction;
use crate::store::retry::{Attempt, retrying};
use crate::store::{Store, StoreError};

/// A writer's home shard, and the generator it draws shards and backoff
/// jitter from (seedable, so that the scale model repeats exactly).
pub struct HomeShard {
    state: Mutex<Home>,
}

struct Home {
    home: u64,
    draws: Draws,
}

/// Numbers for spreading writers over shards and jittering their
/// backoff: a 64-bit LCG (Knuth's MMIX constants), its high bits. Not for
/// anything an adversary may predict; seedable so that runs repeat.
pub struct Draws {
    seed: u64,
}

impl Draws {
    pub fn seeded(seed: u64) -> Self {
        Self { seed }
    }

    pub fn draw(&mut self) -> u64 {
        self.seed = self.seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.seed >> 33
    }

    /// A shard among `shards` other than `from` (`from` if it is the only one).
    pub fn other_shard(&mut self, from: u16, shards: u16) -> u16 {
        if shards <= 1 {
            return from;
        }
        let step = 1 + self.draw() % u64::from(shards - 1);
        ((u64::from(from) + step) % u64::from(shards)) as u16
    }

    /// Uniform over `0..=max`, as `store::retry`'s jitter.
    pub fn jitter(&mut self, max: u64) -> u64 {
        self.draw() % (max + 1)
    }
}

impl Default for HomeShard {
    fn default() -> Self {
        Self::seeded(rand::random())
    }
}

impl HomeShard {
    pub fn seeded(seed: u64) -> Self {
        let mut draws = Draws::seeded(seed);
        Self { state: Mutex::new(Home { home: draws.draw(), draws }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Home> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The home shard among `shards`.
    pub fn home(&self, shards: u16) -> u16 {
        (self.state().home % u64::from(shards.max(1))) as u16
    }

    /// Moves home from `from` to another of `shards`, drawn at random.
    fn leave(&self, from: u16, shards: u16) {
        let mut state = self.state();
        state.home = u64::from(state.draws.other_shard(from, shards));
    }

    fn jitter(&self, max: u64) -> u64 {
        self.state().draws.jitter(max)
    }
}

/// Commits `transaction` with its `ADD`s on this writer's home shard,
/// moving to another shard after each refusal for now (a conflict,
/// throttling), up to the store's retry policy (`store::retry`).
/// The writes are taken from `transaction` (what else it says stays).
pub async fn commit(
    store: &dyn Store,
    home: &HomeShard,
    transaction: &mut PlannedTransaction,
) -> Result<(), StoreError> {
    let layout = store.layout();
    let shards = layout.aggregate_shards;
    if shards <= 1 || transaction.hot_from == transaction.writes.len() {
        return store.transact(std::mem::take(&mut transaction.writes)).await;
    }
    let transaction = &*transaction;
    retrying(
        || {
            let shard = home.home(shards);
            async move {
                match store.transact_attempt(transaction.on_shard(shard, &layout)).await {
                    Attempt::Again(refusal) => {
                        home.leave(shard, shards);
                        Attempt::Again(refusal)
                    }
                    done => done,
                }
            }
        },
        |max| home.jitter(max),
    )
    .await
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "aws")]
    use std::sync::Arc;

    use chrono::{DateTime, TimeDelta, Utc};
    use serde_json::json;

    use super::*;
    use crate::domain::counting::Scope;
    use crate::domain::event::{Event, EventType};
    use crate::repo::events::{WriterMemory, store_events};
    use crate::repo::sketch_unions::SketchUnions;
    use crate::repo::{attribution, counters, rollups};
    use crate::store::Layout;
    use crate::store::sqlite::SqliteStore;

    const TENANT: &str = "t";

    /// Events over two days and a half, sent in reverse order (late events
    /// move first sights), by 120 users in two arms, from campaigns.
    fn events() -> Vec<Event> {
        let start: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let mut events: Vec<Event> = (0..1_200u32)
            .map(|i| {
                let conversion = i % 9 == 0;
                let source = ["google", "newsletter", "facebook"][(i % 3) as usize];
                Event {
                    id: format!("e{i}"),
                    tenant_id: TENANT.into(),
                    user_id: format!("u{}", (i * 37) % 120),
                    event_type: if conversion { EventType::Conversion } else { EventType::PageView },
                    experiment_id: (i % 4 != 0).then(|| "exp".to_owned()),
                    variant: (i % 4 != 0).then(|| ["A", "B"][(i % 2) as usize].to_owned()),
                    properties: json!({"utm_source": source, "utm_medium": "cpc", "value": 10})
                        .as_object()
                        .cloned()
                        .unwrap(),
                    timestamp: start + TimeDelta::minutes(i64::from(i) * 3),
                }
            })
            .collect();
        events.reverse();
        events
    }

    /// Stores the events through three writers taking turns (and one
    /// batch delivered twice), each with a home shard of its own.
    async fn store_by_three_writers(store: &dyn Store, events: &[Event]) {
        // Seeds whose homes among 5 shards are 2, 4 and 1: two bucket
        // partitions of 2 get shards.
        let writers: Vec<WriterMemory> = [0u64, 1, 4]
            .into_iter()
            .map(|seed| WriterMemory {
                home_shard: HomeShard::seeded(seed),
                sketches: crate::repo::user_sketches::SketchCache::seeded(seed),
                ..WriterMemory::default()
            })
            .collect();
        for (n, batch) in events.chunks(100).enumerate() {
            store_events(store, &writers[n % 3], batch.to_vec()).await.unwrap();
        }
        let again = store_events(store, &writers[1], events[..100].to_vec()).await.unwrap();
        assert_eq!((again.stored, again.duplicates), (0, 100));
    }

    /// Everything a reader asks of the rollups, from one store.
    async fn readings(store: &dyn Store) -> serde_json::Value {
        let start: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let end: DateTime<Utc> = "2026-11-03T23:59:59.999999Z".parse().unwrap();
        let unions = SketchUnions::default();
        let all_time = counters::summary(store, TENANT, None).await.unwrap();
        let arm = counters::summary(store, TENANT, Some("exp")).await.unwrap();
        let range = rollups::summary_between(store, &unions, TENANT, None, start, end).await.unwrap();
        // A range with edges inside hours: read from the events of those hours.
        let edged = rollups::summary_between(
            store,
            &unions,
            TENANT,
            Some("exp"),
            start + TimeDelta::minutes(90),
            end - TimeDelta::minutes(1_000),
        )
        .await
        .unwrap();
        let hours =
            counters::hourly(store, TENANT, &Scope::Tenant, String::new(), "9999".into()).await.unwrap();
        let span =
            counters::hour_span(store, TENANT, &Scope::Variant("exp".into(), "A".into())).await.unwrap();
        let mut rows: Vec<String> = attribution::row_days(store, TENANT, 20_758, 20_760)
            .await
            .unwrap()
            .into_iter()
            .map(|(day, row, counts)| format!("{day} {row:?} {counts:?}"))
            .collect();
        rows.sort();
        json!({
            "allTime": all_time, "arm": arm, "range": range, "edged": edged,
            "hours": hours, "span": span, "rows": rows,
        })
    }

    /// Shards change where the counts are, never what a reader reads: the
    /// same events through writers on shards of their own read exactly as
    /// through one store without shards (users too: a union of shards'
    /// sketches holds the same registers as one sketch).
    async fn shards_read_as_one_item(plain: &dyn Store, sharded: &dyn Store) {
        let events = events();
        store_by_three_writers(plain, &events).await;
        store_by_three_writers(sharded, &events).await;
        // The writers did spread: counters, buckets and events beyond shard 0.
        let all = |pk: String| crate::store::query_all(sharded, crate::store::Query::partition(pk));
        let tenant_counters = all(crate::store::keys::counters_partition(TENANT)).await.unwrap();
        assert!(tenant_counters.iter().filter(|(key, _)| key.sk.starts_with('T')).count() > 1);
        assert!(
            !all(crate::store::keys::buckets_partition(TENANT, &Scope::Tenant, 1)).await.unwrap().is_empty()
        );
        assert!(
            !all(crate::store::keys::events_partition(TENANT, "2026-11-02", 2)).await.unwrap().is_empty()
        );
        let (expected, read) = (readings(plain).await, readings(sharded).await);
        assert_eq!(expected["allTime"]["totalEvents"], 1_200);
        assert!(expected["rows"].as_array().unwrap().len() > 6, "{expected}");
        assert_eq!(read, expected);
    }

    /// Small counts, so that three writers land on distinct shards and on
    /// one shared one at times, and the bucket partitions hold several
    /// shards each.
    fn layout() -> Layout {
        Layout::new(3, 5, 3, 2)
    }

    #[tokio::test]
    async fn embedded_shards_read_as_one_item() {
        let dir = tempfile::tempdir().unwrap();
        let plain = SqliteStore::open(dir.path().join("plain.db")).unwrap();
        let sharded = SqliteStore::open(dir.path().join("sharded.db")).unwrap().with_layout(layout());
        shards_read_as_one_item(&plain, &sharded).await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_shards_read_as_one_item() {
        let plain = crate::aws::testing::fresh_context().await.store;
        let sharded: Arc<dyn Store> = crate::aws::testing::fresh_context_laid_out(layout()).await.store;
        shards_read_as_one_item(plain.as_ref(), sharded.as_ref()).await;
    }

    /// A deployment configured with fewer shards than an earlier one wrote
    /// with (`Layout::default()` after `layout()`) would read only some of
    /// the data; once it has settled its layout on the store's record it
    /// reads all of it, and records nothing smaller.
    /// (Half the events, written once: `shards_read_as_one_item` shows that
    /// the larger layout reads what one store without shards does.)
    async fn a_shrunk_configuration_reads_every_shard(wrote: &dyn Store, shrunk: &dyn Store) {
        let events = &events()[..600];
        store_by_three_writers(wrote, events).await;
        let expected = readings(wrote).await;
        assert_ne!(readings(shrunk).await, expected, "unsettled, the shrunk layout misses shards");
        shrunk.settle_layout(crate::store::LayoutUse::Read).await.unwrap();
        assert_eq!(shrunk.layout(), layout());
        assert_eq!(readings(shrunk).await, expected);
        let more = store_events(shrunk, &WriterMemory::default(), events[..10].to_vec()).await.unwrap();
        assert_eq!(more.duplicates, 10);
        let recorded = crate::store::layout::recorded(shrunk).await.unwrap().unwrap().0;
        assert_eq!(recorded, layout());
    }

    #[tokio::test]
    async fn embedded_shrunk_configuration_reads_every_shard() {
        let dir = tempfile::tempdir().unwrap();
        let wrote = SqliteStore::open(dir.path().join("sharded.db")).unwrap().with_layout(layout());
        let shrunk = SqliteStore::open(dir.path().join("sharded.db")).unwrap();
        a_shrunk_configuration_reads_every_shard(&wrote, &shrunk).await;
    }

    /// The same, as a user reads it: the range summary through the API of
    /// a stack whose store is configured with no shards.
    #[tokio::test]
    async fn the_api_of_a_shrunk_stack_reads_every_shard() {
        let dir = tempfile::tempdir().unwrap();
        {
            let wrote =
                SqliteStore::open(dir.path().join(crate::context::STORE_FILE)).unwrap().with_layout(layout());
            let at = "2026-11-01T00:00:00Z".parse().unwrap();
            crate::repo::tenants::create_with_id(&wrote, TENANT, "T", "shard-key-0123456789", "k", at)
                .await
                .unwrap();
            store_by_three_writers(&wrote, &events()).await;
        }
        let ctx = crate::context::open_embedded(dir.path(), Default::default(), None).unwrap();
        let request = http::Request::get("/api/analytics/summary?startDate=2026-11-01&endDate=2026-11-03")
            .header(crate::api::API_KEY_HEADER, "shard-key-0123456789")
            .body(bytes::Bytes::new())
            .unwrap();
        let response = crate::api::handle(&ctx, request).await;
        assert_eq!(response.status(), http::StatusCode::OK);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["totalEvents"], 1_200, "{body}");
        assert_eq!(ctx.store.layout(), layout());
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_shrunk_configuration_reads_every_shard() {
        use crate::aws::testing::{QUICK_QUEUE, fresh_resources, open_laid_out};
        let resources = fresh_resources(QUICK_QUEUE).await;
        let wrote = open_laid_out(&resources, layout()).await.store;
        let shrunk = open_laid_out(&resources, Layout::default()).await.store;
        a_shrunk_configuration_reads_every_shard(wrote.as_ref(), shrunk.as_ref()).await;
    }

    #[test]
    fn a_writer_leaves_for_another_shard_and_stays_there() {
        let home = HomeShard::seeded(7);
        let first = home.home(64);
        assert_eq!(home.home(64), first);
        for _ in 0..1_000 {
            let from = home.home(64);
            home.leave(from, 64);
            let to = home.home(64);
            assert!(to != from && to < 64);
        }
        assert_eq!(home.home(1), 0);
        home.leave(0, 1);
        assert_eq!(home.home(1), 0);
    }

    #[test]
    fn homes_spread_over_the_shards() {
        let mut per_shard = [0u32; 8];
        (0..8_000u64).for_each(|seed| per_shard[usize::from(HomeShard::seeded(seed).home(8))] += 1);
        assert!(per_shard.iter().all(|&n| (800..1_200).contains(&n)), "{per_shard:?}");
    }
}
