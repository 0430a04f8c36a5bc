//! SQS queue adapter, through the official AWS SDK.
//!
//! Sends go out as `SendMessageBatch` calls of up to 10 messages and at
//! most 256 KiB per call; entries SQS reports as failed are retried with
//! backoff. Redelivery, receive counts and the dead-letter queue are SQS's
//! own (the redrive policy is set when the queue is created).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use rand::Rng;

use super::{DeadLetter, DeadLetterEntry, Message, Queue, QueueDepth, QueueError, bounded_reason};

/// The message attribute that carries a set-aside dead letter's reason.
pub const REASON_ATTRIBUTE: &str = "reason";

/// SQS's limits: messages per batch call, bytes per call (and per message).
const MAX_BATCH_MESSAGES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Leaves room under the 256 KiB message limit for SQS's own accounting.
const MAX_MESSAGE_BYTES: usize = 255 * 1024;
const MAX_RETRIES: u32 = 6;

pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_url: Option<String>,
}

fn failure<E: std::fmt::Debug>(err: SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> QueueError {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            QueueError::Unavailable(format!("{err:?}"))
        }
        SdkError::ServiceError(ref service) if service.raw().status().is_server_error() => {
            QueueError::Unavailable(format!("server error {}", service.raw().status()))
        }
        other => QueueError::Internal(format!("{other:?}")),
    }
}

async fn backoff(attempt: u32) {
    let base = Duration::from_millis(20) * 2u32.saturating_pow(attempt.min(8));
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64);
    tokio::time::sleep(Duration::from_millis(jitter.max(5))).await;
}

/// Groups message bodies into batch calls within SQS's count and size limits.
pub fn batches(bodies: &[String]) -> Vec<&[String]> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (index, body) in bodies.iter().enumerate() {
        let full = index - start == MAX_BATCH_MESSAGES || size + body.len() > MAX_BATCH_BYTES;
        if index > start && full {
            groups.push(&bodies[start..index]);
            start = index;
            size = 0;
        }
        size += body.len();
    }
    if start < bodies.len() {
        groups.push(&bodies[start..]);
    }
    groups
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: String, dead_letter_url: Option<String>) -> Self {
        Self { client, queue_url, dead_letter_url }
    }

    /// Sends one batch call's worth of bodies to `url`, each with its
    /// reason attribute if it has one.
    async fn send_group(
        &self,
        url: &str,
        group: &[(&str, Option<&str>)],
        delay: Duration,
    ) -> Result<(), QueueError> {
        let mut pending: Vec<(String, &(&str, Option<&str>))> =
            group.iter().enumerate().map(|(i, entry)| (i.to_string(), entry)).collect();
        let mut attempt = 0;
        loop {
            let entries = pending
                .iter()
                .map(|(id, (body, reason))| {
                    let mut entry = SendMessageBatchRequestEntry::builder().id(id).message_body(*body);
                    if !delay.is_zero() {
                        entry = entry.delay_seconds(delay.as_secs().clamp(1, 900) as i32);
                    }
                    if let Some(reason) = reason {
                        let value = MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(*reason)
                            .build()
                            .map_err(|e| QueueError::Internal(e.to_string()))?;
                        entry = entry.message_attributes(REASON_ATTRIBUTE, value);
                    }
                    entry.build().map_err(|e| QueueError::Internal(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let result =
                self.client.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await;
            match result {
                Ok(output) => {
                    let failed: Vec<String> = output.failed.iter().map(|f| f.id.clone()).collect();
                    if failed.is_empty() {
                        return Ok(());
                    }
                    if let Some(entry) = output.failed.iter().find(|f| f.sender_fault) {
                        return Err(QueueError::Internal(format!(
                            "SQS refused a message: {} {:?}",
                            entry.code, entry.message
                        )));
                    }
                    pending.retain(|(id, _)| failed.contains(id));
                }
                // The SDK has already retried the call within its timeouts;
                // only entries SQS failed individually are ours to retry.
                Err(err) => return Err(failure(err)),
            }
            attempt += 1;
            if attempt > MAX_RETRIES {
                return Err(QueueError::Unavailable("SQS did not accept the messages".into()));
            }
            backoff(attempt).await;
        }
    }

    fn dead_letter_url(&self) -> Result<&str, QueueError> {
        self.dead_letter_url.as_deref().ok_or_else(|| {
            QueueError::Internal("no dead-letter queue is configured (DLQ_URL or DLQ_NAME)".into())
        })
    }

    /// One short poll of the dead-letter queue, hiding what it returns for
    /// `visibility`: (message id, receipt, body, reason).
    async fn poll_dead_letters(
        &self,
        visibility: Duration,
    ) -> Result<Vec<(String, String, String, Option<String>)>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(self.dead_letter_url()?)
            .max_number_of_messages(MAX_BATCH_MESSAGES as i32)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_attribute_names(REASON_ATTRIBUTE)
            .send()
            .await
            .map_err(failure)?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let reason = m
                    .message_attributes
                    .as_ref()
                    .and_then(|a| a.get(REASON_ATTRIBUTE))
                    .and_then(|v| v.string_value.clone());
                Some((m.message_id?, m.receipt_handle?, m.body?, reason))
            })
            .collect())
    }

    /// Deletes messages of the queue at `url` by receipt, in batch calls;
    /// returns how many SQS reported failed (those come back later).
    async fn delete_from(&self, url: &str, receipts: &[String]) -> Result<usize, QueueError> {
        let mut failed = 0;
        for chunk in receipts.chunks(MAX_BATCH_MESSAGES) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .map_err(|e| QueueError::Internal(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(failure)?;
            failed += output.failed.len();
        }
        Ok(failed)
    }

    /// The approximate counts `names`, in their order, read in one request:
    /// one snapshot, so a message turning visible in between is not missed
    /// by both counts.
    async fn approximate(&self, url: &str, names: &[QueueAttributeName]) -> Result<Vec<u64>, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(failure)?;
        let attributes = output.attributes.unwrap_or_default();
        Ok(names.iter().map(|n| attributes.get(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)).collect())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        if let Some(body) = bodies.iter().find(|b| b.len() > self.max_message_bytes()) {
            return Err(QueueError::TooLarge { size: body.len(), max: self.max_message_bytes() });
        }
        for group in batches(&bodies) {
            let entries: Vec<(&str, Option<&str>)> = group.iter().map(|body| (body.as_str(), None)).collect();
            self.send_group(&self.queue_url, &entries, Duration::ZERO).await?;
        }
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetterEntry>, QueueError> {
        // SQS lists nothing: receive, hiding each message while the listing
        // goes on so the next poll finds others, until `max` are seen or a
        // poll finds none; then make them visible again at once, so that a
        // redrive right after finds them all.
        let mut seen: Vec<DeadLetterEntry> = Vec::new();
        let mut receipts = Vec::new();
        while seen.len() < max {
            let polled = self.poll_dead_letters(Duration::from_secs(30)).await?;
            if polled.is_empty() {
                break;
            }
            for (id, receipt, body, reason) in polled {
                receipts.push(receipt);
                if seen.len() < max && !seen.iter().any(|entry| entry.id == id) {
                    seen.push(DeadLetterEntry { id, reason, body });
                }
            }
        }
        let url = self.dead_letter_url()?.to_owned();
        for chunk in receipts.chunks(MAX_BATCH_MESSAGES) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .build()
                        .map_err(|e| QueueError::Internal(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(failure)?;
        }
        Ok(seen)
    }

    async fn redrive(&self, max: usize) -> Result<usize, QueueError> {
        // Receive and resend, then delete: a crash in between leaves a
        // message in both queues, which counting absorbs (ids are kept).
        let mut moved = 0;
        while moved < max {
            let polled = self.poll_dead_letters(Duration::from_secs(60)).await?;
            if polled.is_empty() {
                break;
            }
            let polled: Vec<_> = polled.into_iter().take(max - moved).collect();
            let entries: Vec<(&str, Option<&str>)> =
                polled.iter().map(|(_, _, body, _)| (body.as_str(), None)).collect();
            self.send_group(&self.queue_url, &entries, Duration::ZERO).await?;
            let receipts: Vec<String> = polled.iter().map(|(_, receipt, _, _)| receipt.clone()).collect();
            // A letter whose delete failed stays in the DLQ as well: a later
            // redrive sends it again, and its events still count once.
            self.delete_from(self.dead_letter_url()?, &receipts).await?;
            moved += polled.len();
        }
        if moved > 0 {
            tracing::info!(count = moved, "dead letters moved back into the queue");
        }
        Ok(moved)
    }

    async fn send_delayed(&self, bodies: Vec<String>, delay: Duration) -> Result<(), QueueError> {
        for group in batches(&bodies) {
            let entries: Vec<(&str, Option<&str>)> = group.iter().map(|body| (body.as_str(), None)).collect();
            self.send_group(&self.queue_url, &entries, delay).await?;
        }
        Ok(())
    }

    async fn set_aside(&self, letters: Vec<DeadLetter>) -> Result<(), QueueError> {
        if letters.is_empty() {
            return Ok(());
        }
        let Some(url) = &self.dead_letter_url else {
            return Err(QueueError::Internal(
                "no dead-letter queue is configured (DLQ_URL or DLQ_NAME)".into(),
            ));
        };
        let bodies: Vec<String> = letters.iter().map(|letter| letter.body.clone()).collect();
        let mut next = 0;
        for group in batches(&bodies) {
            let entries: Vec<(&str, Option<&str>)> = letters[next..next + group.len()]
                .iter()
                .map(|letter| (letter.body.as_str(), Some(bounded_reason(&letter.reason))))
                .collect();
            next += group.len();
            self.send_group(url, &entries, Duration::ZERO).await?;
            tracing::warn!(count = entries.len(), "events were set aside in the dead-letter queue");
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH_MESSAGES) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(failure)?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Some(Message { id: m.message_id?, receipt: m.receipt_handle?, body: m.body?, receive_count })
            })
            .collect())
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), QueueError> {
        // A failed delete only means a redelivery, which counting absorbs.
        let failed = self.delete_from(&self.queue_url, &receipts).await?;
        if failed > 0 {
            tracing::warn!(failed, "some deletes failed; those messages will be redelivered");
        }
        Ok(())
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let counts = self
            .approximate(
                &self.queue_url,
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ],
            )
            .await?;
        let (visible, in_flight) = (counts[0], counts[1]);
        let dead_letters = match &self.dead_letter_url {
            Some(url) => self
                .approximate(
                    url,
                    &[
                        QueueAttributeName::ApproximateNumberOfMessages,
                        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                    ],
                )
                .await?
                .iter()
                .sum(),
            None => 0,
        };
        Ok(QueueDepth { visible, in_flight, dead_letters })
    }

    fn max_message_bytes(&self) -> usize {
        MAX_MESSAGE_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_count_and_size() {
        let small: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
        let groups = batches(&small);
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [10, 10, 5]);
        let big: Vec<String> = (0..3).map(|_| "x".repeat(100 * 1024)).collect();
        assert_eq!(batches(&big).iter().map(|g| g.len()).collect::<Vec<_>>(), [2, 1]);
        assert!(batches(&[]).is_empty());
    }
}

#[cfg(test)]
mod emulator_tests {
    use super::*;
    use crate::aws::{QueueSettings, open, testing};

    #[tokio::test]
    async fn sqs_queue_meets_the_contract() {
        let visibility = Duration::from_secs(1);
        let resources =
            testing::fresh_resources(QueueSettings { visibility_timeout: visibility, max_receives: 3 }).await;
        let ctx = open(&resources, None).await.unwrap();
        super::super::contract::run_all(ctx.queue.as_ref(), visibility, 3).await;
    }
}
