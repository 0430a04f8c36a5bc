//! The store contract: written once, run against every store adapter.
//!
//! Each adapter's tests call [`run_all`] with a fresh, empty store. Any
//! difference between adapters that the repositories could observe belongs
//! here as an assertion.

use serde_json::json;

use super::{Condition, Item, Key, Query, SortRange, Store, StoreError, WriteOp, query_all};

fn item(value: serde_json::Value) -> Item {
    value.as_object().expect("test items are objects").clone()
}

fn put(key: &Key, value: serde_json::Value, condition: Condition) -> WriteOp {
    WriteOp::Put { key: key.clone(), item: item(value), condition }
}

pub async fn run_all(store: &dyn Store) {
    missing_items_read_as_none(store).await;
    put_then_get_round_trips_values(store).await;
    conditional_put_refuses_existing_item(store).await;
    transactions_are_all_or_nothing(store).await;
    updates_upsert_and_add_atomically(store).await;
    the_same_transaction_sent_again_applies_again(store).await;
    equals_condition_guards_updates(store).await;
    delete_and_check(store).await;
    two_writes_to_one_item_are_rejected(store).await;
    a_hundred_writes_fit_in_one_transaction(store).await;
    queries_follow_sort_order_and_ranges(store).await;
    queries_page_with_start_after(store).await;
    batch_get_answers_in_request_order(store).await;
}

async fn missing_items_read_as_none(store: &dyn Store) {
    assert_eq!(store.get(&Key::new("c1", "none")).await.unwrap(), None);
}

async fn put_then_get_round_trips_values(store: &dyn Store) {
    let key = Key::new("c2#ünï#%23", "sk#1");
    let value = json!({
        "s": "text with # and % and emoji 🎉",
        "n": 42,
        "neg": -7,
        "f": 0.25,
        "b": true,
        "z": null,
        "list": [1, "two", {"three": 3}],
        "map": {"nested": {"deep": "yes"}, "empty": {}},
    });
    store.transact(vec![put(&key, value.clone(), Condition::Always)]).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(item(value)));
}

async fn conditional_put_refuses_existing_item(store: &dyn Store) {
    let key = Key::new("c3", "a");
    store.transact(vec![put(&key, json!({"v": 1}), Condition::NotExists)]).await.unwrap();
    let second = store.transact(vec![put(&key, json!({"v": 2}), Condition::NotExists)]).await;
    assert!(matches!(second, Err(StoreError::ConditionFailed { index: 0 })));
    assert_eq!(store.get(&key).await.unwrap(), Some(item(json!({"v": 1}))));
}

async fn transactions_are_all_or_nothing(store: &dyn Store) {
    let existing = Key::new("c4", "existing");
    store.transact(vec![put(&existing, json!({"v": 1}), Condition::Always)]).await.unwrap();
    let fresh = Key::new("c4", "fresh");
    let counter = Key::new("c4", "counter");
    let result = store
        .transact(vec![
            put(&fresh, json!({"v": 1}), Condition::NotExists),
            WriteOp::Update {
                key: counter.clone(),
                add: vec![("n".into(), 5)],
                set: Item::new(),
                condition: Condition::Always,
            },
            put(&existing, json!({"v": 2}), Condition::NotExists),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::ConditionFailed { index: 2 })));
    assert_eq!(store.get(&fresh).await.unwrap(), None);
    assert_eq!(store.get(&counter).await.unwrap(), None);
    assert_eq!(store.get(&existing).await.unwrap(), Some(item(json!({"v": 1}))));
}

/// Each call is a request of its own, even with the very same writes: a
/// store must not take a second call for a retry of the first (DynamoDB
/// would, given the same client request token). Exactly-once comes from
/// the writes' conditions, never from the store dropping a repeat.
async fn the_same_transaction_sent_again_applies_again(store: &dyn Store) {
    let writes = || {
        vec![
            WriteOp::Update {
                key: Key::new("c5b", "a"),
                add: vec![("n".into(), 1)],
                set: Item::new(),
                condition: Condition::Always,
            },
            WriteOp::Update {
                key: Key::new("c5b", "b"),
                add: vec![("n".into(), 1)],
                set: Item::new(),
                condition: Condition::Always,
            },
        ]
    };
    store.transact(writes()).await.unwrap();
    store.transact(writes()).await.unwrap();
    assert_eq!(store.get(&Key::new("c5b", "a")).await.unwrap(), Some(item(json!({"n": 2}))));
}

async fn updates_upsert_and_add_atomically(store: &dyn Store) {
    let key = Key::new("c5", "counter");
    for _ in 0..3 {
        store
            .transact(vec![WriteOp::Update {
                key: key.clone(),
                add: vec![("events".into(), 2), ("users".into(), 1)],
                set: item(json!({"label": "x"})),
                condition: Condition::Always,
            }])
            .await
            .unwrap();
    }
    store
        .transact(vec![WriteOp::Update {
            key: key.clone(),
            add: vec![("users".into(), -1)],
            set: Item::new(),
            condition: Condition::Exists,
        }])
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(item(json!({"events": 6, "users": 2, "label": "x"}))));
    let missing = store
        .transact(vec![WriteOp::Update {
            key: Key::new("c5", "missing"),
            add: vec![("n".into(), 1)],
            set: Item::new(),
            condition: Condition::Exists,
        }])
        .await;
    assert!(matches!(missing, Err(StoreError::ConditionFailed { index: 0 })));
}

async fn equals_condition_guards_updates(store: &dyn Store) {
    let key = Key::new("c6", "versioned");
    store.transact(vec![put(&key, json!({"version": 1, "name": "a"}), Condition::Always)]).await.unwrap();
    let stale = store
        .transact(vec![put(&key, json!({"version": 2, "name": "stale"}), Condition::equals("version", 0))])
        .await;
    assert!(matches!(stale, Err(StoreError::ConditionFailed { index: 0 })));
    store
        .transact(vec![put(&key, json!({"version": 2, "name": "b"}), Condition::equals("version", 1))])
        .await
        .unwrap();
    assert_eq!(store.get(&key).await.unwrap().unwrap()["name"], "b");
    let on_missing = store
        .transact(vec![put(&Key::new("c6", "missing"), json!({}), Condition::equals("version", 1))])
        .await;
    assert!(matches!(on_missing, Err(StoreError::ConditionFailed { index: 0 })));
}

async fn delete_and_check(store: &dyn Store) {
    let gone = Key::new("c7", "gone");
    let guard = Key::new("c7", "guard");
    store
        .transact(vec![
            put(&gone, json!({"v": 1}), Condition::Always),
            put(&guard, json!({"open": true}), Condition::Always),
        ])
        .await
        .unwrap();
    let refused = store
        .transact(vec![
            WriteOp::Check { key: guard.clone(), condition: Condition::equals("open", false) },
            WriteOp::Delete { key: gone.clone(), condition: Condition::Always },
        ])
        .await;
    assert!(matches!(refused, Err(StoreError::ConditionFailed { index: 0 })));
    assert!(store.get(&gone).await.unwrap().is_some());
    store
        .transact(vec![
            WriteOp::Check { key: guard.clone(), condition: Condition::equals("open", true) },
            WriteOp::Delete { key: gone.clone(), condition: Condition::Exists },
        ])
        .await
        .unwrap();
    assert_eq!(store.get(&gone).await.unwrap(), None);
    assert!(store.get(&guard).await.unwrap().is_some(), "a check writes nothing");
}

async fn two_writes_to_one_item_are_rejected(store: &dyn Store) {
    let key = Key::new("c8", "twice");
    let result = store
        .transact(vec![
            put(&key, json!({"v": 1}), Condition::Always),
            WriteOp::Update {
                key: key.clone(),
                add: vec![("n".into(), 1)],
                set: Item::new(),
                condition: Condition::Always,
            },
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Invalid(_))));
    assert_eq!(store.get(&key).await.unwrap(), None);
}

async fn a_hundred_writes_fit_in_one_transaction(store: &dyn Store) {
    assert!(store.max_transaction_writes() >= 100);
    let writes = (0..100)
        .map(|i| put(&Key::new("c9", format!("{i:03}")), json!({"i": i}), Condition::NotExists))
        .collect();
    store.transact(writes).await.unwrap();
    let all = query_all(store, Query::partition("c9")).await.unwrap();
    assert_eq!(all.len(), 100);
}

async fn queries_follow_sort_order_and_ranges(store: &dyn Store) {
    let sort_keys = ["a#1", "a#2", "a#3", "b#1", "b#2", "c"];
    let writes = sort_keys
        .iter()
        .map(|sk| put(&Key::new("c10", *sk), json!({"sk": sk}), Condition::Always))
        .chain([put(&Key::new("c10-other", "a#1"), json!({}), Condition::Always)])
        .collect();
    store.transact(writes).await.unwrap();

    let sks = |page: super::Page| page.items.into_iter().map(|(k, _)| k.sk).collect::<Vec<_>>();
    let all = store.query(&Query::partition("c10")).await.unwrap();
    assert_eq!(sks(all), sort_keys);

    let prefix = store.query(&Query::partition("c10").range(SortRange::Prefix("a#".into()))).await.unwrap();
    assert_eq!(sks(prefix), ["a#1", "a#2", "a#3"]);

    let between = store
        .query(&Query::partition("c10").range(SortRange::Between("a#2".into(), "b#1".into())))
        .await
        .unwrap();
    assert_eq!(sks(between), ["a#2", "a#3", "b#1"]);

    let newest = store.query(&Query::partition("c10").descending().limit(2)).await.unwrap();
    assert_eq!(newest.last_sk.as_deref(), Some("b#2"));
    assert_eq!(sks(newest), ["c", "b#2"]);

    let nothing = store.query(&Query::partition("c10").range(SortRange::Prefix("zz".into()))).await.unwrap();
    assert!(nothing.items.is_empty() && nothing.last_sk.is_none());
}

async fn queries_page_with_start_after(store: &dyn Store) {
    let writes = (0..25)
        .map(|i| put(&Key::new("c11", format!("{i:02}")), json!({"i": i}), Condition::Always))
        .collect();
    store.transact(writes).await.unwrap();

    let mut seen = Vec::new();
    let mut query = Query::partition("c11").descending().limit(10);
    loop {
        let page = store.query(&query).await.unwrap();
        seen.extend(page.items.iter().map(|(k, _)| k.sk.clone()));
        match page.last_sk {
            Some(sk) => query = query.start_after(Some(sk)),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("{i:02}")).collect();
    assert_eq!(seen, expected);

    let ascending = query_all(
        store,
        Query::partition("c11").range(SortRange::Between("05".into(), "14".into())).limit(3),
    )
    .await
    .unwrap();
    assert_eq!(ascending.len(), 10);
    assert_eq!(ascending[0].0.sk, "05");
    assert_eq!(ascending[9].0.sk, "14");
}

async fn batch_get_answers_in_request_order(store: &dyn Store) {
    for chunk in [0..75, 75..150] {
        let writes = chunk
            .map(|i| put(&Key::new("c12", format!("{i:03}")), json!({"i": i}), Condition::Always))
            .collect();
        store.transact(writes).await.unwrap();
    }
    // More keys than one DynamoDB BatchGetItem call takes, with gaps and repeats.
    let keys: Vec<Key> =
        (0..160).rev().map(|i| Key::new("c12", format!("{i:03}"))).chain([Key::new("c12", "007")]).collect();
    let got = store.batch_get(&keys).await.unwrap();
    assert_eq!(got.len(), keys.len());
    for (key, item) in keys.iter().zip(&got) {
        let i: i64 = key.sk.parse().unwrap();
        if i < 150 {
            assert_eq!(item.as_ref().unwrap()["i"], i);
        } else {
            assert!(item.is_none());
        }
    }
    let exist = store.exist_before_write(&keys).await.unwrap();
    assert_eq!(
        exist,
        got.iter().map(Option::is_some).collect::<Vec<_>>(),
        "exist_before_write agrees with batch_get"
    );
    assert!(store.exist_before_write(&[]).await.unwrap().is_empty());
    assert_eq!(store.read_before_write(&keys).await.unwrap(), got, "read_before_write agrees with batch_get");
    assert!(store.read_before_write(&[]).await.unwrap().is_empty());
}
