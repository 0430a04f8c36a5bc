//! The queue port: SQS semantics between ingestion and the batch writer.
//!
//! At-least-once delivery: a received message stays hidden for a visibility
//! timeout and comes back unless deleted; every receive increments its
//! receive count; a message received too often goes to a dead-letter area
//! instead of being delivered again. Consumers must therefore be idempotent,
//! which the batch writer is (see [`crate::repo::events`]).

pub mod sqlite;
#[cfg(feature = "aws")]
pub mod sqs;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use std::time::Duration;

use async_trait::async_trait;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    /// Handle for deleting this delivery; a later delivery gets a new one.
    pub receipt: String,
    pub body: String,
    /// How many times this message has been delivered, this time included.
    pub receive_count: u32,
}

/// A body set aside in the dead-letter area by the batch writer, with why
/// it could not be stored (a poison event, singled out of its message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub body: String,
    pub reason: String,
}

/// A message in the dead-letter area, as `GET /api/admin/dead-letters`
/// lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterEntry {
    pub id: String,
    /// Why it is there: the store's refusal of a set-aside event, or that
    /// it was delivered too often without being stored (unreadable).
    pub reason: Option<String>,
    pub body: String,
}

/// Reasons are bounded, so that a long error text cannot crowd out the body.
pub const MAX_REASON_BYTES: usize = 1024;

/// `reason`, cut to at most [`MAX_REASON_BYTES`] on a character boundary.
pub fn bounded_reason(reason: &str) -> &str {
    let mut end = reason.len().min(MAX_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub dead_letters: u64,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum QueueError {
    #[error("message of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("queue failure: {0}")]
    Internal(String),
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Enqueues every body durably before returning, or fails.
    async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError>;

    /// Up to `max` visible messages, waiting up to `wait` for the first one.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, QueueError>;

    /// Acknowledges deliveries by receipt; unknown or stale receipts are ignored.
    async fn delete(&self, receipts: Vec<String>) -> Result<(), QueueError>;

    async fn depth(&self) -> Result<QueueDepth, QueueError>;

    /// Enqueues bodies durably, visible only after `delay` (SQS's
    /// `DelaySeconds`, whole seconds up to 15 minutes): how the batch
    /// writer hands back a batch the store could not take just now, as a
    /// new message whose receive count starts again, so that an outage
    /// spends none of its deliveries.
    async fn send_delayed(&self, bodies: Vec<String>, delay: Duration) -> Result<(), QueueError>;

    /// Puts bodies straight into the dead-letter area, durably, with their
    /// reasons: what the batch writer found it can never store.
    async fn set_aside(&self, letters: Vec<DeadLetter>) -> Result<(), QueueError>;

    /// Up to `max` messages of the dead-letter area, oldest first where the
    /// queue knows the order.
    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetterEntry>, QueueError>;

    /// Moves up to `max` dead letters back into the queue as new messages
    /// (receive counts start again); returns how many moved. Their events
    /// keep their ids, so any already stored count once.
    async fn redrive(&self, max: usize) -> Result<usize, QueueError>;

    /// Largest body one message may carry (SQS: 256 KiB).
    fn max_message_bytes(&self) -> usize;
}
