//! The embedded store's background checkpointer.
//!
//! In WAL mode a commit appends pages to the write-ahead log, and now and
//! then the log's pages are copied back into the database file (a
//! checkpoint). Left to SQLite, the commit that crosses the log's size
//! threshold does that copy itself, holding the only writer connection:
//! the batch writer's critical path. Here the writer connection never
//! checkpoints; a thread of its own does, on its own connection, after
//! commits. A passive checkpoint takes no write lock, so commits go on
//! meanwhile. Measured in BENCHMARKS.md ("WAL checkpoints on a thread of
//! their own").

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Least time between the starts of two checkpoints: commits in between
/// only append to the log, and the next checkpoint copies each page they
/// touched once, however often they rewrote it.
const INTERVAL: Duration = Duration::from_millis(50);

pub(super) struct Checkpointer {
    state: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    /// Something was committed since the last checkpoint began.
    pending: bool,
    stop: bool,
}

impl Checkpointer {
    /// Starts checkpointing the database that `conn` has open (in WAL mode).
    pub(super) fn start(conn: Connection) -> std::io::Result<Self> {
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let shared = state.clone();
        let thread =
            std::thread::Builder::new().name("store-checkpoint".into()).spawn(move || run(&conn, &shared))?;
        Ok(Self { state, thread: Some(thread) })
    }

    /// Tells the checkpointer that a transaction has committed.
    pub(super) fn committed(&self) {
        let (state, wake) = &*self.state;
        state.lock().expect("checkpoint state poisoned").pending = true;
        wake.notify_one();
    }
}

fn run(conn: &Connection, shared: &(Mutex<State>, Condvar)) {
    let (state, wake) = shared;
    loop {
        {
            let mut state = wake
                .wait_while(state.lock().expect("checkpoint state poisoned"), |s| !s.pending && !s.stop)
                .expect("checkpoint state poisoned");
            if state.stop {
                return;
            }
            state.pending = false;
        }
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %err, "store checkpoint failed; the next commit retries it");
        }
        let guard = state.lock().expect("checkpoint state poisoned");
        let (guard, _) =
            wake.wait_timeout_while(guard, INTERVAL, |s| !s.stop).expect("checkpoint state poisoned");
        if guard.stop {
            return;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (state, wake) = &*self.state;
        state.lock().expect("checkpoint state poisoned").stop = true;
        wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
