//! The batch writer: turns queue messages into stored, counted events.
//!
//! The same logic serves the SQS-triggered Lambda (which reports failed
//! message ids back to SQS) and the local stack's drain loop.

use std::time::Duration;

use crate::domain::event::Event;
use crate::messages;
use crate::queue::{DeadLetter, Queue, QueueError};
use crate::repo::events::{WriteReport, WriterMemory, store_events_into};
use crate::store::Store;

/// A message handed to the batch writer: its id and body.
pub struct Incoming<'a> {
    pub id: &'a str,
    pub body: &'a str,
}

#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Ids of messages whose events are all stored: delete them.
    pub done: Vec<String>,
    /// Ids of messages to deliver again, counting this delivery (unreadable,
    /// or their refused events could not be set aside).
    pub failed: Vec<String>,
    /// Ids of messages the store could not take just now (unavailable,
    /// throttled, racing writers): handed back as new messages
    /// ([`Queue::send_delayed`]), so that an outage spends no deliveries.
    pub retry: Vec<String>,
    pub report: WriteReport,
    pub events: usize,
    /// Events the store refused for good, set aside in the dead-letter area.
    pub set_aside: usize,
}

/// Stores the events of a batch of messages. A message that cannot be read
/// fails alone (and reaches the dead-letter queue after enough deliveries:
/// a writer of another version may read it); the others are stored
/// together, so counters are written once per batch. When the store refuses
/// the batch for good (an event it can never hold), the writer narrows the
/// refusal down to the guilty events, sets each aside in the dead-letter
/// area with the reason, and stores every other event: see [`isolate`].
pub async fn process(
    store: &dyn Store,
    memory: &WriterMemory,
    dead_letters: &dyn Queue,
    messages: &[Incoming<'_>],
) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut readable: Vec<&Incoming> = Vec::new();
    let mut events = Vec::new();
    for message in messages {
        match messages::unpack(message.body) {
            Ok(batch) => {
                readable.push(message);
                events.extend(batch);
            }
            Err(err) => {
                tracing::warn!(message_id = message.id, error = %err, "unreadable queue message");
                outcome.failed.push(message.id.to_owned());
            }
        }
    }
    outcome.events = events.len();
    match store_events_into(store, memory, events, &mut outcome.report).await {
        Ok(()) => {
            outcome.done = readable.iter().map(|m| m.id.to_owned()).collect();
        }
        Err(err) if err.is_permanent() => {
            tracing::warn!(error = %err, "the store refused a batch for good; singling out the events it refuses");
            // Read again rather than kept: the common batch keeps no copy.
            let mut events = Vec::with_capacity(outcome.events);
            let mut owners = Vec::with_capacity(outcome.events);
            for (owner, message) in readable.iter().enumerate() {
                let batch = messages::unpack(message.body).unwrap_or_default();
                owners.extend(std::iter::repeat_n(owner, batch.len()));
                events.extend(batch);
            }
            let isolated = isolate(store, memory, &events, &mut outcome.report).await;
            // Bisection meets the events stored before a refusal again, as
            // duplicates; each event is counted once here instead.
            let accounted = outcome.report.stored + isolated.refused.len() + isolated.unstored.len();
            outcome.report.duplicates = events.len().saturating_sub(accounted);
            let mut failed = vec![false; readable.len()];
            let mut retry = vec![false; readable.len()];
            for &index in &isolated.unstored {
                retry[owners[index]] = true;
            }
            let letters: Vec<DeadLetter> = isolated
                .refused
                .iter()
                .filter(|(index, _)| !retry[owners[*index]])
                .filter_map(|(index, reason)| {
                    let body =
                        messages::pack(std::slice::from_ref(&events[*index]), usize::MAX).ok()?.pop()?;
                    Some(DeadLetter { body, reason: reason.clone() })
                })
                .collect();
            outcome.set_aside = letters.len();
            // A message is done once its events are stored or set aside;
            // if setting them aside fails, it is delivered again (its
            // stored events are then skipped as duplicates).
            if let Err(err) = dead_letters.set_aside(letters).await {
                tracing::error!(error = %err, "setting refused events aside failed; their messages will be redelivered");
                failed.iter_mut().for_each(|f| *f = true);
                outcome.set_aside = 0;
            }
            for ((message, failed), retry) in readable.iter().zip(failed).zip(retry) {
                let id = message.id.to_owned();
                match (retry, failed) {
                    (true, _) => outcome.retry.push(id),
                    (false, true) => outcome.failed.push(id),
                    (false, false) => outcome.done.push(id),
                }
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "the store could not take a batch just now; it will be retried");
            outcome.retry.extend(readable.iter().map(|m| m.id.to_owned()));
        }
    }
    crate::metrics::count(
        "batch-writer",
        &[
            ("EventsWritten", outcome.report.stored as u64),
            ("DuplicatesDropped", outcome.report.duplicates as u64),
            ("BatchFailures", outcome.failed.len() as u64),
            ("BatchRetries", outcome.retry.len() as u64),
            ("EventsSetAside", outcome.set_aside as u64),
        ],
    );
    outcome
}

/// What [`isolate`] made of a batch the store refused.
#[derive(Debug, Default)]
struct Isolated {
    /// Events the store refuses for good, alone: (index, reason).
    refused: Vec<(usize, String)>,
    /// Events neither stored nor refused, because the store failed in
    /// passing (unavailable, or racing writers): their messages go back.
    unstored: Vec<usize>,
}

/// Bisects a refused batch: each half is stored on its own, a refused half
/// is halved again, down to single events. With one poison event among
/// n, that is about 2·log2(n) attempts, each storing what it can: the
/// exactly-once markers make retrying any part safe, so events committed
/// before a refusal are skipped as duplicates in the next attempt.
async fn isolate(
    store: &dyn Store,
    memory: &WriterMemory,
    events: &[Event],
    report: &mut WriteReport,
) -> Isolated {
    let mut isolated = Isolated::default();
    let middle = events.len() / 2;
    let mut parts = vec![(middle, events.len()), (0, middle)];
    while let Some((start, end)) = parts.pop() {
        if start == end {
            continue;
        }
        match store_events_into(store, memory, events[start..end].to_vec(), report).await {
            Ok(()) => {}
            Err(err) if err.is_permanent() && end - start == 1 => {
                tracing::warn!(error = %err, event_id = %events[start].id, "event refused by the store; set aside");
                isolated.refused.push((start, err.to_string()));
            }
            Err(err) if err.is_permanent() => {
                let middle = start + (end - start) / 2;
                parts.push((middle, end));
                parts.push((start, middle));
            }
            Err(err) => {
                tracing::warn!(error = %err, "storing part of a refused batch failed; it will be redelivered");
                isolated.unstored.extend(start..end);
            }
        }
    }
    isolated
}

impl BatchOutcome {
    /// Adds the outcome of another group of the same delivery.
    fn absorb(&mut self, part: BatchOutcome) {
        self.done.extend(part.done);
        self.failed.extend(part.failed);
        self.retry.extend(part.retry);
        self.events += part.events;
        self.set_aside += part.set_aside;
        self.report.absorb(part.report);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// How long a batch the store could not take waits before it is tried
/// again (SQS counts delays in whole seconds).
pub const RETRY_DELAY: Duration = Duration::from_secs(2);

/// Message bytes stored together by [`drain_once`]: about 1,200 events.
const MAX_GROUP_BYTES: usize = 256 * 1024;

/// Receives one batch from `queue` (waiting up to `wait`), stores it and
/// deletes what was stored. Returns the outcome (empty when nothing came).
pub async fn drain_once(
    store: &dyn Store,
    memory: &WriterMemory,
    queue: &dyn Queue,
    max_messages: usize,
    wait: Duration,
) -> Result<BatchOutcome, DrainError> {
    let received = queue.receive(max_messages, wait).await?;
    if received.is_empty() {
        return Ok(BatchOutcome::default());
    }
    // Many large messages at once would hold all their events, and every
    // write planned for them, in memory: store them in groups of a bounded
    // size instead (each group is its own exactly-once unit anyway).
    let mut outcome = BatchOutcome::default();
    let mut group: Vec<Incoming> = Vec::new();
    let mut group_bytes = 0;
    for (index, message) in received.iter().enumerate() {
        group.push(Incoming { id: &message.id, body: &message.body });
        group_bytes += message.body.len();
        if group_bytes >= MAX_GROUP_BYTES || index + 1 == received.len() {
            outcome.absorb(process(store, memory, queue, &group).await);
            group.clear();
            group_bytes = 0;
        }
    }
    let mut finished: std::collections::HashSet<&str> = outcome.done.iter().map(String::as_str).collect();
    if !outcome.retry.is_empty() {
        let retry: std::collections::HashSet<&str> = outcome.retry.iter().map(String::as_str).collect();
        let bodies =
            received.iter().filter(|m| retry.contains(m.id.as_str())).map(|m| m.body.clone()).collect();
        // Handed back as new messages; should that fail too, the old ones
        // come back after their visibility timeout, as any failure's do.
        match queue.send_delayed(bodies, RETRY_DELAY).await {
            Ok(()) => finished.extend(retry),
            Err(err) => tracing::warn!(error = %err, "could not hand a batch back to the queue"),
        }
    }
    let receipts =
        received.iter().filter(|m| finished.contains(m.id.as_str())).map(|m| m.receipt.clone()).collect();
    queue.delete(receipts).await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::domain::event::{Event, EventType};
    use crate::domain::summary::Summary;
    use crate::repo::counters;
    use crate::store::testing::{Intercept, Intercepted};
    use crate::store::{Item, Key, StoreError, WriteOp};

    /// Counts the keys the batch writer checks before planning;
    /// `failing_once` also splits work into small transactions and fails
    /// one of them once: a batch writer dying half-way.
    struct Instrumented {
        keys_checked: AtomicUsize,
        /// Attribution items read (`repo::attribution`), apart from the above.
        attributions_read: AtomicUsize,
        transactions: AtomicUsize,
        fail_at: Option<usize>,
        max_writes: Option<usize>,
    }

    impl Instrumented {
        fn new(inner: std::sync::Arc<dyn Store>) -> Intercepted<Self> {
            Intercepted::new(inner, Self::counting(None, None))
        }

        fn failing_once(inner: std::sync::Arc<dyn Store>, fail_at: usize) -> Intercepted<Self> {
            Intercepted::new(inner, Self::counting(Some(fail_at), Some(40)))
        }

        fn counting(fail_at: Option<usize>, max_writes: Option<usize>) -> Self {
            Self {
                keys_checked: AtomicUsize::new(0),
                attributions_read: AtomicUsize::new(0),
                transactions: AtomicUsize::new(0),
                fail_at,
                max_writes,
            }
        }
    }

    #[async_trait]
    impl Intercept for Instrumented {
        async fn exist_before_write(&self, inner: &dyn Store, keys: &[Key]) -> Result<Vec<bool>, StoreError> {
            self.keys_checked.fetch_add(keys.len(), Ordering::SeqCst);
            inner.exist_before_write(keys).await
        }
        async fn read_before_write(
            &self,
            inner: &dyn Store,
            keys: &[Key],
        ) -> Result<Vec<Option<Item>>, StoreError> {
            let attributions = keys.iter().filter(|key| key.pk.starts_with("ATT#")).count();
            self.attributions_read.fetch_add(attributions, Ordering::SeqCst);
            self.keys_checked.fetch_add(keys.len() - attributions, Ordering::SeqCst);
            inner.read_before_write(keys).await
        }
        async fn transact(&self, inner: &dyn Store, writes: Vec<WriteOp>) -> Result<(), StoreError> {
            if Some(self.transactions.fetch_add(1, Ordering::SeqCst)) == self.fail_at {
                return Err(StoreError::Unavailable("injected failure".into()));
            }
            inner.transact(writes).await
        }
        fn max_transaction_writes(&self, inner: &dyn Store) -> usize {
            self.max_writes.unwrap_or_else(|| inner.max_transaction_writes())
        }
    }

    /// Counts the transaction attempts the store refused for now
    /// (conflicts, throttling).
    #[cfg(feature = "aws")]
    #[derive(Default)]
    struct CountingRefusals {
        refused: AtomicUsize,
    }

    #[cfg(feature = "aws")]
    #[async_trait]
    impl Intercept for CountingRefusals {
        async fn transact_attempt(
            &self,
            inner: &dyn Store,
            writes: Vec<WriteOp>,
        ) -> crate::store::retry::Attempt<()> {
            let attempt = inner.transact_attempt(writes).await;
            if matches!(attempt, crate::store::retry::Attempt::Again(_)) {
                self.refused.fetch_add(1, Ordering::SeqCst);
            }
            attempt
        }
    }

    /// 120 events of 30 users; ids start with `tag`.
    fn events(tag: &str) -> Vec<Event> {
        (0..120)
            .map(|i| Event {
                id: format!("{tag}{i}"),
                tenant_id: "t".into(),
                user_id: format!("u{}", i % 30),
                event_type: if i % 5 == 0 { EventType::Conversion } else { EventType::PageView },
                experiment_id: Some("exp".into()),
                variant: Some(["A", "B"][i % 2].into()),
                properties: Default::default(),
                timestamp: "2026-11-01T12:00:00Z".parse().unwrap(),
            })
            .collect()
    }

    fn bodies() -> Vec<(String, String)> {
        tagged_bodies("e")
    }

    fn tagged_bodies(tag: &str) -> Vec<(String, String)> {
        let events = events(tag);
        events
            .chunks(25)
            .enumerate()
            .map(|(i, chunk)| (format!("m{i}"), crate::messages::pack(chunk, 1 << 20).unwrap().remove(0)))
            .collect()
    }

    /// Delivers `messages` to the batch writer, with the membership cache
    /// the process has kept so far.
    async fn deliver(
        store: &dyn Store,
        memory: &WriterMemory,
        messages: &[(String, String)],
    ) -> BatchOutcome {
        deliver_to(store, memory, &no_dead_letters(), messages).await
    }

    async fn deliver_to(
        store: &dyn Store,
        memory: &WriterMemory,
        dead_letters: &dyn Queue,
        messages: &[(String, String)],
    ) -> BatchOutcome {
        let incoming: Vec<Incoming> = messages.iter().map(|(id, body)| Incoming { id, body }).collect();
        process(store, memory, dead_letters, &incoming).await
    }

    /// An embedded queue for tests that set nothing aside.
    fn no_dead_letters() -> crate::queue::sqlite::SqliteQueue {
        let dir = tempfile::tempdir().unwrap().keep();
        crate::queue::sqlite::SqliteQueue::open(dir.join("q.db"), Default::default()).unwrap()
    }

    /// Refuses for good (as DynamoDB refuses an item over its limits) any
    /// transaction that writes the event item of one of `poison`'s ids.
    struct Refusing {
        poison: Vec<String>,
        /// The refusal (counted from 0) answered `Unavailable` instead:
        /// an outage while the writer narrows a refusal down.
        outage_at: Option<usize>,
        refusals: AtomicUsize,
    }

    impl Refusing {
        fn new(
            inner: std::sync::Arc<dyn Store>,
            poison: &str,
            outage_at: Option<usize>,
        ) -> Intercepted<Self> {
            Intercepted::new(
                inner,
                Self { poison: vec![poison.into()], outage_at, refusals: AtomicUsize::new(0) },
            )
        }
    }

    #[async_trait]
    impl Intercept for Refusing {
        async fn transact(&self, inner: &dyn Store, writes: Vec<WriteOp>) -> Result<(), StoreError> {
            let refused = writes.iter().any(|write| {
                write.key().pk.starts_with("EV#")
                    && self.poison.iter().any(|id| write.key().sk.ends_with(&format!("#{id}")))
            });
            if refused {
                if Some(self.refusals.fetch_add(1, Ordering::SeqCst)) == self.outage_at {
                    return Err(StoreError::Unavailable("injected outage".into()));
                }
                return Err(StoreError::Invalid("ValidationException: item too large (injected)".into()));
            }
            inner.transact(writes).await
        }
        fn max_transaction_writes(&self, _inner: &dyn Store) -> usize {
            40
        }
    }

    /// One poison event in the third message: the other 119 events of the
    /// delivery are counted once, the poison one is set aside with its
    /// reason, and every message is done.
    async fn a_poison_event_fails_alone(inner: std::sync::Arc<dyn Store>, dead_letters: &dyn Queue) {
        let store = Refusing::new(inner.clone(), "e57", None);
        let memory = WriterMemory::default();
        let before = dead_letters.depth().await.unwrap().dead_letters;
        let outcome = deliver_to(&store, &memory, dead_letters, &bodies()).await;
        assert_eq!(outcome.failed, Vec::<String>::new());
        assert_eq!((outcome.done.len(), outcome.set_aside, outcome.report.stored), (5, 1, 119));
        assert_eq!(dead_letters.depth().await.unwrap().dead_letters, before + 1);
        let summary = counters::summary(inner.as_ref(), "t", Some("exp")).await.unwrap();
        assert_eq!(summary.total_events, 119);
        // Delivered again (a redelivery racing the delete): nothing more
        // is counted, and the poison event is refused again.
        let again = deliver_to(&store, &memory, dead_letters, &bodies()).await;
        assert_eq!((again.report.stored, again.report.duplicates), (0, 119));
        let summary = counters::summary(inner.as_ref(), "t", Some("exp")).await.unwrap();
        assert_eq!(summary.total_events, 119);
        // Replayed once the store takes it (e.g. after a fix), it counts once.
        let replay = deliver_to(inner.as_ref(), &memory, dead_letters, &bodies()).await;
        assert_eq!((replay.report.stored, replay.report.duplicates), (1, 119));
        assert_exact(inner.as_ref()).await;
    }

    /// A refusal narrowed down while the store also fails in passing hands
    /// back only the messages whose events were not all stored or refused.
    async fn an_outage_while_narrowing_hands_back_only_what_it_touched(inner: std::sync::Arc<dyn Store>) {
        // The whole delivery is refused; its first half (events 0..60, of
        // messages m0 to m2) then meets an outage.
        let store = Refusing::new(inner.clone(), "e3", Some(1));
        let memory = WriterMemory::default();
        let dead_letters = no_dead_letters();
        let first = deliver_to(&store, &memory, &dead_letters, &bodies()).await;
        assert_eq!(first.retry, ["m0", "m1", "m2"], "the messages the outage touched go back");
        assert_eq!((first.done.len(), first.set_aside), (2, 0));
        let retried = deliver_to(&store, &memory, &dead_letters, &bodies()[..3]).await;
        assert_eq!((retried.done.len(), retried.set_aside), (3, 1));
        assert_eq!(dead_letters.depth().await.unwrap().dead_letters, 1);
        let summary = counters::summary(inner.as_ref(), "t", Some("exp")).await.unwrap();
        assert_eq!(summary.total_events, 119);
    }

    #[tokio::test]
    async fn embedded_a_poison_event_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            std::sync::Arc::new(crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap());
        let queue =
            crate::queue::sqlite::SqliteQueue::open(dir.path().join("q.db"), Default::default()).unwrap();
        a_poison_event_fails_alone(store, &queue).await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_a_poison_event_fails_alone() {
        let ctx = crate::aws::testing::fresh_context().await;
        a_poison_event_fails_alone(ctx.store.clone(), ctx.queue.as_ref()).await;
    }

    #[tokio::test]
    async fn embedded_an_outage_while_narrowing_hands_back_only_what_it_touched() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            std::sync::Arc::new(crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap());
        an_outage_while_narrowing_hands_back_only_what_it_touched(store).await;
    }

    /// Not a stand-in: an event DynamoDB itself refuses (a number beyond
    /// its range, which ingest would have refused) reaches the writer
    /// through the queue, as from an older ingest; it alone is set aside.
    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_refusing_an_event_sets_only_it_aside() {
        let ctx = crate::aws::testing::fresh_context().await;
        let mut events = events("real");
        events[7].properties.insert("huge".into(), json!(1e308));
        let messages: Vec<(String, String)> = events
            .chunks(60)
            .enumerate()
            .map(|(i, chunk)| (format!("m{i}"), crate::messages::pack(chunk, 1 << 20).unwrap().remove(0)))
            .collect();
        let outcome =
            deliver_to(ctx.store.as_ref(), &WriterMemory::default(), ctx.queue.as_ref(), &messages).await;
        assert_eq!((outcome.done.len(), outcome.failed.len()), (2, 0));
        assert_eq!((outcome.set_aside, outcome.report.stored), (1, 119));
        assert_eq!(ctx.queue.depth().await.unwrap().dead_letters, 1);
        let summary = counters::summary(ctx.store.as_ref(), "t", Some("exp")).await.unwrap();
        assert_eq!(summary.total_events, 119);
    }

    async fn assert_exact(store: &dyn Store) {
        let summary: Summary = counters::summary(store, "t", Some("exp")).await.unwrap();
        assert_eq!(summary.total_events, 120);
        assert_eq!(summary.unique_users, 30);
        // Users alternate variants by parity: 15 users each; every 5th event converts.
        let a = &summary.variants["A"];
        assert_eq!((a.events, a.users, a.conversions, a.converted_users), (60, 15, 12, 3));
        let b = &summary.variants["B"];
        assert_eq!((b.events, b.users, b.conversions, b.converted_users), (60, 15, 12, 3));
        let all = counters::summary(store, "t", None).await.unwrap();
        assert_eq!(all.total_events, 120);
    }

    async fn redelivery_counts_once(store: std::sync::Arc<dyn Store>) {
        let messages = bodies();
        let memory = WriterMemory::default();
        let first = deliver(store.as_ref(), &memory, &messages).await;
        assert_eq!((first.done.len(), first.report.stored), (5, 120));
        let again = deliver(store.as_ref(), &memory, &messages).await;
        assert_eq!((again.done.len(), again.report.stored, again.report.duplicates), (5, 0, 120));
        assert_exact(store.as_ref()).await;
    }

    async fn failure_midway_then_redelivery_counts_once(store: std::sync::Arc<dyn Store>) {
        let failing = Instrumented::failing_once(store.clone(), 2);
        let messages = bodies();
        let memory = WriterMemory::default();
        let broken = deliver(&failing, &memory, &messages).await;
        assert_eq!(broken.retry.len(), 5, "the whole batch is handed back, to retry");
        assert!(broken.failed.is_empty(), "a store failure spends no delivery");
        assert!(
            failing.intercept.transactions.load(Ordering::SeqCst) >= 3,
            "two transactions committed first"
        );
        let partial = counters::summary(store.as_ref(), "t", Some("exp")).await.unwrap();
        assert!(partial.total_events > 0 && partial.total_events < 120, "{}", partial.total_events);
        let retried = deliver(&failing, &memory, &messages).await;
        assert!(retried.failed.is_empty() && retried.retry.is_empty());
        assert_eq!(retried.report.stored + retried.report.duplicates, 120);
        assert_exact(store.as_ref()).await;
    }

    #[tokio::test]
    async fn known_members_spare_their_reads_and_users_still_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Instrumented::new(std::sync::Arc::new(
            crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap(),
        ));
        let memory = WriterMemory::default();
        // New users: their memberships are read (absent), then written, and
        // remembered once the transaction writing them has committed.
        deliver(&store, &memory, &tagged_bodies("first")).await;
        assert!(!memory.members.is_empty());
        // The same users again, with new ids: nothing is read. Their
        // memberships are known, and a first attempt assumes its ids new.
        // Only the users converting again have their attribution read
        // (their conversions change it); the others' is known.
        let converting: std::collections::HashSet<String> =
            events("second").into_iter().filter(|e| e.is_conversion()).map(|e| e.user_id).collect();
        for tag in ["second", "third"] {
            let before = store.intercept.keys_checked.load(Ordering::SeqCst);
            let attributions_before = store.intercept.attributions_read.load(Ordering::SeqCst);
            let again = deliver(&store, &memory, &tagged_bodies(tag)).await;
            assert_eq!(again.report.stored, 120);
            assert_eq!(store.intercept.keys_checked.load(Ordering::SeqCst) - before, 0, "{tag}");
            let attributions = store.intercept.attributions_read.load(Ordering::SeqCst) - attributions_before;
            assert_eq!(attributions, converting.len(), "{tag}");
        }
        let summary = counters::summary(&store, "t", Some("exp")).await.unwrap();
        assert_eq!((summary.total_events, summary.unique_users), (360, 30));
        let a = &summary.variants["A"];
        assert_eq!((a.events, a.users, a.conversions, a.converted_users), (180, 15, 36, 3));
    }

    #[tokio::test]
    async fn memberships_of_a_failed_transaction_are_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let inner: std::sync::Arc<dyn Store> =
            std::sync::Arc::new(crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap());
        let memory = WriterMemory::default();
        let failing = Instrumented::failing_once(inner.clone(), 0);
        let broken = deliver(&failing, &memory, &bodies()).await;
        assert_eq!(broken.retry.len(), 5);
        assert!(memory.members.is_empty(), "nothing committed, nothing remembered");
        let retried = deliver(&failing, &memory, &bodies()).await;
        assert!(retried.failed.is_empty());
        assert_exact(inner.as_ref()).await;
    }

    #[tokio::test]
    async fn unreadable_messages_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap();
        let mut messages = bodies();
        messages.insert(2, ("poison".into(), json!({"not": "events"}).to_string()));
        let outcome = deliver(&store, &WriterMemory::default(), &messages).await;
        assert_eq!(outcome.failed, ["poison"]);
        assert_eq!(outcome.done.len(), 5);
        assert_exact(&store).await;
    }

    #[tokio::test]
    async fn embedded_redelivery_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        redelivery_counts_once(std::sync::Arc::new(
            crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap(),
        ))
        .await;
    }

    #[tokio::test]
    async fn embedded_failure_midway_then_redelivery_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        failure_midway_then_redelivery_counts_once(std::sync::Arc::new(
            crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap(),
        ))
        .await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_redelivery_counts_once() {
        redelivery_counts_once(crate::aws::testing::fresh_context().await.store).await;
    }

    /// Eight drain loops, each like a Lambda instance of its own (its own
    /// home shard, no caches it could not trust across writers), on one
    /// tenant's messages over SQS on moto, with the limits emulator holding
    /// each transaction's items for 40 ms: the loops' transactions collide,
    /// messages one loop hands back come back to any loop, and one message
    /// is sent twice. Every event still counts exactly once, and nothing is
    /// dead-lettered.
    #[cfg(feature = "aws")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb_eight_drain_loops_on_held_items_count_every_event_once() {
        use crate::repo::{attribution, day_values, hot_shards, known_members, user_sketches};
        let ctx = crate::aws::testing::fresh_context_under_limits(
            crate::store::Layout::new(2, 4, 2, 2),
            &[("emulator:transaction-hold-ms", "40")],
        )
        .await;
        let tags = ["a", "b", "c", "d"];
        let mut messages: Vec<String> =
            tags.iter().flat_map(|tag| tagged_bodies(tag)).map(|(_, body)| body).collect();
        messages.push(messages[0].clone());
        ctx.queue.send(messages).await.unwrap();
        let (transactions, handed_back) =
            (std::sync::Arc::new(AtomicUsize::new(0)), std::sync::Arc::new(AtomicUsize::new(0)));
        let counting = std::sync::Arc::new(Intercepted::new(ctx.store.clone(), CountingRefusals::default()));
        let loops = (0..8u64).map(|writer| {
            let (store, queue) = (counting.clone(), ctx.queue.clone());
            let (transactions, handed_back) = (transactions.clone(), handed_back.clone());
            tokio::spawn(async move {
                let memory = WriterMemory {
                    home_shard: hot_shards::HomeShard::seeded(writer),
                    sketches: user_sketches::SketchCache::seeded(writer),
                    members: known_members::KnownMembers::disabled(),
                    attributions: attribution::KnownAttributions::disabled(),
                    day_values: day_values::KnownDayValues::disabled(),
                    ..WriterMemory::default()
                };
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                loop {
                    let outcome =
                        drain_once(store.as_ref(), &memory, queue.as_ref(), 2, Duration::from_millis(200))
                            .await
                            .unwrap();
                    transactions.fetch_add(outcome.report.transactions, Ordering::SeqCst);
                    handed_back.fetch_add(outcome.retry.len() + outcome.failed.len(), Ordering::SeqCst);
                    let depth = queue.depth().await.unwrap();
                    if outcome.events == 0 && depth.visible == 0 && depth.in_flight == 0 {
                        break;
                    }
                    assert!(std::time::Instant::now() < deadline, "the queue never drained: {depth:?}");
                }
            })
        });
        for drain in loops.collect::<Vec<_>>() {
            drain.await.unwrap();
        }
        assert_eq!(ctx.queue.depth().await.unwrap().dead_letters, 0);
        let summary = counters::summary(ctx.store.as_ref(), "t", Some("exp")).await.unwrap();
        assert_eq!((summary.total_events, summary.unique_users), (480, 30));
        let a = &summary.variants["A"];
        assert_eq!((a.events, a.users, a.conversions, a.converted_users), (240, 15, 48, 3));
        let b = &summary.variants["B"];
        assert_eq!((b.events, b.users, b.conversions, b.converted_users), (240, 15, 48, 3));
        // The emulator did refuse: the loops met on held items.
        let refused = counting.intercept.refused.load(Ordering::SeqCst);
        assert!(refused > 0, "no transaction was refused: the limits emulator is not in front of moto");
        eprintln!(
            "eight drain loops: {} transactions, {refused} attempts refused for now, {} messages handed back",
            transactions.load(Ordering::SeqCst),
            handed_back.load(Ordering::SeqCst)
        );
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_failure_midway_then_redelivery_counts_once() {
        failure_midway_then_redelivery_counts_once(crate::aws::testing::fresh_context().await.store).await;
    }
}
