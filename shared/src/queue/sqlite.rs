//! Embedded queue adapter: a durable SQS look-alike in its own SQLite file.
//!
//! One thread owns the connection and executes commands in groups: every
//! command waiting when it wakes runs inside one transaction, and each
//! caller is answered only after that transaction has committed
//! (`synchronous=FULL`). Many concurrent ingest requests therefore share one
//! fsync (group commit) and an acknowledged message survives `kill -9`.
//!
//! The file is opened in exclusive locking mode: one process owns a queue,
//! so a second local stack on the same data directory fails fast instead of
//! stealing deliveries. That single consumer also makes start-up recovery
//! safe: messages that were in flight when a previous process died are made
//! visible again at once rather than after their visibility timeout.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, Transaction, params};
use tokio::sync::{Notify, oneshot};

use super::{DeadLetter, DeadLetterEntry, Message, Queue, QueueDepth, QueueError, bounded_reason};

#[derive(Clone, Copy, Debug)]
pub struct QueueConfig {
    pub visibility_timeout: Duration,
    /// Deliveries after which a message goes to the dead-letter table.
    pub max_receives: u32,
    pub max_message_bytes: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { visibility_timeout: Duration::from_secs(30), max_receives: 5, max_message_bytes: 256 * 1024 }
    }
}

enum Command {
    Send(Vec<String>, Duration, oneshot::Sender<Result<(), QueueError>>),
    Receive(usize, oneshot::Sender<Result<Vec<Message>, QueueError>>),
    Delete(Vec<String>, oneshot::Sender<Result<(), QueueError>>),
    Depth(oneshot::Sender<Result<QueueDepth, QueueError>>),
    SetAside(Vec<DeadLetter>, oneshot::Sender<Result<(), QueueError>>),
    DeadLetters(usize, oneshot::Sender<Result<Vec<DeadLetterEntry>, QueueError>>),
    Redrive(usize, oneshot::Sender<Result<usize, QueueError>>),
}

pub struct SqliteQueue {
    commands: mpsc::Sender<Command>,
    arrivals: Arc<Notify>,
    config: QueueConfig,
}

/// The layout: a message's delivery state (`messages`, small rows) apart
/// from its body (`message_bodies`). A receive updates the state of every
/// message it hands out, and SQLite rewrites a whole row on update: with the
/// body in the same row, each delivery rewrote up to 256 KiB per message.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS messages (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        sent_at       INTEGER NOT NULL,
        visible_at    INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (visible_at, id);
    CREATE TABLE IF NOT EXISTS message_bodies (
        id   INTEGER PRIMARY KEY,
        body TEXT    NOT NULL
    );
    CREATE TABLE IF NOT EXISTS dead_letters (
        id            INTEGER PRIMARY KEY,
        body          TEXT    NOT NULL,
        sent_at       INTEGER NOT NULL,
        receive_count INTEGER NOT NULL,
        dead_at       INTEGER NOT NULL,
        reason        TEXT
    );";

/// Takes the queue file (exclusively), brings an older layout forward and
/// makes messages that were in flight when the last owner died visible.
fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "PRAGMA locking_mode=EXCLUSIVE;
         PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;",
    )?;
    let tx = conn.unchecked_transaction()?;
    // Before the split, `messages` held the bodies too (and a receipt column).
    let bodies_inline: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('messages') WHERE name = 'body'",
        [],
        |row| row.get(0),
    )?;
    if bodies_inline {
        tx.execute_batch(
            "ALTER TABLE messages RENAME TO messages_with_bodies; DROP INDEX messages_by_visibility;",
        )?;
    }
    tx.execute_batch(SCHEMA)?;
    // Before poison events were set aside, dead letters had no reason.
    let has_reason: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('dead_letters') WHERE name = 'reason'",
        [],
        |row| row.get(0),
    )?;
    if !has_reason {
        tx.execute_batch("ALTER TABLE dead_letters ADD COLUMN reason TEXT")?;
    }
    if bodies_inline {
        tx.execute_batch(
            "INSERT INTO messages (id, sent_at, visible_at, receive_count)
                 SELECT id, sent_at, visible_at, receive_count FROM messages_with_bodies;
             INSERT INTO message_bodies (id, body) SELECT id, body FROM messages_with_bodies;
             DROP TABLE messages_with_bodies;",
        )?;
    }
    tx.execute("UPDATE messages SET visible_at = 0 WHERE receive_count > 0", [])?;
    tx.commit()
}

fn internal(err: impl std::fmt::Display) -> QueueError {
    QueueError::Internal(err.to_string())
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl SqliteQueue {
    pub fn open(path: impl AsRef<Path>, config: QueueConfig) -> Result<Self, QueueError> {
        let conn = Connection::open(path.as_ref()).map_err(internal)?;
        prepare(&conn).map_err(|err| {
            QueueError::Unavailable(format!(
                "cannot open the queue at {} (is another local stack using this data directory?): {err}",
                path.as_ref().display()
            ))
        })?;
        let (commands, inbox) = mpsc::channel();
        let arrivals = Arc::new(Notify::new());
        let worker_arrivals = arrivals.clone();
        std::thread::Builder::new()
            .name("queue-writer".into())
            .spawn(move || run_worker(conn, inbox, worker_arrivals, config))
            .map_err(internal)?;
        Ok(Self { commands, arrivals, config })
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, QueueError>>) -> Command,
    ) -> Result<T, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .map_err(|_| QueueError::Unavailable("queue worker stopped".into()))?;
        answer.await.map_err(|_| QueueError::Unavailable("queue worker stopped".into()))?
    }
}

/// Runs commands in groups, one transaction (and one fsync) per group.
fn run_worker(
    mut conn: Connection,
    inbox: mpsc::Receiver<Command>,
    arrivals: Arc<Notify>,
    config: QueueConfig,
) {
    const MAX_GROUP: usize = 512;
    while let Ok(first) = inbox.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match inbox.try_recv() {
                Ok(command) => group.push(command),
                Err(_) => break,
            }
        }
        let sent_any = group.iter().any(|c| matches!(c, Command::Send(..) | Command::Redrive(..)));
        match conn.transaction() {
            Ok(tx) => {
                let replies: Vec<Reply> =
                    group.into_iter().map(|command| execute(&tx, command, &config)).collect();
                match tx.commit() {
                    Ok(()) => replies.into_iter().for_each(Reply::deliver),
                    Err(err) => {
                        let message = err.to_string();
                        replies.into_iter().for_each(|r| r.fail(&message));
                    }
                }
            }
            Err(err) => {
                let message = err.to_string();
                for command in group {
                    Reply::from_failed(command, &message);
                }
            }
        }
        if sent_any {
            arrivals.notify_waiters();
        }
    }
}

/// A computed answer held back until its transaction commits.
enum Reply {
    Unit(oneshot::Sender<Result<(), QueueError>>, Result<(), QueueError>),
    Messages(oneshot::Sender<Result<Vec<Message>, QueueError>>, Result<Vec<Message>, QueueError>),
    Depth(oneshot::Sender<Result<QueueDepth, QueueError>>, Result<QueueDepth, QueueError>),
    DeadLetters(
        oneshot::Sender<Result<Vec<DeadLetterEntry>, QueueError>>,
        Result<Vec<DeadLetterEntry>, QueueError>,
    ),
    Count(oneshot::Sender<Result<usize, QueueError>>, Result<usize, QueueError>),
}

impl Reply {
    fn deliver(self) {
        // A caller that gave up (dropped its receiver) needs no answer.
        match self {
            Reply::Unit(to, result) => drop(to.send(result)),
            Reply::Messages(to, result) => drop(to.send(result)),
            Reply::Depth(to, result) => drop(to.send(result)),
            Reply::DeadLetters(to, result) => drop(to.send(result)),
            Reply::Count(to, result) => drop(to.send(result)),
        }
    }

    fn fail(self, message: &str) {
        let err = || QueueError::Internal(format!("queue commit failed: {message}"));
        match self {
            Reply::Unit(to, _) => drop(to.send(Err(err()))),
            Reply::Messages(to, _) => drop(to.send(Err(err()))),
            Reply::Depth(to, _) => drop(to.send(Err(err()))),
            Reply::DeadLetters(to, _) => drop(to.send(Err(err()))),
            Reply::Count(to, _) => drop(to.send(Err(err()))),
        }
    }

    fn from_failed(command: Command, message: &str) {
        let reply = match command {
            Command::Send(_, _, to) | Command::Delete(_, to) | Command::SetAside(_, to) => {
                Reply::Unit(to, Ok(()))
            }
            Command::Receive(_, to) => Reply::Messages(to, Ok(Vec::new())),
            Command::Depth(to) => Reply::Depth(to, Ok(QueueDepth::default())),
            Command::DeadLetters(_, to) => Reply::DeadLetters(to, Ok(Vec::new())),
            Command::Redrive(_, to) => Reply::Count(to, Ok(0)),
        };
        reply.fail(message);
    }
}

fn execute(tx: &Transaction, command: Command, config: &QueueConfig) -> Reply {
    match command {
        Command::Send(bodies, delay, to) => Reply::Unit(to, send(tx, &bodies, delay)),
        Command::Receive(max, to) => Reply::Messages(to, receive(tx, max, config)),
        Command::Delete(receipts, to) => Reply::Unit(to, delete(tx, &receipts)),
        Command::Depth(to) => Reply::Depth(to, depth(tx)),
        Command::SetAside(letters, to) => Reply::Unit(to, set_aside(tx, &letters)),
        Command::DeadLetters(max, to) => Reply::DeadLetters(to, dead_letters(tx, max)),
        Command::Redrive(max, to) => Reply::Count(to, redrive(tx, max)),
    }
}

fn dead_letters(tx: &Transaction, max: usize) -> Result<Vec<DeadLetterEntry>, QueueError> {
    let mut select = tx
        .prepare_cached("SELECT id, reason, body FROM dead_letters ORDER BY dead_at, id LIMIT ?1")
        .map_err(internal)?;
    let rows = select
        .query_map(params![max as i64], |row| {
            Ok(DeadLetterEntry {
                id: row.get::<_, i64>(0)?.to_string(),
                reason: row.get(1)?,
                body: row.get(2)?,
            })
        })
        .map_err(internal)?;
    rows.collect::<Result<_, _>>().map_err(internal)
}

/// Moves dead letters back as new messages, in the same transaction that
/// removes them from the dead-letter table.
fn redrive(tx: &Transaction, max: usize) -> Result<usize, QueueError> {
    let letters = dead_letters(tx, max)?;
    let bodies: Vec<String> = letters.iter().map(|letter| letter.body.clone()).collect();
    send(tx, &bodies, Duration::ZERO)?;
    let mut remove = tx.prepare_cached("DELETE FROM dead_letters WHERE id = ?1").map_err(internal)?;
    for letter in &letters {
        remove.execute(params![letter.id.parse::<i64>().unwrap_or_default()]).map_err(internal)?;
    }
    if !letters.is_empty() {
        tracing::info!(count = letters.len(), "dead letters moved back into the queue");
    }
    Ok(letters.len())
}

/// Dead letters set aside by the batch writer never were queue messages:
/// they take ids below zero, apart from the ids of messages moved here
/// after too many deliveries, which keep their (positive) message ids.
fn set_aside(tx: &Transaction, letters: &[DeadLetter]) -> Result<(), QueueError> {
    let now = now_millis();
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO dead_letters (id, body, sent_at, receive_count, dead_at, reason)
             VALUES ((SELECT MIN(0, COALESCE(MIN(id), 0)) - 1 FROM dead_letters), ?1, ?2, 0, ?2, ?3)",
        )
        .map_err(internal)?;
    for letter in letters {
        insert.execute(params![letter.body, now, bounded_reason(&letter.reason)]).map_err(internal)?;
        tracing::warn!(
            reason = bounded_reason(&letter.reason),
            "an event was set aside in the dead-letter table"
        );
    }
    Ok(())
}

fn send(tx: &Transaction, bodies: &[String], delay: Duration) -> Result<(), QueueError> {
    let now = now_millis();
    let visible_at = now + delay.as_millis() as i64;
    let mut insert =
        tx.prepare_cached("INSERT INTO messages (sent_at, visible_at) VALUES (?1, ?2)").map_err(internal)?;
    let mut insert_body =
        tx.prepare_cached("INSERT INTO message_bodies (id, body) VALUES (?1, ?2)").map_err(internal)?;
    for body in bodies {
        insert.execute(params![now, visible_at]).map_err(internal)?;
        insert_body.execute(params![tx.last_insert_rowid(), body]).map_err(internal)?;
    }
    Ok(())
}

/// Message bytes after which a receive stops adding messages (it always
/// hands out at least one): a hundred large batches at once would sit in
/// the batch writer's memory while it stores them a group at a time. SQS
/// bounds a receive the same way, by its ten-message limit.
const MAX_RECEIVE_BYTES: usize = 1024 * 1024;

fn receive(tx: &Transaction, max: usize, config: &QueueConfig) -> Result<Vec<Message>, QueueError> {
    let now = now_millis();
    let candidates: Vec<(i64, String, i64, u32)> = {
        let mut select = tx
            .prepare_cached(
                "SELECT m.id, b.body, m.sent_at, m.receive_count
                 FROM messages m JOIN message_bodies b ON b.id = m.id
                 WHERE m.visible_at <= ?1 ORDER BY m.id",
            )
            .map_err(internal)?;
        let rows = select
            .query_map(params![now], |row| {
                Ok((row.get(0)?, row.get::<_, String>(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(internal)?;
        // Rows are read one at a time: stop at `max` or once the budget is
        // reached (no `LIMIT ?`, which SQLite re-prepares on every rebind).
        let mut candidates = Vec::new();
        let mut bytes = 0;
        for row in rows.take(max) {
            let row = row.map_err(internal)?;
            bytes += row.1.len();
            candidates.push(row);
            if bytes >= MAX_RECEIVE_BYTES {
                break;
            }
        }
        candidates
    };
    let hidden_until = now + config.visibility_timeout.as_millis() as i64;
    let mut delivered = Vec::with_capacity(candidates.len());
    for (id, body, sent_at, receive_count) in candidates {
        if receive_count >= config.max_receives {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO dead_letters (id, body, sent_at, receive_count, dead_at, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'delivered too often without being stored')",
            )
            .map_err(internal)?
            .execute(params![id, body, sent_at, receive_count, now])
            .map_err(internal)?;
            remove(tx, id, None)?;
            tracing::warn!(message_id = id, receive_count, "message moved to the dead-letter table");
            continue;
        }
        tx.prepare_cached(
            "UPDATE messages SET receive_count = receive_count + 1, visible_at = ?2 WHERE id = ?1",
        )
        .map_err(internal)?
        .execute(params![id, hidden_until])
        .map_err(internal)?;
        let receive_count = receive_count + 1;
        let receipt = format!("{id}:{receive_count}");
        delivered.push(Message { id: id.to_string(), receipt, body, receive_count });
    }
    Ok(delivered)
}

/// Deletes a message (only in its `receive_count`-th delivery, if given)
/// and, if it was there, its body.
fn remove(tx: &Transaction, id: i64, receive_count: Option<u32>) -> Result<(), QueueError> {
    let removed = tx
        .prepare_cached("DELETE FROM messages WHERE id = ?1 AND (?2 IS NULL OR receive_count = ?2)")
        .map_err(internal)?
        .execute(params![id, receive_count])
        .map_err(internal)?;
    if removed > 0 {
        tx.prepare_cached("DELETE FROM message_bodies WHERE id = ?1")
            .map_err(internal)?
            .execute(params![id])
            .map_err(internal)?;
    }
    Ok(())
}

/// A receipt names one delivery of a message: `id:receive_count`. A later
/// delivery's receipt differs, so a stale one deletes nothing (as in SQS).
fn delete(tx: &Transaction, receipts: &[String]) -> Result<(), QueueError> {
    for receipt in receipts {
        let Some((id, count)) = receipt.split_once(':') else { continue };
        let (Ok(id), Ok(count)) = (id.parse::<i64>(), count.parse::<u32>()) else { continue };
        remove(tx, id, Some(count))?;
    }
    Ok(())
}

fn depth(tx: &Transaction) -> Result<QueueDepth, QueueError> {
    let now = now_millis();
    let count = |sql: &str| -> Result<u64, QueueError> {
        tx.query_row(sql, params![now], |row| row.get::<_, i64>(0)).map(|n| n as u64).map_err(internal)
    };
    Ok(QueueDepth {
        visible: count("SELECT COUNT(*) FROM messages WHERE visible_at <= ?1")?,
        in_flight: count("SELECT COUNT(*) FROM messages WHERE visible_at > ?1")?,
        dead_letters: count("SELECT COUNT(*) FROM dead_letters WHERE ?1 IS NOT NULL")?,
    })
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        if let Some(body) = bodies.iter().find(|b| b.len() > self.config.max_message_bytes) {
            return Err(QueueError::TooLarge { size: body.len(), max: self.config.max_message_bytes });
        }
        if bodies.is_empty() {
            return Ok(());
        }
        self.call(|reply| Command::Send(bodies, Duration::ZERO, reply)).await
    }

    async fn send_delayed(&self, bodies: Vec<String>, delay: Duration) -> Result<(), QueueError> {
        if bodies.is_empty() {
            return Ok(());
        }
        self.call(|reply| Command::Send(bodies, delay, reply)).await
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetterEntry>, QueueError> {
        self.call(|reply| Command::DeadLetters(max, reply)).await
    }

    async fn redrive(&self, max: usize) -> Result<usize, QueueError> {
        self.call(|reply| Command::Redrive(max, reply)).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            // Register interest before looking, so a send that commits in
            // between still wakes us.
            let arrival = self.arrivals.notified();
            let messages = self.call(|reply| Command::Receive(max, reply)).await?;
            let now = Instant::now();
            if !messages.is_empty() || now >= deadline {
                return Ok(messages);
            }
            // Also wake periodically: hidden messages become visible by time alone.
            let nap = (deadline - now).min(Duration::from_millis(250));
            let _ = tokio::time::timeout(nap, arrival).await;
        }
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        self.call(|reply| Command::Delete(receipts, reply)).await
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        self.call(Command::Depth).await
    }

    async fn set_aside(&self, letters: Vec<DeadLetter>) -> Result<(), QueueError> {
        if letters.is_empty() {
            return Ok(());
        }
        self.call(|reply| Command::SetAside(letters, reply)).await
    }

    fn max_message_bytes(&self) -> usize {
        self.config.max_message_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, config: QueueConfig) -> SqliteQueue {
        SqliteQueue::open(dir.join("queue.sqlite3"), config).unwrap()
    }

    #[tokio::test]
    async fn embedded_queue_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let config = QueueConfig {
            visibility_timeout: Duration::from_millis(300),
            max_receives: 3,
            ..QueueConfig::default()
        };
        let queue = open(dir.path(), config);
        super::super::contract::run_all(&queue, config.visibility_timeout, config.max_receives).await;
    }

    #[tokio::test]
    async fn a_receive_hands_out_about_a_mebibyte_of_large_messages() {
        let dir = tempfile::tempdir().unwrap();
        let queue =
            open(dir.path(), QueueConfig { max_message_bytes: MAX_RECEIVE_BYTES, ..QueueConfig::default() });
        let large = "x".repeat(MAX_RECEIVE_BYTES / 2 + 1);
        queue.send(vec![large.clone(), large.clone(), large.clone(), "small".into()]).await.unwrap();
        let sizes = |messages: Vec<Message>| messages.iter().map(|m| m.body.len()).collect::<Vec<_>>();
        let first = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(sizes(first), [large.len(), large.len()], "stops once the budget is reached");
        let second = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(sizes(second), [large.len(), 5]);
    }

    #[tokio::test]
    async fn a_queue_file_with_bodies_inline_is_brought_forward() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The layout before message bodies moved to a table of their own.
            let old = Connection::open(dir.path().join("queue.sqlite3")).unwrap();
            old.execute_batch(
                "CREATE TABLE messages (
                     id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, sent_at INTEGER NOT NULL,
                     visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT);
                 CREATE INDEX messages_by_visibility ON messages (visible_at, id);
                 CREATE UNIQUE INDEX messages_by_receipt ON messages (receipt);
                 INSERT INTO messages (body, sent_at, visible_at) VALUES ('waiting', 1, 1);
                 INSERT INTO messages (body, sent_at, visible_at, receive_count, receipt)
                     VALUES ('in flight', 1, 9999999999999, 1, 'r');",
            )
            .unwrap();
        }
        let queue = open(dir.path(), QueueConfig::default());
        let got = queue.receive(10, Duration::ZERO).await.unwrap();
        let bodies: Vec<_> = got.iter().map(|m| (m.body.as_str(), m.receive_count)).collect();
        assert_eq!(bodies, [("waiting", 1), ("in flight", 2)]);
        queue.send(vec!["new".into()]).await.unwrap();
        queue.delete(got.into_iter().map(|m| m.receipt).collect()).await.unwrap();
        let rest = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(rest.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["new"]);
    }

    #[tokio::test]
    async fn in_flight_messages_return_at_once_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = QueueConfig { visibility_timeout: Duration::from_secs(600), ..QueueConfig::default() };
        {
            let queue = open(dir.path(), config);
            queue.send(vec!["kept".into()]).await.unwrap();
            let got = queue.receive(10, Duration::ZERO).await.unwrap();
            assert_eq!(got.len(), 1);
            // The process "dies" here without deleting the message.
        }
        // Give the old worker thread a moment to drop its exclusive lock.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let queue = open(dir.path(), config);
        let again = queue.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].body, "kept");
        assert_eq!(again[0].receive_count, 2);
    }
}
