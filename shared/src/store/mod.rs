//! The store port: a key-value store shaped like DynamoDB's data model.
//!
//! Items live under a partition key (`pk`) and an ordered sort key (`sk`).
//! The operations are exactly the ones DynamoDB offers cheaply: point reads,
//! batched point reads, range queries within one partition, and
//! all-or-nothing transactions of conditional puts, upserting updates with
//! atomic counters, deletes and condition checks. The embedded SQLite adapter
//! implements the same operations with the same semantics, so everything
//! built on this port (the repositories in [`crate::repo`]) behaves the same
//! on either backend. The contract suite in [`contract`] pins that down.

mod checkpointer;
#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod keys;
pub mod layout;
pub mod limits;
pub mod retry;
pub mod sqlite;
#[cfg(test)]
pub mod testing;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use async_trait::async_trait;
pub use layout::{Layout, LayoutUse};
use serde_json::Value;

/// An item's attributes (without its key). Numbers used as counters are `i64`.
pub type Item = serde_json::Map<String, Value>;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// A condition evaluated against the item currently stored under a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Always,
    /// `attribute_not_exists(pk)`
    NotExists,
    /// `attribute_exists(pk)`
    Exists,
    /// The item exists and `attr = value`.
    Equals {
        attr: String,
        value: Value,
    },
}

impl Condition {
    pub fn equals(attr: &str, value: impl Into<Value>) -> Self {
        Condition::Equals { attr: attr.to_owned(), value: value.into() }
    }

    /// Evaluates the condition against the current item, as DynamoDB does.
    pub fn holds(&self, current: Option<&Item>) -> bool {
        match self {
            Condition::Always => true,
            Condition::NotExists => current.is_none(),
            Condition::Exists => current.is_some(),
            Condition::Equals { attr, value } => current.and_then(|item| item.get(attr)) == Some(value),
        }
    }
}

/// One write inside a transaction. No two writes of one transaction may
/// touch the same key (DynamoDB rejects that, so the embedded store does too).
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// Replace the whole item.
    Put {
        key: Key,
        item: Item,
        condition: Condition,
    },
    /// Create the item if missing, add to numeric attributes (missing counts
    /// as zero) and set others: DynamoDB's `UpdateItem` with `ADD` and `SET`.
    Update {
        key: Key,
        add: Vec<(String, i64)>,
        set: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Only checks a condition; writes nothing.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn key(&self) -> &Key {
        match self {
            WriteOp::Put { key, .. }
            | WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. }
            | WriteOp::Check { key, .. } => key,
        }
    }

    pub fn condition(&self) -> &Condition {
        match self {
            WriteOp::Put { condition, .. }
            | WriteOp::Update { condition, .. }
            | WriteOp::Delete { condition, .. }
            | WriteOp::Check { condition, .. } => condition,
        }
    }

    /// Applies this write to the current item, returning the new item
    /// (`None` deletes). Shared by adapters that evaluate writes themselves.
    pub fn apply(&self, current: Option<Item>) -> Option<Item> {
        match self {
            WriteOp::Put { item, .. } => Some(item.clone()),
            WriteOp::Update { add, set, .. } => {
                let mut item = current.unwrap_or_default();
                for (attr, delta) in add {
                    let old = item.get(attr).and_then(Value::as_i64).unwrap_or(0);
                    item.insert(attr.clone(), Value::from(old + delta));
                }
                for (attr, value) in set {
                    item.insert(attr.clone(), value.clone());
                }
                Some(item)
            }
            WriteOp::Delete { .. } => None,
            WriteOp::Check { .. } => current,
        }
    }
}

/// Which sort keys of a partition a query covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortRange {
    All,
    /// `begins_with(sk, prefix)`
    Prefix(String),
    /// `sk BETWEEN low AND high`, both inclusive.
    Between(String, String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub pk: String,
    pub range: SortRange,
    pub descending: bool,
    /// At most this many items in one page.
    pub limit: Option<usize>,
    /// Continue after this sort key (exclusive), as DynamoDB's `ExclusiveStartKey`.
    pub start_after: Option<String>,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Self { pk: pk.into(), range: SortRange::All, descending: false, limit: None, start_after: None }
    }

    pub fn range(mut self, range: SortRange) -> Self {
        self.range = range;
        self
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn start_after(mut self, sk: Option<String>) -> Self {
        self.start_after = sk;
        self
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<(Key, Item)>,
    /// Set when the query may have more items: pass it as `start_after`.
    pub last_sk: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition of the write at `index` did not hold; nothing was written.
    #[error("condition of write {index} failed")]
    ConditionFailed { index: usize },
    /// Another transaction touched the same items; retrying may succeed.
    #[error("transaction conflict")]
    Conflict,
    /// The request itself is malformed (e.g. two writes to one key).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The backend cannot be reached or is throttling; retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether the same request can never succeed: the store refused what
    /// it was asked to hold (DynamoDB's `ValidationException`). Everything
    /// else (conditions, conflicts, unavailability) may pass on a retry.
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Invalid(_))
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Point reads of many keys; the answer is in the order of `keys`.
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;

    /// Which of `keys` exist, read as the next [`Store::transact`] will see
    /// them: the reads that decide the batch writer's plan (id markers and
    /// memberships). Stale answers are still safe, since the planned writes'
    /// conditions catch them, but cost a retry. The embedded store answers
    /// on its writer connection, whose page cache the writes keep warm.
    async fn exist_before_write(&self, keys: &[Key]) -> Result<Vec<bool>, StoreError> {
        Ok(self.read_before_write(keys).await?.into_iter().map(|item| item.is_some()).collect())
    }

    /// The items under `keys`, read as [`Store::exist_before_write`] reads
    /// them: the memberships whose first-seen times a plan may move.
    async fn read_before_write(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.batch_get(keys).await
    }

    /// One page of a range query within one partition.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Applies every write or none. Fails with `ConditionFailed` naming the
    /// first write whose condition did not hold.
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError>;

    /// The most writes one `transact` call accepts (DynamoDB: 100).
    fn max_transaction_writes(&self) -> usize;

    /// One attempt at [`Store::transact`]: what refuses it for now (a
    /// conflict with another transaction, throttling) comes back at once
    /// as [`retry::Attempt::Again`] instead of being retried, so that the
    /// caller can move its writes to other shards of the items
    /// ([`keys::on_shard`]) before it tries again. Stores that never
    /// refuse for now need not override it.
    async fn transact_attempt(&self, writes: Vec<WriteOp>) -> retry::Attempt<()> {
        retry::Attempt::Done(self.transact(writes).await)
    }

    /// How this store's hot items are split ([`Layout`]): the one last
    /// settled ([`Store::settle_layout`]), the configured one before that.
    fn layout(&self) -> Layout {
        Layout::default()
    }

    /// Makes [`Store::layout`] at least the layout recorded in the store
    /// (re-read once a minute at most), and before writes (`LayoutUse::Write`)
    /// records the configured one, so that shard counts only ever grow
    /// ([`layout`]). Stores with a fixed layout need not override it.
    async fn settle_layout(&self, _use: LayoutUse) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Runs a query to its end, following `last_sk` across pages.
pub async fn query_all(store: &dyn Store, query: Query) -> Result<Vec<(Key, Item)>, StoreError> {
    let mut query = query;
    let mut all = Vec::new();
    loop {
        let page = store.query(&query).await?;
        all.extend(page.items);
        match page.last_sk {
            Some(sk) => query.start_after = Some(sk),
            None => return Ok(all),
        }
    }
}

/// Rejects a transaction that DynamoDB would reject, so both adapters agree.
pub fn validate_transaction(writes: &[WriteOp], max: usize) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::Invalid("a transaction needs at least one write".into()));
    }
    if writes.len() > max {
        return Err(StoreError::Invalid(format!(
            "a transaction takes at most {max} writes, got {}",
            writes.len()
        )));
    }
    let mut seen = foldhash::HashSet::with_capacity_and_hasher(writes.len(), Default::default());
    for write in writes {
        if !seen.insert(write.key()) {
            return Err(StoreError::Invalid(format!(
                "two writes to one item in a transaction: {:?}",
                write.key()
            )));
        }
    }
    Ok(())
}
