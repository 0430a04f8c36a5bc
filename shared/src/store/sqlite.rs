//! Embedded store adapter: one SQLite table of `(pk, sk) -> JSON item`.
//!
//! SQLite gives us durable, atomic transactions in a single file with no
//! server; its B-tree on `(pk, sk)` serves range queries in sort-key order,
//! exactly like a DynamoDB partition. The database runs in WAL mode with
//! `synchronous=FULL`, so a committed transaction survives `kill -9` and
//! power loss. One connection writes (SQLite has one writer at a time
//! anyway); reads use a small, bounded pool of their own connections, which
//! WAL lets proceed while a write is in progress. Another thread copies the
//! log back into the database file ([`super::checkpointer`]), so commits
//! only append to it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::Semaphore;

use super::checkpointer::Checkpointer;
use super::layout::SettledLayout;
use super::{
    Condition, Item, Key, Layout, LayoutUse, Page, Query, SortRange, Store, StoreError, WriteOp,
    validate_transaction,
};

/// SQLite has no transaction size limit worth the name; this keeps one
/// batch-writer transaction bounded in memory.
const MAX_TRANSACTION_WRITES: usize = 200_000;

/// Read connections open at once. Each holds a page cache of its own (up to
/// SQLite's default 2 MiB), and two cores gain nothing from more of them.
const MAX_READERS: usize = 4;

/// Page cache of the writer connection, in KiB. It keeps the B-tree pages of
/// id markers and memberships that the batch writer looks up and updates; a
/// reader's cache cannot, since every commit empties it.
const WRITER_CACHE_KIB: u32 = 8 * 1024;

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_slots: Arc<Semaphore>,
    checkpointer: Arc<Checkpointer>,
    layout: SettledLayout,
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(internal)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA busy_timeout=10000;
         PRAGMA foreign_keys=OFF;",
    )
    .map_err(internal)?;
    Ok(conn)
}

fn internal(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(err.to_string())
}

fn decode(json: &str) -> Result<Item, StoreError> {
    serde_json::from_str(json).map_err(internal)
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let writer = open(&path)?;
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS items (
                     pk   TEXT NOT NULL,
                     sk   TEXT NOT NULL,
                     item TEXT NOT NULL,
                     PRIMARY KEY (pk, sk)
                 ) WITHOUT ROWID;",
            )
            .map_err(internal)?;
        writer
            .execute_batch(&format!("PRAGMA cache_size=-{WRITER_CACHE_KIB}; PRAGMA wal_autocheckpoint=0;"))
            .map_err(internal)?;
        let checkpointer = Checkpointer::start(open(&path)?).map_err(internal)?;
        Ok(Self {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            read_slots: Arc::new(Semaphore::new(MAX_READERS)),
            checkpointer: Arc::new(checkpointer),
            layout: SettledLayout::new(Layout::default()),
        })
    }

    /// The same store, with hot items split as `layout` says: one writer
    /// needs no shards, but the readers must sum them all the same, and
    /// tests check that they do on both backends.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = SettledLayout::new(layout);
        self
    }

    /// Runs `f` on a pooled read connection on the blocking thread pool.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let slot = self.read_slots.clone().acquire_owned().await.map_err(internal)?;
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let pooled = readers.lock().expect("reader pool poisoned").pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open(&path)?,
            };
            let result = f(&conn);
            readers.lock().expect("reader pool poisoned").push(conn);
            result
        })
        .await
        .map_err(internal)?
    }

    /// Runs `f` in one read snapshot on the writer connection, on the
    /// blocking thread pool: the reads that decide the next write. The
    /// writer connection's cache holds the pages the last writes touched; a
    /// pooled reader's is emptied by every commit (WAL mode drops a
    /// connection's whole cache when the database changed).
    async fn read_on_writer<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let conn = writer.lock().expect("store writer poisoned");
            let snapshot = conn.unchecked_transaction().map_err(internal)?;
            f(&snapshot)
        })
        .await
        .map_err(internal)?
    }
}

fn get_one(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT item FROM items WHERE pk = ?1 AND sk = ?2")
        .map_err(internal)?
        .query_row(params![key.pk, key.sk], |row| row.get(0))
        .optional()
        .map_err(internal)?;
    json.as_deref().map(decode).transpose()
}

/// Smallest string greater than every string that starts with `prefix`
/// (in SQLite's and DynamoDB's byte-wise UTF-8 order).
fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

fn run_query(conn: &Connection, query: &Query) -> Result<Page, StoreError> {
    let (mut low, mut high, high_inclusive) = match &query.range {
        SortRange::All => (String::new(), prefix_upper_bound(""), false),
        SortRange::Prefix(prefix) => (prefix.clone(), prefix_upper_bound(prefix), false),
        SortRange::Between(low, high) => (low.clone(), high.clone(), true),
    };
    let mut low_inclusive = true;
    let mut high_inclusive = high_inclusive;
    if let Some(after) = &query.start_after {
        if query.descending {
            if *after <= high {
                high = after.clone();
                high_inclusive = false;
            }
        } else if *after >= low {
            low = after.clone();
            low_inclusive = false;
        }
    }
    // No `LIMIT ?`: SQLite re-prepares a statement whenever a bound LIMIT
    // is rebound (the planner uses its value), which was most of a small
    // query's time. Rows come one at a time in key order: stop at the limit.
    let sql = format!(
        "SELECT sk, item FROM items WHERE pk = ?1 AND sk {} ?2 AND sk {} ?3 ORDER BY sk {}",
        if low_inclusive { ">=" } else { ">" },
        if high_inclusive { "<=" } else { "<" },
        if query.descending { "DESC" } else { "ASC" },
    );
    let mut statement = conn.prepare_cached(&sql).map_err(internal)?;
    let rows = statement
        .query_map(params![query.pk, low, high], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(internal)?;
    let mut items = Vec::new();
    for row in rows.take(query.limit.unwrap_or(usize::MAX)) {
        let (sk, json) = row.map_err(internal)?;
        items.push((Key::new(query.pk.clone(), sk), decode(&json)?));
    }
    let last_sk = match query.limit {
        Some(limit) if items.len() == limit && limit > 0 => items.last().map(|(k, _)| k.sk.clone()),
        _ => None,
    };
    Ok(Page { items, last_sk })
}

/// The JSON of each put's item, in `writes`' order (`None` for other
/// writes). Encoded before taking the writer connection, which the other
/// drain loop may need meanwhile.
fn encode_puts(writes: &[WriteOp]) -> Result<Vec<Option<String>>, StoreError> {
    writes
        .iter()
        .map(|write| match write {
            WriteOp::Put { item, .. } => serde_json::to_string(item).map(Some).map_err(internal),
            _ => Ok(None),
        })
        .collect()
}

/// Applies `writes`, whose puts' items `puts` holds encoded.
fn run_transaction(
    conn: &mut Connection,
    writes: &[WriteOp],
    puts: &[Option<String>],
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
    // Prepared once per transaction, not looked up in the statement cache
    // once per write: a batch's transaction has thousands of writes.
    let mut insert_new = tx
        .prepare_cached(
            "INSERT INTO items (pk, sk, item) VALUES (?1, ?2, ?3) ON CONFLICT (pk, sk) DO NOTHING",
        )
        .map_err(internal)?;
    let mut replace = tx
        .prepare_cached(
            "INSERT INTO items (pk, sk, item) VALUES (?1, ?2, ?3)
             ON CONFLICT (pk, sk) DO UPDATE SET item = excluded.item",
        )
        .map_err(internal)?;
    for (index, (write, put)) in writes.iter().zip(puts).enumerate() {
        let key = write.key();
        // Most writes of a batch are puts of new items (events, id markers,
        // first-seen memberships): insert-if-absent answers their condition
        // without reading and decoding the current item.
        match (write, put) {
            (WriteOp::Put { condition: Condition::NotExists, .. }, Some(json)) => {
                let inserted = insert_new.execute(params![key.pk, key.sk, json]).map_err(internal)?;
                if inserted == 0 {
                    // Dropping `tx` rolls back everything written so far.
                    return Err(StoreError::ConditionFailed { index });
                }
                continue;
            }
            (WriteOp::Put { condition: Condition::Always, .. }, Some(json)) => {
                replace.execute(params![key.pk, key.sk, json]).map_err(internal)?;
                continue;
            }
            _ => {}
        }
        let current = get_one(&tx, key)?;
        if !write.condition().holds(current.as_ref()) {
            return Err(StoreError::ConditionFailed { index });
        }
        if matches!(write, WriteOp::Check { .. }) {
            continue;
        }
        match write.apply(current) {
            Some(item) => {
                // A conditional put's item was encoded before the lock; an
                // update's depends on the current item.
                let encoded;
                let json = match put {
                    Some(json) => json,
                    None => {
                        encoded = serde_json::to_string(&item).map_err(internal)?;
                        &encoded
                    }
                };
                replace.execute(params![key.pk, key.sk, json]).map_err(internal)?;
            }
            None => {
                tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                    .map_err(internal)?
                    .execute(params![key.pk, key.sk])
                    .map_err(internal)?;
            }
        }
    }
    drop((insert_new, replace));
    tx.commit().map_err(internal)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.read(move |conn| get_one(conn, &key)).await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        // One read transaction: one snapshot, and one WAL lock instead of one per key.
        self.read(move |conn| {
            let snapshot = conn.unchecked_transaction().map_err(internal)?;
            keys.iter().map(|key| get_one(&snapshot, key)).collect()
        })
        .await
    }

    async fn exist_before_write(&self, keys: &[Key]) -> Result<Vec<bool>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.read_on_writer(move |snapshot| {
            let mut exists =
                snapshot.prepare_cached("SELECT 1 FROM items WHERE pk = ?1 AND sk = ?2").map_err(internal)?;
            keys.iter().map(|key| exists.exists(params![key.pk, key.sk]).map_err(internal)).collect()
        })
        .await
    }

    async fn read_before_write(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.read_on_writer(move |snapshot| keys.iter().map(|key| get_one(snapshot, key)).collect()).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.clone();
        self.read(move |conn| run_query(conn, &query)).await
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&writes, MAX_TRANSACTION_WRITES)?;
        let writer = self.writer.clone();
        let checkpointer = self.checkpointer.clone();
        tokio::task::spawn_blocking(move || {
            let puts = encode_puts(&writes)?;
            let committed =
                run_transaction(&mut writer.lock().expect("store writer poisoned"), &writes, &puts);
            if committed.is_ok() {
                checkpointer.committed();
            }
            committed
        })
        .await
        .map_err(internal)?
    }

    fn max_transaction_writes(&self) -> usize {
        MAX_TRANSACTION_WRITES
    }

    fn layout(&self) -> Layout {
        self.layout.current()
    }

    async fn settle_layout(&self, usage: LayoutUse) -> Result<(), StoreError> {
        self.layout.settle(self, usage).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn embedded_store_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.sqlite3")).unwrap();
        super::super::contract::run_all(&store).await;
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_a_commit_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        let file_size = || std::fs::metadata(&path).unwrap().len();
        let before = file_size();
        let writes = (0..200)
            .map(|i| WriteOp::Put {
                key: Key::new("p", format!("{i:04}")),
                item: [("text".to_owned(), "x".repeat(200).into())].into_iter().collect(),
                condition: super::super::Condition::NotExists,
            })
            .collect();
        store.transact(writes).await.unwrap();
        // Far below SQLite's own checkpoint threshold (1,000 pages), which
        // the writer connection has turned off anyway: only the
        // checkpointer's thread copies these pages into the file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while file_size() <= before {
            assert!(std::time::Instant::now() < deadline, "no checkpoint within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(store.query(&Query::partition("p")).await.unwrap().items.len(), 200);
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let key = Key::new("p", "s");
        {
            let store = SqliteStore::open(&path).unwrap();
            let mut item = Item::new();
            item.insert("n".into(), 1.into());
            store
                .transact(vec![WriteOp::Put {
                    key: key.clone(),
                    item,
                    condition: super::super::Condition::Always,
                }])
                .await
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap()["n"], 1);
    }
}
