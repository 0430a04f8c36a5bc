//! Counts the AWS API requests the SDK clients send, by service and
//! operation: an SDK interceptor, so every attempt (retries included, as AWS
//! bills them) is seen without touching the adapters.
//!
//! It also tallies the DynamoDB items written, transactional or not, since
//! on-demand billing charges per item (a transactional write of an item up
//! to 1 KB costs 2 write request units, a standard write 1), not per request.
//!
//! The request-economy test and benchmark (`bench/src/economy.rs`) read
//! it to show what ingestion and the batch writer cost per event.

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
