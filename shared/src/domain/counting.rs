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

use foldhash::{HashMap, HashSet, HashSetExt};

use serde_json::{Value, json};

use super::event::Event;
use crate::store::keys::{self, Membership, ScopeRef};
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
pub fn scopes(event: &Event) -> impl Iterator<Item = ScopeRef<'_>> {
    let experiment = event.experiment_id.as_deref();
    let variant = experiment.zip(event.variant.as_deref());
    std::iter::once(ScopeRef::Tenant)
        .chain(experiment.map(ScopeRef::Experiment))
        .chain(variant.map(|(experiment, variant)| ScopeRef::Variant(experiment, variant)))
        .chain(variant.map(|(_, variant)| ScopeRef::VariantName(variant)))
}

/// The membership kinds an event can make its user a member of.
pub fn membership_kinds(event: &Event) -> &'static [Membership] {
    if event.is_conversion() { &[Membership::Seen, Membership::Converted] } else { &[Membership::Seen] }
}

/// The membership items whose existence decides the unique-user counters
/// for these events: what the batch writer reads before planning.
pub fn membership_keys(events: &[Event]) -> Vec<Key> {
    let mut book = KeyBook::default();
    let mut wanted = HashSet::new();
    for event in events {
        for scope in scopes(event) {
            let scope = book.scope(&event.tenant_id, scope);
            for &kind in membership_kinds(event) {
                wanted.insert(book.membership(scope, kind, &event.user_id));
            }
        }
    }
    wanted.into_iter().collect()
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

/// Labels stored on counter items so readers need not decode sort keys.
fn scope_labels(scope: ScopeRef) -> Item {
    let value = match scope {
        ScopeRef::Tenant => json!({}),
        ScopeRef::Experiment(experiment) => json!({"experimentId": experiment}),
        ScopeRef::Variant(experiment, variant) => {
            json!({"experimentId": experiment, "variant": variant})
        }
        ScopeRef::VariantName(variant) => json!({"variant": variant}),
    };
    object(value)
}

/// An item that events add to: a scope's counter or one of its hourly
/// buckets. Identified by its index in the [`KeyBook`].
type AggregateId = usize;

struct Aggregate {
    key: Key,
    /// Attributes set alongside the increments (a counter's labels).
    labels: Item,
    /// Attribute names of the four counts: a counter's or a bucket's.
    names: [&'static str; 4],
}

const COUNTER_NAMES: [&str; 4] = [EVENTS, CONVERSIONS, USERS, CONVERTED_USERS];
const BUCKET_NAMES: [&str; 4] = [EVENTS, CONVERSIONS, NEW_USERS, NEW_CONVERTED_USERS];

/// Which of an aggregate's four counts an event adds one to.
#[derive(Clone, Copy)]
enum Count {
    Events = 0,
    Conversions = 1,
    Users = 2,
    ConvertedUsers = 3,
}

/// What one scope of one tenant contributes to a plan.
struct ScopeEntry<'a> {
    scope: ScopeRef<'a>,
    tenant_id: &'a str,
    counter: AggregateId,
    memberships_prefix: String,
}

/// Keys that depend only on a tenant's scope (and hour), built once per
/// plan rather than once per event: a batch's events share a handful of
/// scopes, and building keys was a third of the batch writer's profile.
#[derive(Default)]
struct KeyBook<'a> {
    scope_ids: HashMap<(&'a str, ScopeRef<'a>), usize>,
    scopes: Vec<ScopeEntry<'a>>,
    /// Bucket of (scope, hour), by hours since the Unix epoch.
    bucket_ids: HashMap<(usize, i64), AggregateId>,
    aggregates: Vec<Aggregate>,
}

impl<'a> KeyBook<'a> {
    fn scope(&mut self, tenant_id: &'a str, scope: ScopeRef<'a>) -> usize {
        if let Some(&id) = self.scope_ids.get(&(tenant_id, scope)) {
            return id;
        }
        let counter = self.aggregates.len();
        self.aggregates.push(Aggregate {
            key: keys::counter(tenant_id, scope),
            labels: scope_labels(scope),
            names: COUNTER_NAMES,
        });
        let id = self.scopes.len();
        self.scopes.push(ScopeEntry {
            scope,
            tenant_id,
            counter,
            memberships_prefix: keys::memberships_prefix(tenant_id, scope),
        });
        self.scope_ids.insert((tenant_id, scope), id);
        id
    }

    fn membership(&self, scope: usize, kind: Membership, user_id: &str) -> Key {
        keys::membership_in(&self.scopes[scope].memberships_prefix, kind, user_id)
    }

    /// The scope's bucket for the hour of `event` (every scope has hourly
    /// buckets: date ranges and time series read them).
    fn bucket(&mut self, scope: usize, event: &Event) -> AggregateId {
        let entry = &self.scopes[scope];
        let at = &event.timestamp;
        let hour = at.timestamp().div_euclid(3600);
        if let Some(&id) = self.bucket_ids.get(&(scope, hour)) {
            return id;
        }
        let id = self.aggregates.len();
        self.aggregates.push(Aggregate {
            key: keys::bucket(entry.tenant_id, entry.scope, &keys::hour(at)),
            labels: Item::new(),
            names: BUCKET_NAMES,
        });
        self.bucket_ids.insert((scope, hour), id);
        id
    }
}

/// One transaction being filled: its puts, and the counts it adds to each
/// aggregate (in the order the aggregates were first touched).
#[derive(Default)]
struct Transaction {
    writes: Vec<WriteOp>,
    counts: Vec<(AggregateId, [i64; 4])>,
    position: HashMap<AggregateId, usize>,
    new_members: Vec<Key>,
    events: usize,
}

impl Transaction {
    fn size(&self) -> usize {
        self.writes.len() + self.counts.len()
    }

    fn add(&mut self, aggregate: AggregateId, count: Count) {
        let next = self.counts.len();
        let at = *self.position.entry(aggregate).or_insert(next);
        if at == next {
            self.counts.push((aggregate, [0; 4]));
        }
        self.counts[at].1[count as usize] += 1;
    }

    fn finish(self, book: &KeyBook) -> PlannedTransaction {
        let Transaction { mut writes, counts, new_members, events, .. } = self;
        for (aggregate, counts) in counts {
            let Aggregate { key, labels, names } = &book.aggregates[aggregate];
            writes.push(WriteOp::Update {
                key: key.clone(),
                add: names
                    .iter()
                    .zip(counts)
                    .filter(|(_, count)| *count != 0)
                    .map(|(name, count)| ((*name).to_owned(), count))
                    .collect(),
                set: labels.clone(),
                condition: Condition::Always,
            });
        }
        PlannedTransaction { writes, new_members, events }
    }
}

#[derive(Debug)]
pub struct PlannedTransaction {
    pub writes: Vec<WriteOp>,
    /// The membership items this transaction creates: they exist once it
    /// has committed.
    pub new_members: Vec<Key>,
    /// How many events this transaction stores (a prefix of the plan's input).
    pub events: usize,
}

/// Plans the writes that store and count `events`, which must be distinct
/// and not yet stored. `absent` holds the keys, among the
/// [`membership_keys`] of `events`, that the store does not have: the users
/// who are new to a scope. Returning users, the common case, need no
/// membership keys built at all. No transaction exceeds `max_writes` writes.
///
/// The sets here hash keys with `foldhash` (seeded per process, like std's
/// SipHash, so user-chosen ids cannot force collisions): SipHash was a tenth
/// of the batch writer's profile.
pub fn plan(events: &[Event], absent: &HashSet<Key>, max_writes: usize) -> Vec<PlannedTransaction> {
    let mut book = KeyBook::default();
    let mut members: HashSet<Key> = HashSet::new();
    let mut transactions = Vec::new();
    let mut current = Transaction::default();
    // Per event, reused: the counts it adds and the memberships it creates.
    let mut bumps: Vec<(AggregateId, Count)> = Vec::new();
    let mut new_members: Vec<Key> = Vec::new();

    for event in events {
        bumps.clear();
        new_members.clear();
        for scope in scopes(event) {
            let scope = book.scope(&event.tenant_id, scope);
            let counter = book.scopes[scope].counter;
            let bucket = book.bucket(scope, event);
            let mut bump = |count: Count| {
                bumps.push((counter, count));
                bumps.push((bucket, count));
            };
            bump(Count::Events);
            if event.is_conversion() {
                bump(Count::Conversions);
            }
            if absent.is_empty() {
                continue;
            }
            for &kind in membership_kinds(event) {
                let key = book.membership(scope, kind, &event.user_id);
                if absent.contains(&key) && members.insert(key.clone()) {
                    bump(match kind {
                        Membership::Seen => Count::Users,
                        Membership::Converted => Count::ConvertedUsers,
                    });
                    new_members.push(key);
                }
            }
        }

        // The event's own puts (its id marker, itself, first memberships)
        // and the aggregates it adds to the transaction must fit in it.
        let own = 2 + new_members.len();
        let added = bumps
            .iter()
            .enumerate()
            .filter(|&(i, (aggregate, _))| {
                !current.position.contains_key(aggregate) && !bumps[..i].iter().any(|(a, _)| a == aggregate)
            })
            .count();
        if current.events > 0 && current.size() + own + added > max_writes {
            transactions.push(std::mem::take(&mut current).finish(&book));
        }

        let event_key = keys::event(&event.tenant_id, &event.timestamp, &event.id);
        current.writes.push(WriteOp::Put {
            key: keys::event_marker(&event.tenant_id, &event.id),
            item: item_of("sk", event_key.sk.clone()),
            condition: Condition::NotExists,
        });
        current.writes.push(WriteOp::Put {
            key: event_key,
            item: event_item(event),
            condition: Condition::NotExists,
        });
        if !new_members.is_empty() {
            let seen_at = keys::sort_time(&event.timestamp);
            for key in new_members.drain(..) {
                current.new_members.push(key.clone());
                current.writes.push(WriteOp::Put {
                    key,
                    item: item_of("at", seen_at.clone()),
                    condition: Condition::NotExists,
                });
            }
        }
        for &(aggregate, count) in &bumps {
            current.add(aggregate, count);
        }
        current.events += 1;
    }
    if current.events > 0 {
        transactions.push(current.finish(&book));
    }
    transactions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventType;
    use std::collections::BTreeMap;

    use crate::store::keys::{Scope, counter};

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

    /// The store has none of the events' memberships: every user is new.
    fn all_absent(events: &[Event]) -> HashSet<Key> {
        membership_keys(events).into_iter().collect()
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
        let plan = plan(&events, &all_absent(&events), 100);
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
    fn only_absent_memberships_count() {
        let events = vec![event("1", "alice", EventType::Conversion, Some("A"))];
        // Alice was seen in the tenant before, never in the experiment's variant A.
        let variant_a = Scope::Variant("exp".into(), "A".into());
        let absent = HashSet::from_iter([
            keys::membership("t", &variant_a, Membership::Seen, "alice"),
            keys::membership("t", &Scope::Tenant, Membership::Converted, "alice"),
        ]);
        let plan = plan(&events, &absent, 100);
        let variant_totals = increments(&plan, &counter("t", &variant_a));
        assert_eq!((variant_totals["events"], variant_totals["users"]), (1, 1));
        assert_eq!(variant_totals.get("convertedUsers"), None);
        let tenant_totals = increments(&plan, &counter("t", &Scope::Tenant));
        assert_eq!(tenant_totals.get("users"), None);
        assert_eq!(tenant_totals["convertedUsers"], 1);
        let puts = plan[0].writes.iter().filter(|w| matches!(w, WriteOp::Put { .. })).count();
        assert_eq!(puts, 2 + 2, "marker, event and the two new memberships");
        // Nothing absent: a returning user counts only as events.
        let returning = super::plan(&events, &HashSet::new(), 100);
        assert_eq!(increments(&returning, &counter("t", &variant_a)).get("users"), None);
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
        let whole = plan(&events, &all_absent(&events), usize::MAX);
        let split = plan(&events, &all_absent(&events), 100);
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
