//! Exactly-once counting, as a pure plan of store writes.
//!
//! For a batch of events not yet stored, [`plan`] produces transactions
//! that, applied in order, store each event and add it to every counter it
//! belongs to. Each transaction is self-contained: it carries the
//! conditional put of each of its events' id markers together with the
//! counter increments for those events, so it either counts its events and
//! marks them stored, or does neither. Replaying a batch after any failure
//! therefore finds the committed events marked and skips them.
//!
//! Within a transaction, increments are aggregated: each counter item is
//! written once per transaction however many events touch it. Unique users
//! are exact: a membership item per (scope, user) is put with
//! `attribute_not_exists` the first time the user is seen, and only then
//! does the `users` counter move.

use std::collections::BTreeMap;

use foldhash::{HashSet, HashSetExt};

use serde_json::{Value, json};

use super::event::Event;
use crate::store::keys::{self, Membership, Scope};
use crate::store::{Condition, Item, Key, WriteOp};

/// Counter attributes of a scope's counter item.
pub const EVENTS: &str = "events";
pub const CONVERSIONS: &str = "conversions";
pub const USERS: &str = "users";
pub const CONVERTED_USERS: &str = "convertedUsers";
/// Counter attributes of an hourly bucket item.
pub const NEW_USERS: &str = "newUsers";
pub const NEW_CONVERTED_USERS: &str = "newConvertedUsers";

/// Every scope an event counts in.
pub fn scopes(event: &Event) -> Vec<Scope> {
    let mut scopes = vec![Scope::Tenant];
    if let Some(experiment) = &event.experiment_id {
        scopes.push(Scope::Experiment(experiment.clone()));
        if let Some(variant) = &event.variant {
            scopes.push(Scope::Variant(experiment.clone(), variant.clone()));
            scopes.push(Scope::VariantName(variant.clone()));
        }
    }
    scopes
}

/// Scopes that also keep hourly buckets (for time series and date ranges).
fn has_buckets(scope: &Scope) -> bool {
    !matches!(scope, Scope::VariantName(_))
}

/// The membership items whose existence decides the unique-user counters
/// for these events: what the batch writer reads before planning.
pub fn membership_keys(events: &[Event]) -> Vec<Key> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for event in events {
        for scope in scopes(event) {
            let mut kinds = vec![Membership::Seen];
            if event.is_conversion() {
                kinds.push(Membership::Converted);
            }
            for kind in kinds {
                let key = keys::membership(&event.tenant_id, &scope, kind, &event.user_id);
                if seen.insert(key.clone()) {
                    keys.push(key);
                }
            }
        }
    }
    keys
}

/// The stored form of an event (its key carries tenant, day and time).
pub fn event_item(event: &Event) -> Item {
    let mut item = object(serde_json::to_value(event).expect("events serialise"));
    item.remove("tenantId");
    item
}

/// The attributes of a JSON object (none for any other value).
fn object(value: Value) -> Item {
    match value {
        Value::Object(item) => item,
        _ => Item::new(),
    }
}

/// A one-attribute item.
fn item_of(attr: &str, value: impl Into<Value>) -> Item {
    let mut item = Item::new();
    item.insert(attr.to_owned(), value.into());
    item
}

#[derive(Default)]
struct Transaction {
    writes: Vec<WriteOp>,
    increments: BTreeMap<Key, BTreeMap<&'static str, i64>>,
    labels: BTreeMap<Key, Item>,
    events: usize,
}

impl Transaction {
    fn size(&self) -> usize {
        self.writes.len() + self.increments.len()
    }

    fn add(&mut self, key: Key, attr: &'static str, delta: i64) {
        *self.increments.entry(key).or_default().entry(attr).or_default() += delta;
    }

    fn finish(self) -> PlannedTransaction {
        let Transaction { mut writes, increments, mut labels, events } = self;
        for (key, attrs) in increments {
            let set = labels.remove(&key).unwrap_or_default();
            writes.push(WriteOp::Update {
                key,
                add: attrs.into_iter().map(|(a, d)| (a.to_owned(), d)).collect(),
                set,
                condition: Condition::Always,
            });
        }
        PlannedTransaction { writes, events }
    }
}

#[derive(Debug)]
pub struct PlannedTransaction {
    pub writes: Vec<WriteOp>,
    /// How many events this transaction stores (a prefix of the plan's input).
    pub events: usize,
}

/// Labels stored on counter items so readers need not decode sort keys.
fn scope_labels(scope: &Scope) -> Item {
    let value = match scope {
        Scope::Tenant => json!({}),
        Scope::Experiment(experiment) => json!({"experimentId": experiment}),
        Scope::Variant(experiment, variant) => {
            json!({"experimentId": experiment, "variant": variant})
        }
        Scope::VariantName(variant) => json!({"variant": variant}),
    };
    object(value)
}

/// Plans the writes that store and count `events`, which must be distinct
/// and not yet stored. `existing` holds the membership keys already in the
/// store. No transaction exceeds `max_writes` writes.
///
/// The sets here hash keys with `foldhash` (seeded per process, like std's
/// SipHash, so user-chosen ids cannot force collisions): SipHash was a tenth
/// of the batch writer's profile.
pub fn plan(events: &[Event], existing: &HashSet<Key>, max_writes: usize) -> Vec<PlannedTransaction> {
    let mut members: HashSet<Key> = HashSet::new();
    let is_member = |key: &Key, members: &HashSet<Key>| existing.contains(key) || members.contains(key);
    let mut transactions = Vec::new();
    let mut current = Transaction::default();

    for event in events {
        // Work out this event's own writes and the aggregate items it adds to.
        let event_key = keys::event(&event.tenant_id, &event.timestamp, &event.id);
        let mut own = vec![
            WriteOp::Put {
                key: keys::event_marker(&event.tenant_id, &event.id),
                item: item_of("sk", event_key.sk.clone()),
                condition: Condition::NotExists,
            },
            WriteOp::Put { key: event_key, item: event_item(event), condition: Condition::NotExists },
        ];
        let mut increments: Vec<(Key, &'static str, i64)> = Vec::new();
        let mut new_members = Vec::new();
        let hour = keys::hour(&event.timestamp);
        let scopes = scopes(event);
        for scope in &scopes {
            let counter = keys::counter(&event.tenant_id, scope);
            let bucket = has_buckets(scope).then(|| keys::bucket(&event.tenant_id, scope, &hour));
            let mut bump = |attr: &'static str, bucket_attr: &'static str| {
                increments.push((counter.clone(), attr, 1));
                if let Some(bucket) = &bucket {
                    increments.push((bucket.clone(), bucket_attr, 1));
                }
            };
            bump(EVENTS, EVENTS);
            if event.is_conversion() {
                bump(CONVERSIONS, CONVERSIONS);
            }
            let seen = keys::membership(&event.tenant_id, scope, Membership::Seen, &event.user_id);
            if !is_member(&seen, &members) {
                bump(USERS, NEW_USERS);
                new_members.push(seen);
            }
            if event.is_conversion() {
                let converted =
                    keys::membership(&event.tenant_id, scope, Membership::Converted, &event.user_id);
                if !is_member(&converted, &members) {
                    bump(CONVERTED_USERS, NEW_CONVERTED_USERS);
                    new_members.push(converted);
                }
            }
        }
        let seen_at = keys::sort_time(&event.timestamp);
        for key in &new_members {
            own.push(WriteOp::Put {
                key: key.clone(),
                item: item_of("at", seen_at.clone()),
                condition: Condition::NotExists,
            });
        }
        let mut added: Vec<&Key> = Vec::new();
        for (key, _, _) in &increments {
            if !current.increments.contains_key(key) && !added.contains(&key) {
                added.push(key);
            }
        }
        let added_aggregates = added.len();
        if current.events > 0 && current.size() + own.len() + added_aggregates > max_writes {
            transactions.push(std::mem::take(&mut current).finish());
        }

        members.extend(new_members);
        current.writes.extend(own);
        for scope in &scopes {
            let counter = keys::counter(&event.tenant_id, scope);
            current.labels.entry(counter).or_insert_with(|| scope_labels(scope));
        }
        for (key, attr, delta) in increments {
            current.add(key, attr, delta);
        }
        current.events += 1;
    }
    if current.events > 0 {
        transactions.push(current.finish());
    }
    transactions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventType;
    use crate::store::keys::counter;

    fn event(id: &str, user: &str, kind: EventType, variant: Option<&str>) -> Event {
        Event {
            id: id.into(),
            tenant_id: "t".into(),
            user_id: user.into(),
            event_type: kind,
            experiment_id: variant.map(|_| "exp".to_owned()),
            variant: variant.map(str::to_owned),
            properties: Default::default(),
            timestamp: "2026-11-01T10:30:00Z".parse().unwrap(),
        }
    }

    fn increments(plan: &[PlannedTransaction], key: &Key) -> BTreeMap<String, i64> {
        let mut totals = BTreeMap::new();
        for tx in plan {
            for write in &tx.writes {
                if let WriteOp::Update { key: k, add, .. } = write
                    && k == key
                {
                    for (attr, delta) in add {
                        *totals.entry(attr.clone()).or_default() += delta;
                    }
                }
            }
        }
        totals
    }

    #[test]
    fn counts_users_once_and_aggregates_counters() {
        let events = vec![
            event("1", "alice", EventType::PageView, Some("A")),
            event("2", "alice", EventType::Conversion, Some("A")),
            event("3", "alice", EventType::Conversion, Some("A")),
            event("4", "bob", EventType::PageView, Some("B")),
            event("5", "carol", EventType::Click, None),
        ];
        let plan = plan(&events, &HashSet::new(), 100);
        assert_eq!(plan.len(), 1);
        let variant_a = counter("t", &Scope::Variant("exp".into(), "A".into()));
        assert_eq!(
            increments(&plan, &variant_a),
            BTreeMap::from([
                ("conversions".into(), 2),
                ("convertedUsers".into(), 1),
                ("events".into(), 3),
                ("users".into(), 1),
            ])
        );
        let tenant = counter("t", &Scope::Tenant);
        assert_eq!(increments(&plan, &tenant)["events"], 5);
        assert_eq!(increments(&plan, &tenant)["users"], 3);
        let updates_of_a = plan[0].writes.iter().filter(|w| w.key() == &variant_a).count();
        assert_eq!(updates_of_a, 1, "one write per counter item per transaction");
    }

    #[test]
    fn known_members_do_not_count_again() {
        let events = vec![event("1", "alice", EventType::Conversion, Some("A"))];
        let existing: HashSet<Key> = membership_keys(&events).into_iter().collect();
        let plan = plan(&events, &existing, 100);
        let variant_a = counter("t", &Scope::Variant("exp".into(), "A".into()));
        let totals = increments(&plan, &variant_a);
        assert_eq!(totals.get("users"), None);
        assert_eq!(totals.get("convertedUsers"), None);
        assert_eq!(totals["events"], 1);
    }

    #[test]
    fn splits_into_transactions_within_the_limit_and_counts_the_same() {
        let events: Vec<Event> = (0..250)
            .map(|i| {
                let kind = if i % 7 == 0 { EventType::Conversion } else { EventType::PageView };
                let variant = ["A", "B", "C"][i % 3];
                event(&i.to_string(), &format!("user{}", i % 40), kind, Some(variant))
            })
            .collect();
        let whole = plan(&events, &HashSet::new(), usize::MAX);
        let split = plan(&events, &HashSet::new(), 100);
        assert_eq!(whole.len(), 1);
        assert!(split.len() > 1);
        assert!(split.iter().all(|tx| tx.writes.len() <= 100));
        assert_eq!(split.iter().map(|tx| tx.events).sum::<usize>(), 250);
        for scope in [
            Scope::Tenant,
            Scope::Experiment("exp".into()),
            Scope::Variant("exp".into(), "B".into()),
            Scope::VariantName("C".into()),
        ] {
            let key = counter("t", &scope);
            assert_eq!(increments(&whole, &key), increments(&split, &key), "{scope:?}");
        }
        for tx in &split {
            let mut keys = HashSet::new();
            assert!(tx.writes.iter().all(|w| keys.insert(w.key().clone())));
        }
    }
}
