//! How the table design splits its write-hot items ([`Layout`]), and the
//! record that keeps every deployment's layout from shrinking.
//!
//! Readers of a day's events, a scope's sketches or its hourly buckets
//! query every shard the layout names, so a deployment configured with
//! fewer shards than an earlier one wrote to would miss data without a
//! word. The store therefore keeps one record of the largest layout any
//! writer has used (`LAYOUT`): a writer records its configured layout
//! (each count raised, never lowered) before it writes with it, and every
//! function uses the larger of its configuration and the record, read
//! again once a minute. Lowering `EVENT_SHARDS` then changes nothing but a
//! warning in the log; raising it takes effect for writers at once and for
//! every reader within a minute of the first write with it, and readers
//! of the new shards find nothing there until then, which is what they
//! find anyway.

use std::time::Duration;

use tokio::time::Instant;

use serde_json::Value;

use super::{Condition, Item, Store, StoreError, WriteOp, keys};

/// How many shards the table design splits its write-hot items into: a
/// property of the deployment (the embedded store has one writer and
/// needs none), chosen from DynamoDB's limits (ARCHITECTURE.md, "Shards").
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layout {
    /// Partitions each tenant's events of a day are spread over
    /// ([`keys::event`]); readers of a day fan out over all of them, so it
    /// may grow but must never shrink.
    pub event_shards: u16,
    /// Shards each counter, hourly bucket and campaign cell may be split
    /// into: how many writers can add to one at once. Readers sum the
    /// shards they find, whatever this is.
    pub aggregate_shards: u16,
    /// Partitions each scope's user sketches may be spread over: how many
    /// writers can merge into one tenant's sketches at once. A range read
    /// queries every one of them (and a dense sketch is 11 KB), so this
    /// stays far below the others.
    pub sketch_shards: u16,
    /// Partitions the shards of each scope's hourly buckets are spread
    /// over (shard `s` in partition `s % bucket_partitions`): a bucket
    /// partition's writes go to ever-later hours, which DynamoDB does not
    /// split for heat, so its 1,000 write units a second are all the
    /// shards in it get. Range reads query each of them.
    pub bucket_partitions: u16,
}

impl Default for Layout {
    fn default() -> Self {
        Self { event_shards: 1, aggregate_shards: 1, sketch_shards: 1, bucket_partitions: 1 }
    }
}

impl Layout {
    /// Every count within `1..=keys::MAX_SHARDS`, and no more bucket
    /// partitions than aggregate shards.
    pub fn new(event_shards: u16, aggregate_shards: u16, sketch_shards: u16, bucket_partitions: u16) -> Self {
        let clamp = |n: u16| n.clamp(1, keys::MAX_SHARDS);
        Self {
            event_shards: clamp(event_shards),
            aggregate_shards: clamp(aggregate_shards),
            sketch_shards: clamp(sketch_shards),
            bucket_partitions: clamp(bucket_partitions).min(clamp(aggregate_shards)),
        }
    }
}

impl Layout {
    /// Each count the larger of the two: the layout that reads everything
    /// written with either.
    pub fn at_least(self, other: Layout) -> Layout {
        Layout {
            event_shards: self.event_shards.max(other.event_shards),
            aggregate_shards: self.aggregate_shards.max(other.aggregate_shards),
            sketch_shards: self.sketch_shards.max(other.sketch_shards),
            bucket_partitions: self.bucket_partitions.max(other.bucket_partitions),
        }
    }

    const ATTRIBUTES: [&'static str; 4] =
        ["eventShards", "aggregateShards", "sketchShards", "bucketPartitions"];

    fn counts(self) -> [u16; 4] {
        [self.event_shards, self.aggregate_shards, self.sketch_shards, self.bucket_partitions]
    }

    fn to_item(self, version: i64) -> Item {
        let mut item: Item = Self::ATTRIBUTES
            .iter()
            .zip(self.counts())
            .map(|(name, count)| ((*name).to_owned(), Value::from(count)))
            .collect();
        item.insert(VERSION.to_owned(), Value::from(version));
        item
    }

    /// The layout a record holds; a count missing or out of range reads
    /// as the largest one possible, so that a damaged record makes readers
    /// look too far, never too near.
    fn from_item(item: &Item) -> Layout {
        let count = |name: &str| {
            item.get(name)
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (1..=keys::MAX_SHARDS).contains(n))
                .unwrap_or(keys::MAX_SHARDS)
        };
        let [event, aggregate, sketch, bucket] = Self::ATTRIBUTES.map(count);
        Layout::new(event, aggregate, sketch, bucket)
    }
}

const VERSION: &str = "version";

/// What the caller is about to do with sharded items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutUse {
    /// Only read them: the recorded layout is read, not written.
    Read,
    /// Write them: the configured layout is recorded first.
    Write,
}

/// The recorded layout and the record's version, if there is a record.
pub async fn recorded(store: &dyn Store) -> Result<Option<(Layout, i64)>, StoreError> {
    Ok(store.get(&keys::layout_record()).await?.map(|item| {
        let version = item.get(VERSION).and_then(Value::as_i64).unwrap_or(0);
        (Layout::from_item(&item), version)
    }))
}

/// Raises the recorded layout to at least `layout` (a compare-and-set on
/// the record's version, again after another writer's) and returns what
/// is recorded then: `layout` or more.
pub async fn record(store: &dyn Store, layout: Layout) -> Result<Layout, StoreError> {
    const ATTEMPTS: usize = 8;
    for _ in 0..ATTEMPTS {
        let current = recorded(store).await?;
        let grown = current.map_or(layout, |(recorded, _)| recorded.at_least(layout));
        let (condition, version) = match current {
            Some((recorded, _)) if recorded == grown => return Ok(grown),
            Some((_, version)) => (Condition::equals(VERSION, version), version + 1),
            None => (Condition::NotExists, 1),
        };
        let put = WriteOp::Put { key: keys::layout_record(), item: grown.to_item(version), condition };
        match store.transact(vec![put]).await {
            Ok(()) => return Ok(grown),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Conflict)
}

/// How long a settled layout is trusted before the record is read again.
pub const SETTLED_FOR: Duration = Duration::from_secs(60);

/// A store adapter's layout: the configured one, raised to the record's
/// whenever it settles ([`Store::settle_layout`]).
pub struct SettledLayout {
    configured: Layout,
    current: std::sync::RwLock<Layout>,
    /// When the layout last settled, and whether this adapter has recorded
    /// its configured layout since it started (once is enough: records
    /// only grow).
    settled: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl SettledLayout {
    pub fn new(configured: Layout) -> Self {
        Self {
            configured,
            current: std::sync::RwLock::new(configured),
            settled: tokio::sync::Mutex::new(None),
        }
    }

    pub fn current(&self) -> Layout {
        *self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Settles the layout for `usage` on `store` (the adapter that holds
    /// this), reading the record when the last answer is older than
    /// [`SETTLED_FOR`] and recording the configured layout before the
    /// first write.
    pub async fn settle(&self, store: &dyn Store, usage: LayoutUse) -> Result<(), StoreError> {
        let mut settled = self.settled.lock().await;
        let wrote = settled.is_some_and(|(_, wrote)| wrote);
        let fresh = settled.is_some_and(|(at, _)| at.elapsed() < SETTLED_FOR);
        if fresh && (wrote || usage == LayoutUse::Read) {
            return Ok(());
        }
        let recorded = if usage == LayoutUse::Write && !wrote {
            Some(record(store, self.configured).await?)
        } else {
            recorded(store).await?.map(|(layout, _)| layout)
        };
        let layout = recorded.map_or(self.configured, |recorded| self.configured.at_least(recorded));
        let previous = self.current();
        if layout != previous {
            tracing::warn!(
                configured = ?self.configured,
                recorded = ?recorded,
                using = ?layout,
                "the store records a larger layout than this function's configuration: using it \
                 (shard counts only grow; raise EVENT_SHARDS, AGGREGATE_SHARDS, SKETCH_SHARDS and \
                 BUCKET_PARTITIONS to match)"
            );
            *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = layout;
        }
        *settled = Some((Instant::now(), wrote || usage == LayoutUse::Write));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("layout.db")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_record_grows_count_by_count_and_never_shrinks() {
        let (_dir, store) = store();
        assert_eq!(recorded(&store).await.unwrap(), None);
        assert_eq!(record(&store, Layout::new(8, 4, 2, 2)).await.unwrap(), Layout::new(8, 4, 2, 2));
        // Fewer event shards, more aggregate shards: only the latter grow.
        assert_eq!(record(&store, Layout::new(2, 16, 1, 4)).await.unwrap(), Layout::new(8, 16, 2, 4));
        assert_eq!(record(&store, Layout::default()).await.unwrap(), Layout::new(8, 16, 2, 4));
        let (layout, version) = recorded(&store).await.unwrap().unwrap();
        assert_eq!((layout, version), (Layout::new(8, 16, 2, 4), 2), "an unchanged record is not rewritten");
    }

    #[tokio::test]
    async fn writers_recording_at_once_leave_the_largest_of_each_count() {
        let (_dir, store) = store();
        let layouts: Vec<Layout> = (1..=8u16).map(|n| Layout::new(n, 9 - n, n % 3 + 1, 1)).collect();
        let recorded_by_each =
            futures_util::future::join_all(layouts.iter().map(|layout| record(&store, *layout))).await;
        let largest = layouts.iter().fold(Layout::default(), |all, layout| all.at_least(*layout));
        assert_eq!(largest, Layout::new(8, 8, 3, 1));
        for (mine, answer) in layouts.iter().zip(recorded_by_each) {
            let answer = answer.unwrap();
            assert_eq!(answer.at_least(*mine), answer, "each writer's answer covers its own layout");
        }
        assert_eq!(recorded(&store).await.unwrap().unwrap().0, largest);
    }

    #[tokio::test]
    async fn a_damaged_record_makes_readers_look_too_far() {
        let (_dir, store) = store();
        let mut item = Layout::new(4, 4, 1, 1).to_item(1);
        item.insert("eventShards".into(), Value::from(0));
        item.remove("sketchShards");
        let put = WriteOp::Put { key: keys::layout_record(), item, condition: Condition::Always };
        store.transact(vec![put]).await.unwrap();
        let layout = recorded(&store).await.unwrap().unwrap().0;
        assert_eq!(layout, Layout::new(keys::MAX_SHARDS, 4, keys::MAX_SHARDS, 1));
    }

    #[tokio::test]
    async fn a_settled_layout_is_the_larger_of_configuration_and_record() {
        let (_dir, store) = store();
        record(&store, Layout::new(8, 2, 1, 1)).await.unwrap();
        let settled = SettledLayout::new(Layout::new(2, 4, 1, 1));
        assert_eq!(settled.current(), Layout::new(2, 4, 1, 1), "the configuration until it settles");
        settled.settle(&store, LayoutUse::Read).await.unwrap();
        assert_eq!(settled.current(), Layout::new(8, 4, 1, 1));
        assert_eq!(
            recorded(&store).await.unwrap().unwrap().0,
            Layout::new(8, 2, 1, 1),
            "reads record nothing"
        );
        settled.settle(&store, LayoutUse::Write).await.unwrap();
        assert_eq!(recorded(&store).await.unwrap().unwrap().0, Layout::new(8, 4, 1, 1));
        // Within a minute of a settle the record is not read again.
        record(&store, Layout::new(16, 4, 1, 1)).await.unwrap();
        settled.settle(&store, LayoutUse::Write).await.unwrap();
        assert_eq!(settled.current(), Layout::new(8, 4, 1, 1));
        // After it, the record another writer grew is read.
        tokio::time::pause();
        tokio::time::advance(SETTLED_FOR).await;
        settled.settle(&store, LayoutUse::Write).await.unwrap();
        assert_eq!(settled.current(), Layout::new(16, 4, 1, 1));
    }
}
