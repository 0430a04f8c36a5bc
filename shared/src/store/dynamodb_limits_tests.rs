//! DynamoDB's limits as `scripts/moto_server.py` emulates them on tables
//! whose tags ask for them, checked from both sides: a table with the tags
//! answers as DynamoDB does, one without as moto does; and the adapter
//! gets through what DynamoDB refuses for a while (a held item) and
//! refuses for good (a value DynamoDB cannot store).

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, Tag,
};

use super::*;
use crate::aws::testing;

const HOLD: &str = "emulator:transaction-hold-ms";
const WCU: &str = "emulator:partition-wcu";
const REFILL: &str = "emulator:refill-seconds";

/// A client of the emulator that does not retry, so that the tests see
/// each answer, and waits long for one: the emulator serializes requests,
/// and other tests keep it busy.
async fn client() -> Client {
    testing::use_emulator();
    let config = crate::aws::sdk_config().await;
    let patient = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(60))
        .operation_attempt_timeout(Duration::from_secs(60))
        .build();
    Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .retry_config(RetryConfig::disabled())
            .timeout_config(patient)
            .build(),
    )
}

/// A new table keyed `pk`/`sk`, tagged with `tags`; its name.
async fn table_with(client: &Client, tags: &[(&str, &str)]) -> String {
    let name = format!("limits-{}", uuid::Uuid::new_v4().simple());
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key =
        |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap();
    let tags: Vec<Tag> =
        tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap()).collect();
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(attribute(PK))
        .attribute_definitions(attribute(SK))
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .expect("a table on the emulator");
    name
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// `ADD n 1` to the item `pk`/`1` of `table`, as one write of a transaction.
fn add_one(table: &str, pk: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key(PK, s(pk))
                .key(SK, s("1"))
                .update_expression("ADD n :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .build()
                .unwrap(),
        )
        .build()
}

/// Waits until the item `pk`/`1` of `table` exists: a transaction sent
/// before has been applied (and now holds its items, where it does).
async fn until_applied(client: &Client, table: &str, pk: &str) {
    for _ in 0..400 {
        let read = client.get_item().table_name(table).key(PK, s(pk)).key(SK, s("1")).send().await;
        if read.is_ok_and(|read| read.item.is_some()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the transaction writing {pk} was not applied within 10 s");
}

/// The cancellation reasons of a failed transaction.
fn reasons<R: std::fmt::Debug>(err: &SdkError<TransactWriteItemsError, R>) -> Vec<String> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code().unwrap_or_default().to_owned())
            .collect(),
        _ => panic!("not a cancelled transaction: {err:?}"),
    }
}

#[tokio::test]
async fn a_transaction_in_flight_holds_its_items_on_a_table_that_asks() {
    let client = client().await;
    // Long enough for the requests below to arrive while it lasts, however
    // busy the emulator is with other tests.
    let held = table_with(&client, &[(HOLD, "4000")]).await;
    let plain = table_with(&client, &[]).await;
    for (table, holds) in [(&held, true), (&plain, false)] {
        let first = {
            let (client, items) = (client.clone(), vec![add_one(table, "A"), add_one(table, "B")]);
            tokio::spawn(
                async move { client.transact_write_items().set_transact_items(Some(items)).send().await },
            )
        };
        until_applied(&client, table, "B").await;
        let overlapping = client
            .transact_write_items()
            .set_transact_items(Some(vec![add_one(table, "C"), add_one(table, "A")]))
            .send()
            .await;
        let single =
            client.put_item().table_name(table.as_str()).item(PK, s("B")).item(SK, s("1")).send().await;
        let elsewhere =
            client.put_item().table_name(table.as_str()).item(PK, s("D")).item(SK, s("1")).send().await;
        first.await.unwrap().expect("the first transaction");
        elsewhere.expect("an item no transaction holds");
        if holds {
            let cancelled = overlapping.expect_err("a transaction over a held item");
            assert_eq!(reasons(&cancelled), ["None", "TransactionConflict"]);
            let refused = single.expect_err("a write of a held item");
            assert_eq!(refused.code(), Some("TransactionConflictException"), "{refused:?}");
            // Once the first has answered, its items are free again.
            client
                .transact_write_items()
                .set_transact_items(Some(vec![add_one(table, "C"), add_one(table, "A")]))
                .send()
                .await
                .expect("after the hold");
        } else {
            overlapping.expect("moto holds nothing");
            single.expect("moto holds nothing");
        }
    }
}

#[tokio::test]
async fn a_partition_takes_its_write_units_per_second_only_on_a_table_that_asks() {
    let client = client().await;
    // Five units, refilled over an hour: a dozen writes in a row exceed
    // them however slowly the emulator answers.
    let throttled = table_with(&client, &[(WCU, "5"), (REFILL, "3600")]).await;
    let refilling = table_with(&client, &[(WCU, "1")]).await;
    let plain = table_with(&client, &[]).await;
    let put = |table: &str, pk: &str, sk: usize| {
        client.put_item().table_name(table).item(PK, s(pk)).item(SK, s(&sk.to_string())).send()
    };
    let mut refused = Vec::new();
    for sk in 0..12 {
        refused.push(put(&throttled, "hot", sk).await.err().and_then(|err| err.code().map(str::to_owned)));
    }
    // The bucket's 5 units (of 1 KB items) pass, the rest is refused.
    assert!(refused[..5].iter().all(Option::is_none), "{refused:?}");
    let throttles = refused.iter().flatten().collect::<Vec<_>>();
    assert!(throttles.len() >= 6, "{refused:?}");
    assert!(throttles.iter().all(|code| *code == "ProvisionedThroughputExceededException"), "{refused:?}");
    // Other partitions have buckets of their own.
    for pk in 0..5 {
        put(&throttled, &format!("cold-{pk}"), 0).await.expect("another partition");
    }
    // A transaction pays twice per item: three items of one partition need 6.
    let items = (0..3)
        .map(|sk| {
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&throttled)
                        .item(PK, s("warm"))
                        .item(SK, s(&sk.to_string()))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect();
    let cancelled =
        client.transact_write_items().set_transact_items(Some(items)).send().await.expect_err("6 units");
    assert!(reasons(&cancelled).contains(&"ThrottlingError".to_owned()), "{:?}", reasons(&cancelled));
    // A bucket refills: one unit a second.
    put(&refilling, "hot", 0).await.expect("the first unit");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(&refilling, "hot", 1).await.expect("refilled");
    for sk in 0..12 {
        put(&plain, "hot", sk).await.expect("moto throttles nothing");
    }
}

#[tokio::test]
async fn values_dynamodb_cannot_store_are_refused_on_every_table() {
    let client = client().await;
    let table = table_with(&client, &[]).await;
    let mut nested = AttributeValue::S("leaf".into());
    for _ in 0..33 {
        nested = AttributeValue::L(vec![nested]);
    }
    let put = |name: &str, value: AttributeValue| {
        client.put_item().table_name(&table).item(PK, s(name)).item(SK, s("1")).item("v", value).send()
    };
    let refused = put("deep", nested.clone()).await.expect_err("33 levels");
    assert_eq!(refused.code(), Some("ValidationException"), "{refused:?}");
    let AttributeValue::L(inner) = nested else { unreachable!() };
    put("deep-enough", inner[0].clone()).await.expect("32 levels");
    let long = format!("1.{}", "2".repeat(38));
    let refused = put("long", AttributeValue::N(long)).await.expect_err("39 digits");
    assert_eq!(refused.code(), Some("ValidationException"), "{refused:?}");
    put("precise", AttributeValue::N(format!("-{}e-3", "9".repeat(38)))).await.expect("38 digits");
}

/// The adapter waits out an item a transaction holds, for a single write
/// as for a transaction, instead of failing the batch.
#[tokio::test]
async fn the_adapter_waits_out_a_held_item() {
    let client = client().await;
    let table = table_with(&client, &[(HOLD, "1000")]).await;
    let store = DynamoStore::new(
        client.clone(),
        Tables {
            events: table.clone(),
            state: table.clone(),
            event_retention_days: None,
            layout: Layout::default(),
        },
    );
    let counter = Key::new("A", "1");
    let add = |key: &Key| WriteOp::Update {
        key: key.clone(),
        add: vec![("n".into(), 1)],
        set: Item::new(),
        condition: Condition::Always,
    };
    for writes in [vec![add(&counter)], vec![add(&counter), add(&Key::new("B", "1"))]] {
        let holding = {
            let (client, items) = (client.clone(), vec![add_one(&table, "A"), add_one(&table, "Z")]);
            tokio::spawn(
                async move { client.transact_write_items().set_transact_items(Some(items)).send().await },
            )
        };
        until_applied(&client, &table, "Z").await;
        store.transact(writes).await.expect("retried past the hold");
        holding.await.unwrap().expect("the holding transaction");
    }
    let n = store.get(&counter).await.unwrap().and_then(|item| item["n"].as_i64());
    assert_eq!(n, Some(4), "two holding transactions and two of the adapter's, once each");
}
