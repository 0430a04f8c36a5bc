//! DynamoDB store adapter, through the official AWS SDK.
//!
//! Two tables, both keyed `pk` (S) / `sk` (S), on-demand: the event table
//! holds event items and event-id markers (the high-volume, time-ordered
//! data, with a TTL); the state table holds everything else (tenants, keys,
//! experiments, counters, buckets, memberships). Which table an item lives
//! in follows from its partition key, so the port stays one keyspace.
//! Transactions may span both tables.
//!
//! Single-write transactions use `PutItem`/`UpdateItem`/`DeleteItem`
//! (half the write cost of `TransactWriteItems`); larger ones use
//! `TransactWriteItems` with a `ClientRequestToken` of their own call, so
//! an SDK retry after a lost response is idempotent. The SDK
//! retries timeouts, throttling and 5xx within its operation timeout (so an
//! unreachable DynamoDB is a prompt `Unavailable`); this adapter retries
//! only what the SDK cannot: cancelled transactions (conflicts, items
//! throttled inside one) and unprocessed keys, with backoff and jitter.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use serde_json::Value;

use super::layout::SettledLayout;
use super::retry::{self, Attempt, random_jitter, retrying};
use super::{
    Condition, Item, Key, Layout, LayoutUse, Page, Query, SortRange, Store, StoreError, WriteOp,
    validate_transaction,
};

/// DynamoDB's limits.
const MAX_TRANSACTION_WRITES: usize = 100;
const MAX_BATCH_GET_KEYS: usize = 100;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Attribute holding an event item's expiry (epoch seconds) for DynamoDB TTL.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

#[derive(Clone, Debug)]
pub struct Tables {
    pub events: String,
    pub state: String,
    /// Days after which event items expire (TTL); `None` keeps them forever.
    pub event_retention_days: Option<u32>,
    /// How the tables' hot items are split.
    pub layout: Layout,
}

pub struct DynamoStore {
    client: Client,
    tables: Tables,
    layout: SettledLayout,
}

/// Partitions of the event table (the one with TTL); everything else is
/// state. Idempotency records live there so that TTL drops them.
pub fn is_event_partition(pk: &str) -> bool {
    pk.starts_with("EV#") || pk.starts_with("EID#") || pk.starts_with("IDEM#")
}

impl DynamoStore {
    pub fn new(client: Client, tables: Tables) -> Self {
        let layout = SettledLayout::new(tables.layout);
        Self { client, tables, layout }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    fn table(&self, pk: &str) -> &str {
        if is_event_partition(pk) { &self.tables.events } else { &self.tables.state }
    }

    fn key_attributes(key: &Key) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(key.pk.clone())),
            (SK.to_owned(), AttributeValue::S(key.sk.clone())),
        ])
    }

    /// The expiry (epoch seconds) of event items put at `now`, if they
    /// expire: computed once per call, so that the request its retries
    /// resend (under one token) is the very request first sent.
    fn expiry_at(&self, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
        self.tables.event_retention_days.map(|days| now.timestamp() + i64::from(days) * 86_400)
    }

    fn full_item(
        &self,
        key: &Key,
        item: &Item,
        expiry: Option<i64>,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut attributes: HashMap<String, AttributeValue> = serde_dynamo::to_item(item)
            .map_err(|e| StoreError::Invalid(format!("item does not map: {e}")))?;
        attributes.extend(Self::key_attributes(key));
        if key.pk.starts_with("EV#")
            && let Some(expires) = expiry
        {
            attributes.insert(TTL_ATTRIBUTE.to_owned(), AttributeValue::N(expires.to_string()));
        }
        Ok(attributes)
    }
}

fn decode(mut attributes: HashMap<String, AttributeValue>) -> Result<(Key, Item), StoreError> {
    let take = |attributes: &mut HashMap<String, AttributeValue>, name: &str| match attributes.remove(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(StoreError::Internal(format!("item without string {name}"))),
    };
    let key = Key::new(take(&mut attributes, PK)?, take(&mut attributes, SK)?);
    attributes.remove(TTL_ATTRIBUTE);
    let item: Item = serde_dynamo::from_item(attributes)
        .map_err(|e| StoreError::Internal(format!("item does not decode: {e}")))?;
    Ok((key, item))
}

/// Expression pieces for one write's condition.
#[derive(Default)]
struct Expression {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, value: &Value) -> Result<String, StoreError> {
        let placeholder = format!(":v{}", self.values.len());
        let attribute = serde_dynamo::to_attribute_value(value)
            .map_err(|e| StoreError::Invalid(format!("value does not map: {e}")))?;
        self.values.insert(placeholder.clone(), attribute);
        Ok(placeholder)
    }

    fn condition(&mut self, condition: &Condition) -> Result<Option<String>, StoreError> {
        Ok(match condition {
            Condition::Always => None,
            Condition::NotExists => Some(format!("attribute_not_exists({})", self.name(PK))),
            Condition::Exists => Some(format!("attribute_exists({})", self.name(PK))),
            Condition::Equals { attr, value } => {
                let name = self.name(attr);
                let value = self.value(value)?;
                Some(format!("{name} = {value}"))
            }
        })
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// `ADD #a :x, ... SET #b = :y, ...` for an update.
fn update_expression(
    expression: &mut Expression,
    add: &[(String, i64)],
    set: &Item,
) -> Result<String, StoreError> {
    let mut adds = Vec::new();
    for (attr, delta) in add {
        let name = expression.name(attr);
        let value = expression.value(&Value::from(*delta))?;
        adds.push(format!("{name} {value}"));
    }
    let mut sets = Vec::new();
    for (attr, value) in set {
        let name = expression.name(attr);
        let value = expression.value(value)?;
        sets.push(format!("{name} = {value}"));
    }
    let mut clauses = Vec::new();
    if !adds.is_empty() {
        clauses.push(format!("ADD {}", adds.join(", ")));
    }
    if !sets.is_empty() {
        clauses.push(format!("SET {}", sets.join(", ")));
    }
    if clauses.is_empty() {
        // DynamoDB needs an expression; touching the key is a no-op upsert.
        let name = expression.name(PK);
        let value = expression.value(&Value::from(0))?;
        clauses.push(format!("SET {name} = if_not_exists({name}, {value})"));
    }
    Ok(clauses.join(" "))
}

fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("request does not build: {err}"))
}

/// Turns one write into a `TransactWriteItem`; an event item it puts
/// expires at `expiry` (epoch seconds; `None`: never).
pub fn transact_item(
    store: &DynamoStore,
    write: &WriteOp,
    expiry: Option<i64>,
) -> Result<TransactWriteItem, StoreError> {
    let key = write.key();
    let table = store.table(&key.pk).to_owned();
    let mut expression = Expression::default();
    let condition = expression.condition(write.condition())?;
    let item = match write {
        WriteOp::Put { item, .. } => TransactWriteItem::builder().put(
            Put::builder()
                .table_name(table)
                .set_item(Some(store.full_item(key, item, expiry)?))
                .set_condition_expression(condition)
                .set_expression_attribute_names(expression.names())
                .set_expression_attribute_values(expression.values())
                .build()
                .map_err(build_error)?,
        ),
        WriteOp::Update { add, set, .. } => {
            let update = update_expression(&mut expression, add, set)?;
            TransactWriteItem::builder().update(
                Update::builder()
                    .table_name(table)
                    .set_key(Some(DynamoStore::key_attributes(key)))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expression.names())
                    .set_expression_attribute_values(expression.values())
                    .build()
                    .map_err(build_error)?,
            )
        }
        WriteOp::Delete { .. } => TransactWriteItem::builder().delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(DynamoStore::key_attributes(key)))
                .set_condition_expression(condition)
                .set_expression_attribute_names(expression.names())
                .set_expression_attribute_values(expression.values())
                .build()
                .map_err(build_error)?,
        ),
        WriteOp::Check { .. } => TransactWriteItem::builder().condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(DynamoStore::key_attributes(key)))
                .condition_expression(
                    condition.unwrap_or_else(|| "attribute_exists(#n0) OR attribute_not_exists(#n0)".into()),
                )
                .set_expression_attribute_names(
                    expression.names().or_else(|| Some(HashMap::from([("#n0".to_owned(), PK.to_owned())]))),
                )
                .set_expression_attribute_values(expression.values())
                .build()
                .map_err(build_error)?,
        ),
    };
    Ok(item.build())
}

fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "ThrottlingError"
                | "InternalServerError"
        )
    )
}

/// Whether a transaction's cancellation reason refuses its request for
/// good: anything but a condition, a conflict, throttling or no reason
/// (DynamoDB names its refusals `ValidationError`; emulators may name them
/// otherwise, and `ItemCollectionSizeLimitExceeded` will not pass either).
fn is_refusal(code: Option<&str>) -> bool {
    !matches!(code, None | Some("None" | "ConditionalCheckFailed" | "TransactionConflict"))
        && !is_throttling(code)
}

/// Maps SDK failures that are not specific to an operation.
fn sdk_failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!("{err:?}"))
        }
        SdkError::ServiceError(service) if is_throttling(service.err().code()) => {
            StoreError::Unavailable(format!("throttled: {:?}", service.err().code()))
        }
        SdkError::ServiceError(service) if service.raw().status().is_server_error() => {
            StoreError::Unavailable(format!("server error {}", service.raw().status()))
        }
        // The request itself is refused (an item over a limit): sending it
        // again cannot help.
        SdkError::ServiceError(service) if service.err().code() == Some("ValidationException") => {
            StoreError::Invalid(format!("DynamoDB refused the request: {:?}", service.err().message()))
        }
        other => StoreError::Internal(format!("{other:?}")),
    }
}

/// A failed condition of a lone write is write 0 of its "transaction".
fn single_write_failure<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    match err.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { index: 0 },
        // The item is held by a transaction in flight: a retry may pass.
        Some("TransactionConflictException") => StoreError::Conflict,
        _ => sdk_failure(err),
    }
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(retry::backoff_delay(attempt, random_jitter)).await;
}

impl DynamoStore {
    /// One write without a transaction. The request is the one
    /// [`transact_item`] builds, sent as the matching single-item call.
    async fn single_write(&self, write: &WriteOp) -> Result<(), StoreError> {
        if let WriteOp::Check { key, condition } = write {
            let current = self.get(key).await?;
            return if condition.holds(current.as_ref()) {
                Ok(())
            } else {
                Err(StoreError::ConditionFailed { index: 0 })
            };
        }
        let item = transact_item(self, write, self.expiry_at(chrono::Utc::now()))?;
        if let Some(put) = item.put {
            self.client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_names(put.expression_attribute_names)
                .set_expression_attribute_values(put.expression_attribute_values)
                .send()
                .await
                .map(drop)
                .map_err(|e| single_write_failure(&e))
        } else if let Some(update) = item.update {
            self.client
                .update_item()
                .table_name(update.table_name)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values)
                .send()
                .await
                .map(drop)
                .map_err(|e| single_write_failure(&e))
        } else if let Some(delete) = item.delete {
            self.client
                .delete_item()
                .table_name(delete.table_name)
                .set_key(Some(delete.key))
                .set_condition_expression(delete.condition_expression)
                .set_expression_attribute_names(delete.expression_attribute_names)
                .set_expression_attribute_values(delete.expression_attribute_values)
                .send()
                .await
                .map(drop)
                .map_err(|e| single_write_failure(&e))
        } else {
            Err(StoreError::Internal("a write built no request".into()))
        }
    }

    async fn transaction(
        &self,
        writes: &[WriteOp],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let items = self.transact_items(writes, now)?;
        // One token per call, kept by the SDK's retries of it (a response
        // lost on the way back is then not applied twice) and by this
        // loop's, and sent with this call's request only. A later call, even
        // with the very same writes, is a new request, as on the embedded
        // store: a re-planned batch finds its markers' conditions failed
        // and counts its duplicates, rather than DynamoDB answering an old
        // success for it. (A token hashed from the writes alone was reused
        // with other items once the event items' expiry moved on:
        // `IdempotentParameterMismatch`, and the batch stuck until the
        // token aged out, ten minutes.)
        let token = uuid::Uuid::new_v4().to_string();
        retrying(|| self.transact_once(&items, &token), random_jitter).await
    }

    fn transact_items(
        &self,
        writes: &[WriteOp],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let expiry = self.expiry_at(now);
        writes.iter().map(|w| transact_item(self, w, expiry)).collect()
    }

    /// One attempt at a lone write: a held item's refusal comes back as
    /// [`Attempt::Again`]. (The SDK has retried throttling and timeouts.)
    async fn single_write_once(&self, write: &WriteOp) -> Attempt<()> {
        match self.single_write(write).await {
            Err(StoreError::Conflict) => Attempt::Again(StoreError::Conflict),
            outcome => Attempt::Done(outcome),
        }
    }

    /// One `TransactWriteItems` call of `items` under `token`.
    async fn transact_once(&self, items: &[TransactWriteItem], token: &str) -> Attempt<()> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items.to_vec()))
            .client_request_token(token)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Attempt::Done(Ok(())),
            Err(err) => err,
        };
        // The SDK has already retried timeouts, throttling and 5xx within
        // its operation timeout; what it cannot retry is a cancelled
        // transaction (a conflict, or an item throttled inside it).
        let retry = match err.as_service_error() {
            Some(service) => match service.code() {
                Some("TransactionCanceledException") => {
                    let reasons = match service {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => {
                            e.cancellation_reasons().to_vec()
                        }
                        _ => Vec::new(),
                    };
                    let failed = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed"));
                    match failed {
                        Some(index) => return Attempt::Done(Err(StoreError::ConditionFailed { index })),
                        None if reasons.iter().any(|r| is_throttling(r.code())) => {
                            StoreError::Unavailable("transaction throttled".into())
                        }
                        None => match reasons.iter().find(|r| is_refusal(r.code())) {
                            // DynamoDB's `ValidationError` (a number out
                            // of range, an item too large): no retry helps.
                            Some(refused) => {
                                return Attempt::Done(Err(StoreError::Invalid(format!(
                                    "DynamoDB refused a write of the transaction: {} {:?}",
                                    refused.code().unwrap_or_default(),
                                    refused.message()
                                ))));
                            }
                            None => StoreError::Conflict,
                        },
                    }
                }
                Some("TransactionConflictException" | "TransactionInProgressException") => {
                    StoreError::Conflict
                }
                Some("IdempotentParameterMismatchException") => {
                    return Attempt::Done(Err(StoreError::Internal(
                        "transaction token reused with other writes".into(),
                    )));
                }
                _ => return Attempt::Done(Err(sdk_failure(&err))),
            },
            None => return Attempt::Done(Err(sdk_failure(&err))),
        };
        Attempt::Again(retry)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.table(&key.pk))
            .set_key(Some(Self::key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_failure(&e))?;
        output.item.map(|item| decode(item).map(|(_, item)| item)).transpose()
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        // BatchGetItem refuses duplicate keys in one request.
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut found: HashMap<Key, Item> = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(MAX_BATCH_GET_KEYS) {
            let mut request: HashMap<String, KeysAndAttributes> = HashMap::new();
            for key in chunk {
                let table = self.table(&key.pk).to_owned();
                let entry = request.remove(&table);
                let mut keys = entry.map(|e| e.keys).unwrap_or_default();
                keys.push(Self::key_attributes(key));
                request.insert(
                    table,
                    KeysAndAttributes::builder()
                        .set_keys(Some(keys))
                        .consistent_read(true)
                        .build()
                        .map_err(build_error)?,
                );
            }
            let mut attempt = 0;
            while !request.is_empty() {
                let output =
                    self.client.batch_get_item().set_request_items(Some(request.clone())).send().await;
                // Failed calls were already retried by the SDK, within its
                // timeouts; only unprocessed keys are ours to retry.
                let output = output.map_err(|err| sdk_failure(&err))?;
                for items in output.responses.unwrap_or_default().into_values() {
                    for item in items {
                        let (key, item) = decode(item)?;
                        found.insert(key, item);
                    }
                }
                request = output.unprocessed_keys.unwrap_or_default();
                if !request.is_empty() {
                    attempt += 1;
                    if attempt > retry::MAX_RETRIES {
                        return Err(StoreError::Unavailable("unprocessed keys after retries".into()));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let mut expression = Expression::default();
        let pk_name = expression.name(PK);
        let pk_value = expression.value(&Value::from(query.pk.clone()))?;
        let mut key_condition = format!("{pk_name} = {pk_value}");
        match &query.range {
            SortRange::All => {}
            SortRange::Prefix(prefix) if prefix.is_empty() => {}
            SortRange::Prefix(prefix) => {
                let sk = expression.name(SK);
                let value = expression.value(&Value::from(prefix.clone()))?;
                key_condition.push_str(&format!(" AND begins_with({sk}, {value})"));
            }
            SortRange::Between(low, high) => {
                if low > high {
                    return Ok(Page::default());
                }
                let sk = expression.name(SK);
                // Key values may not be empty strings: an empty low end is open.
                if low.is_empty() {
                    let high = expression.value(&Value::from(high.clone()))?;
                    key_condition.push_str(&format!(" AND {sk} <= {high}"));
                } else {
                    let low = expression.value(&Value::from(low.clone()))?;
                    let high = expression.value(&Value::from(high.clone()))?;
                    key_condition.push_str(&format!(" AND {sk} BETWEEN {low} AND {high}"));
                }
            }
        }
        let start = query
            .start_after
            .as_ref()
            .map(|sk| Self::key_attributes(&Key::new(query.pk.clone(), sk.clone())));
        let output = self
            .client
            .query()
            .table_name(self.table(&query.pk))
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(expression.names())
            .set_expression_attribute_values(expression.values())
            .scan_index_forward(!query.descending)
            .consistent_read(true)
            .set_limit(query.limit.map(|l| l.min(i32::MAX as usize) as i32))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_failure(&e))?;
        let items =
            output.items.unwrap_or_default().into_iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let last_sk = output.last_evaluated_key.and_then(|mut key| key.remove(SK)).and_then(|sk| match sk {
            AttributeValue::S(sk) => Some(sk),
            _ => None,
        });
        Ok(Page { items, last_sk })
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&writes, MAX_TRANSACTION_WRITES)?;
        if writes.len() == 1 {
            // An item held by a transaction in flight refuses a lone write
            // too; it is retried like a cancelled transaction. (The SDK has
            // retried throttling and timeouts already.)
            retrying(|| self.single_write_once(&writes[0]), random_jitter).await
        } else {
            self.transaction(&writes, chrono::Utc::now()).await
        }
    }

    fn max_transaction_writes(&self) -> usize {
        MAX_TRANSACTION_WRITES
    }

    async fn transact_attempt(&self, writes: Vec<WriteOp>) -> Attempt<()> {
        if let Err(invalid) = validate_transaction(&writes, MAX_TRANSACTION_WRITES) {
            return Attempt::Done(Err(invalid));
        }
        if writes.len() == 1 {
            return self.single_write_once(&writes[0]).await;
        }
        match self.transact_items(&writes, chrono::Utc::now()) {
            // A token of its own: the caller sends other writes next time.
            Ok(items) => self.transact_once(&items, &uuid::Uuid::new_v4().to_string()).await,
            Err(invalid) => Attempt::Done(Err(invalid)),
        }
    }

    fn layout(&self) -> Layout {
        self.layout.current()
    }

    async fn settle_layout(&self, usage: LayoutUse) -> Result<(), StoreError> {
        self.layout.settle(self, usage).await
    }
}

#[cfg(test)]
#[path = "dynamodb_limits_tests.rs"]
mod limits_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testing;
    use std::time::Duration;

    #[tokio::test]
    async fn dynamodb_store_meets_the_contract() {
        let ctx = testing::fresh_context().await;
        super::super::contract::run_all(ctx.store.as_ref()).await;
    }

    /// DynamoDB serializes transactions: of concurrent transactions that
    /// each put one item "if absent" and count it, exactly one commits and
    /// the count moves once. moto alone lets several pass now and then
    /// (scripts/moto_server.py serializes them); the counting relies on it.
    #[tokio::test]
    async fn concurrent_transactions_on_one_item_let_exactly_one_commit() {
        let ctx = testing::fresh_context().await;
        let store = ctx.store.clone();
        for round in 0..10 {
            let attempts = (0..16).map(|writer| {
                let store = store.clone();
                async move {
                    let member = Key::new(format!("MEM#t#T#user-{round}"), "S");
                    let counter = Key::new("CNT#t", format!("round-{round}"));
                    let marker = Key::new(format!("EID#t#{round}-{writer}"), "-");
                    store
                        .transact(vec![
                            WriteOp::Put { key: member, item: Item::new(), condition: Condition::NotExists },
                            WriteOp::Update {
                                key: counter,
                                add: vec![("users".into(), 1)],
                                set: Item::new(),
                                condition: Condition::Always,
                            },
                            WriteOp::Put { key: marker, item: Item::new(), condition: Condition::NotExists },
                        ])
                        .await
                }
            });
            let outcomes = futures_join_all(attempts).await;
            let won = outcomes.iter().filter(|o| o.is_ok()).count();
            assert_eq!(won, 1, "round {round}: {outcomes:?}");
            let counted = store.get(&Key::new("CNT#t", format!("round-{round}"))).await.unwrap().unwrap();
            assert_eq!(counted["users"], 1, "round {round}");
        }
    }

    /// A store on fresh emulator tables whose event items expire.
    async fn store_with_retention() -> DynamoStore {
        let resources = testing::fresh_resources(crate::aws::QueueSettings {
            visibility_timeout: Duration::from_secs(1),
            max_receives: 3,
        })
        .await;
        let client = Client::new(&crate::aws::sdk_config().await);
        let tables = Tables {
            events: resources.events_table,
            state: resources.state_table,
            event_retention_days: resources.event_retention_days,
            layout: resources.layout,
        };
        assert!(tables.event_retention_days.is_some());
        DynamoStore::new(client, tables)
    }

    fn counter_key() -> Key {
        Key::new("CNT#t", "T")
    }

    /// Two writes: `n` added to [`counter_key`], and an event item put
    /// (which carries the store's expiry).
    fn counter_and_event(n: i64) -> Vec<WriteOp> {
        vec![
            WriteOp::Update {
                key: counter_key(),
                add: vec![("n".into(), n)],
                set: Item::new(),
                condition: Condition::Always,
            },
            WriteOp::Put {
                key: Key::new("EV#t#2026-12-01", "a"),
                item: Item::new(),
                condition: Condition::Always,
            },
        ]
    }

    /// The emulator answers client request tokens as DynamoDB does
    /// (scripts/moto_server.py): the same request again within ten minutes
    /// is not applied again, and other writes under a used token are
    /// refused with `IdempotentParameterMismatchException`.
    #[tokio::test]
    async fn the_emulator_keeps_transaction_tokens_as_dynamodb_does() {
        let store = store_with_retention().await;
        let (counter, writes) = (counter_key(), counter_and_event);
        // Tokens of their own: the emulator remembers them for ten minutes.
        let (one, two) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
        let send = |writes: Vec<WriteOp>, token: &str| {
            let items: Vec<_> =
                writes.iter().map(|w| transact_item(&store, w, Some(1_800_000_000)).unwrap()).collect();
            store
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .client_request_token(token)
                .send()
        };
        send(writes(1), &one).await.expect("first use of a token");
        send(writes(1), &one).await.expect("the same request again");
        let n = |item: Option<Item>| item.and_then(|item| item["n"].as_i64());
        assert_eq!(n(store.get(&counter).await.unwrap()), Some(1), "applied once");
        let refused = send(writes(2), &one).await.expect_err("other writes under a used token");
        assert_eq!(refused.code(), Some("IdempotentParameterMismatchException"), "{refused:?}");
        send(writes(2), &two).await.expect("a new token");
        assert_eq!(n(store.get(&counter).await.unwrap()), Some(3));
    }

    /// A re-planned transaction whose event items get a later expiry is a
    /// new request with a token of its own, never a reuse of the first
    /// one's token with other items (which DynamoDB refuses with
    /// `IdempotentParameterMismatch`); so is the very same request sent
    /// again, applied again as on the embedded store.
    #[tokio::test]
    async fn each_transaction_call_is_a_request_of_its_own() {
        let store = store_with_retention().await;
        let (counter, writes) = (counter_key(), counter_and_event(1));
        let at: chrono::DateTime<chrono::Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        store.transaction(&writes, at).await.expect("first");
        store.transaction(&writes, at + chrono::TimeDelta::seconds(1)).await.expect("a later expiry");
        store.transaction(&writes, at).await.expect("the same request again");
        let n = |item: Option<Item>| item.and_then(|item| item["n"].as_i64());
        assert_eq!(n(store.get(&counter).await.unwrap()), Some(3));
        let event = store.get(&Key::new("EV#t#2026-12-01", "a")).await.unwrap();
        assert!(
            event.is_some_and(|item| !item.contains_key(TTL_ATTRIBUTE)),
            "the expiry is not part of the item read back"
        );
    }

    /// `join_all` without a dependency: each future on a task of its own.
    async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let tasks: Vec<_> = futures.map(tokio::spawn).collect();
        let mut outputs = Vec::with_capacity(tasks.len());
        for task in tasks {
            outputs.push(task.await.expect("task"));
        }
        outputs
    }

    #[test]
    fn writes_map_to_conditional_transaction_items() {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::Config::builder()
                    .behavior_version(aws_config::BehaviorVersion::latest())
                    .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                    .build(),
            ),
            Tables {
                events: "events".into(),
                state: "state".into(),
                event_retention_days: Some(30),
                layout: Layout::default(),
            },
        );
        let marker = transact_item(
            &store,
            &WriteOp::Put {
                key: Key::new("EID#t#e1", "-"),
                item: Item::new(),
                condition: Condition::NotExists,
            },
            Some(1_800_000_000),
        )
        .unwrap();
        let put = marker.put.unwrap();
        assert_eq!(put.table_name, "events");
        assert_eq!(put.condition_expression.as_deref(), Some("attribute_not_exists(#n0)"));
        assert_eq!(put.expression_attribute_names.unwrap()["#n0"], "pk");

        let counter = transact_item(
            &store,
            &WriteOp::Update {
                key: Key::new("CNT#t", "T"),
                add: vec![("events".into(), 3), ("users".into(), 1)],
                set: serde_json::json!({"variant": "A"}).as_object().unwrap().clone(),
                condition: Condition::Always,
            },
            Some(1_800_000_000),
        )
        .unwrap();
        let update = counter.update.unwrap();
        assert_eq!(update.table_name, "state");
        assert_eq!(update.update_expression, "ADD #n0 :v0, #n1 :v1 SET #n2 = :v2");
        assert_eq!(update.condition_expression, None);
        let values = update.expression_attribute_values.unwrap();
        assert_eq!(values[":v0"], AttributeValue::N("3".into()));

        let event = store
            .full_item(
                &Key::new("EV#t#2026-11-01", "x"),
                &serde_json::json!({"a": 1}).as_object().unwrap().clone(),
                Some(1_800_000_000),
            )
            .unwrap();
        assert_eq!(event[TTL_ATTRIBUTE], AttributeValue::N("1800000000".into()), "event items carry a TTL");
        let at: chrono::DateTime<chrono::Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        assert_eq!(store.expiry_at(at), Some(at.timestamp() + 30 * 86_400));
    }
}
