//! The batch writer: turns queue messages into stored, counted events.
//!
//! The same logic serves the SQS-triggered Lambda (which reports failed
//! message ids back to SQS) and the local stack's drain loop.

use std::time::Duration;

use crate::messages;
use crate::queue::{Queue, QueueError};
use crate::repo::events::{WriteReport, store_events};
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
    /// Ids of messages to deliver again (unreadable, or the store failed).
    pub failed: Vec<String>,
    pub report: WriteReport,
    pub events: usize,
}

/// Stores the events of a batch of messages. A message that cannot be read
/// fails alone (and reaches the dead-letter queue after enough deliveries);
/// the others are stored together, so counters are written once per batch.
pub async fn process(store: &dyn Store, messages: &[Incoming<'_>]) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut readable = Vec::new();
    let mut events = Vec::new();
    for message in messages {
        match messages::unpack(message.body) {
            Ok(batch) => {
                readable.push(message.id.to_owned());
                events.extend(batch);
            }
            Err(err) => {
                tracing::warn!(message_id = message.id, error = %err, "unreadable queue message");
                outcome.failed.push(message.id.to_owned());
            }
        }
    }
    outcome.events = events.len();
    match store_events(store, events).await {
        Ok(report) => {
            outcome.report = report;
            outcome.done = readable;
        }
        Err(err) => {
            tracing::error!(error = %err, "storing a batch failed; its messages will be redelivered");
            outcome.failed.extend(readable);
        }
    }
    outcome
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Receives one batch from `queue` (waiting up to `wait`), stores it and
/// deletes what was stored. Returns the outcome (empty when nothing came).
pub async fn drain_once(
    store: &dyn Store,
    queue: &dyn Queue,
    max_messages: usize,
    wait: Duration,
) -> Result<BatchOutcome, DrainError> {
    let received = queue.receive(max_messages, wait).await?;
    if received.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let incoming: Vec<Incoming> = received.iter().map(|m| Incoming { id: &m.id, body: &m.body }).collect();
    let outcome = process(store, &incoming).await;
    let done: std::collections::HashSet<&str> = outcome.done.iter().map(String::as_str).collect();
    let receipts =
        received.iter().filter(|m| done.contains(m.id.as_str())).map(|m| m.receipt.clone()).collect();
    queue.delete(receipts).await?;
    Ok(outcome)
}
