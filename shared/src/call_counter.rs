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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::api::{self, Function};
    use crate::aws::{self, QueueSettings, testing};
    use crate::batch_writer;
    use crate::repo::{counters, tenants};

    const DYNAMODB_WRITES: &[&str] =
        &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];
    const SQS_SENDS: &[&str] = &["SendMessage", "SendMessageBatch"];

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
        tenants::create_with_id(
            ctx.store.as_ref(),
            "t-economy",
            "Economy",
            "economy-key-0123456789",
            "k",
            Utc::now(),
        )
        .await
        .unwrap();
        let events: Vec<_> = (0..1000)
            .map(|i| {
                json!({"eventId": format!("e{i}"), "eventType": if i % 10 == 0 { "CONVERSION" } else { "PAGE_VIEW" },
                       "userId": format!("u{}", i % 400), "experimentId": "exp", "variant": if i % 2 == 0 { "A" } else { "B" }})
            })
            .collect();
        let request = http::Request::post("/api/events/batch")
            .header(api::API_KEY_HEADER, "economy-key-0123456789")
            .body(Bytes::from(serde_json::to_vec(&json!({ "events": events })).unwrap()))
            .unwrap();
        counter.reset();
        let response = api::handle_function(&ctx, Function::Ingest, request).await;
        assert_eq!(response.status(), 202);
        let sends = counter.count("SQS", SQS_SENDS);

        counter.reset();
        loop {
            let outcome =
                batch_writer::drain_once(ctx.store.as_ref(), ctx.queue.as_ref(), 10, Duration::ZERO)
                    .await
                    .unwrap();
            if outcome.done.is_empty() && outcome.failed.is_empty() {
                break;
            }
        }
        let writes = counter.count("DynamoDB", DYNAMODB_WRITES);
        let items = counter.items();
        let all = counter.snapshot();

        let summary = counters::summary(ctx.store.as_ref(), "t-economy", None).await.unwrap();
        assert_eq!(summary.total_events, 1000, "every event counted once");
        println!(
            "per 1,000 events: SQS sends {sends}, DynamoDB write requests {writes}, items written {items:?} \
             = {} WRU; batch writer requests: {all:?}",
            items.write_request_units()
        );
        assert!(sends <= 2, "SQS send calls per 1,000 batched events: {sends}");
        assert!(writes <= 50, "DynamoDB write requests per 1,000 events: {writes} ({all:?})");
    }
}
