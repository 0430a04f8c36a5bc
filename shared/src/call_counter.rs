//! Counts the AWS API requests the SDK clients send, by service and
//! operation: an SDK interceptor, so every attempt (retries included, as AWS
//! bills them) is seen without touching the adapters.
//!
//! It also tallies the DynamoDB items written, transactional or not, since
//! on-demand billing charges per item (a transactional write of an item up
//! to 1 KB costs 2 write request units, a standard write 1), not per request.
//!
//! The request-economy test and benchmark read it to show what ingestion
//! and the batch writer cost per event.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Shared tally of requests: clones count into the same map.
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    items: Arc<Mutex<ItemCounts>>,
}

/// DynamoDB items written, by kind of write, and items requested by reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemCounts {
    pub transactional: u64,
    pub standard: u64,
    /// Items asked for by GetItem/BatchGetItem (the adapter reads strongly
    /// consistently: 1 read request unit each, up to 4 KB).
    pub read: u64,
}

impl ItemCounts {
    /// On-demand write request units, for items up to 1 KB (ours are).
    pub fn write_request_units(&self) -> u64 {
        2 * self.transactional + self.standard
    }
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests per (service, operation), e.g. `("DynamoDB", "TransactWriteItems")`.
    pub fn snapshot(&self) -> BTreeMap<(String, String), u64> {
        self.counts.lock().expect("call counter poisoned").clone()
    }

    /// Requests to `service` whose operation is one of `operations`.
    pub fn count(&self, service: &str, operations: &[&str]) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((s, op), _)| s == service && operations.contains(&op.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn items(&self) -> ItemCounts {
        *self.items.lock().expect("call counter poisoned")
    }

    pub fn reset(&self) {
        self.counts.lock().expect("call counter poisoned").clear();
        *self.items.lock().expect("call counter poisoned") = ItemCounts::default();
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let (transactional, standard) = if let Some(t) = input.downcast_ref::<TransactWriteItemsInput>() {
            (t.transact_items().len(), 0)
        } else if let Some(b) = input.downcast_ref::<BatchWriteItemInput>() {
            (0, b.request_items().map_or(0, |items| items.values().map(Vec::len).sum()))
        } else if input.downcast_ref::<PutItemInput>().is_some()
            || input.downcast_ref::<UpdateItemInput>().is_some()
            || input.downcast_ref::<DeleteItemInput>().is_some()
        {
            (0, 1)
        } else {
            (0, 0)
        };
        let read = if let Some(b) = input.downcast_ref::<BatchGetItemInput>() {
            b.request_items().map_or(0, |tables| tables.values().map(|t| t.keys().len()).sum())
        } else {
            usize::from(input.downcast_ref::<GetItemInput>().is_some())
        };
        let mut items = self.items.lock().expect("call counter poisoned");
        items.transactional += transactional as u64;
        items.standard += standard as u64;
        items.read += read as u64;
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let key = (metadata.service().to_owned(), metadata.name().to_owned());
            *self.counts.lock().expect("call counter poisoned").entry(key).or_default() += 1;
        }
        Ok(())
    }
}

/// DynamoDB operations that write.
pub const DYNAMODB_WRITES: &[&str] =
    &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];
/// SQS operations that enqueue.
pub const SQS_SENDS: &[&str] = &["SendMessage", "SendMessageBatch"];

/// What ingesting a number of events cost, counted on each side.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RequestEconomy {
    pub events: u64,
    pub ingest_requests: u64,
    /// Requests the ingest function made (SQS sends, and the key lookup).
    pub ingest_calls: BTreeMap<String, u64>,
    /// Requests the batch writer made (on AWS, receiving and deleting is
    /// done by Lambda's event source mapping instead).
    pub writer_calls: BTreeMap<String, u64>,
    pub sqs_sends: u64,
    pub dynamodb_write_requests: u64,
    pub dynamodb_transactional_items: u64,
    pub dynamodb_standard_items: u64,
    pub dynamodb_items_read: u64,
}

fn flatten(counts: BTreeMap<(String, String), u64>) -> BTreeMap<String, u64> {
    counts.into_iter().map(|((service, op), n)| (format!("{service}.{op}"), n)).collect()
}

/// Sends `events` events for the tenant holding `api_key` through the ingest
/// handler, `batch_size` per request (1 = single-event `POST /api/events`),
/// then drains the queue through the batch writer, counting every SDK
/// request on the way. `ctx` must be built with [`crate::aws::open_counted`]
/// and `counter`.
pub async fn ingest_and_drain(
    ctx: &crate::context::AppContext,
    counter: &CallCounter,
    api_key: &str,
    events: u64,
    batch_size: usize,
) -> RequestEconomy {
    use crate::api::{self, Function};
    let event = |n: u64| {
        // Ids differ between runs of different batch sizes: a repeat would be a duplicate.
        serde_json::json!({"eventId": format!("economy-{batch_size}-{n}"), "userId": format!("user-{}", n % 400),
            "eventType": if n.is_multiple_of(10) { "CONVERSION" } else { "PAGE_VIEW" },
            "properties": {"experimentId": "economy", "variant": if n.is_multiple_of(2) { "A" } else { "B" }}})
    };
    counter.reset();
    let mut requests = 0;
    let mut next = 0;
    while next < events {
        let upto = (next + batch_size as u64).min(events);
        let (path, body) = if batch_size == 1 {
            ("/api/events", event(next))
        } else {
            (
                "/api/events/batch",
                serde_json::json!({ "events": (next..upto).map(event).collect::<Vec<_>>() }),
            )
        };
        let request = http::Request::post(path)
            .header(api::API_KEY_HEADER, api_key)
            .body(bytes::Bytes::from(serde_json::to_vec(&body).expect("JSON")))
            .expect("request");
        let response = api::handle_function(ctx, Function::Ingest, request).await;
        assert_eq!(response.status(), http::StatusCode::ACCEPTED, "ingest refused a measured request");
        requests += 1;
        next = upto;
    }
    let sqs_sends = counter.count("SQS", SQS_SENDS);
    let ingest_calls = flatten(counter.snapshot());

    counter.reset();
    loop {
        let outcome = crate::batch_writer::drain_once(
            ctx.store.as_ref(),
            &ctx.known_members,
            ctx.queue.as_ref(),
            10,
            std::time::Duration::ZERO,
        )
        .await
        .expect("queue reachable");
        if outcome.done.is_empty() && outcome.failed.is_empty() {
            break;
        }
    }
    let items = counter.items();
    RequestEconomy {
        events,
        ingest_requests: requests,
        ingest_calls,
        sqs_sends,
        dynamodb_write_requests: counter.count("DynamoDB", DYNAMODB_WRITES),
        dynamodb_transactional_items: items.transactional,
        dynamodb_standard_items: items.standard,
        dynamodb_items_read: items.read,
        writer_calls: flatten(counter.snapshot()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use super::*;
    use crate::aws::{self, QueueSettings, testing};
    use crate::repo::{counters, tenants};

    /// 1,000 events, in one batch request, through ingest (SQS) and the
    /// batch writer (DynamoDB), counting the requests each side makes.
    #[tokio::test]
    async fn a_thousand_events_cost_a_few_dozen_requests() {
        let resources = testing::fresh_resources(QueueSettings {
            visibility_timeout: Duration::from_secs(30),
            max_receives: 3,
        })
        .await;
        let counter = CallCounter::new();
        let ctx = aws::open_counted(&resources, None, Some(&counter)).await.unwrap();
        let key = "economy-key-0123456789";
        tenants::create_with_id(ctx.store.as_ref(), "t-economy", "Economy", key, "k", Utc::now())
            .await
            .unwrap();

        let economy = ingest_and_drain(&ctx, &counter, key, 1000, 1000).await;

        let summary = counters::summary(ctx.store.as_ref(), "t-economy", None).await.unwrap();
        assert_eq!(summary.total_events, 1000, "every event counted once");
        assert!(economy.sqs_sends <= 2, "SQS send calls per 1,000 batched events: {economy:?}");
        assert!(
            economy.dynamodb_write_requests <= 50,
            "DynamoDB write requests per 1,000 events: {economy:?}"
        );
        // Each event is written once with its marker, in a transaction.
        assert!(economy.dynamodb_transactional_items >= 2000, "{economy:?}");
        assert_eq!(economy.dynamodb_standard_items, 0, "{economy:?}");
    }
}
