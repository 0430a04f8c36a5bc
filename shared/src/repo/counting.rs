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
//!
//! A membership also holds `at`, the time of its user's earliest event in
//! the scope (earliest conversion, for the converted kind): the hour whose
//! bucket counts the user in `newUsers`, whatever the order events arrive
//! in. An event in an earlier hour, arriving later, moves it: the
//! membership is put again on condition that `at` still holds what was
//! read, and one `newUsers` moves from the old hour's bucket to the new
//! one's, in the same transaction.
//!
//! Users a batch changes the first-touch attribution of (`repo::attribution`)
//! have their attribution item put back, on condition that its version is
//! the one read, with the campaign rows' `ADD`s, in the transaction of the
//! events that change them.

use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashSet, HashSetExt};

use serde_json::{Value, json};

use super::attribution::{self as stored_attribution, Known, Slots};
use super::known_members::Digest96;
use crate::domain::arm_sums;
use crate::domain::attribution::{self, Cell, Day, Measure, UserAttribution};
use crate::domain::counting::{
    CONVERSIONS, CONVERTED_USERS, EVENTS, NEW_CONVERTED_USERS, NEW_USERS, USERS, membership_kinds, scopes,
};
use crate::domain::counting::{Membership, ScopeRef};
use crate::domain::event::Event;
use crate::domain::metric;
use crate::domain::timeseries::parse_hour;
use crate::store::keys;
use crate::store::{Condition, Item, Key, Layout, WriteOp};

/// A membership's attribute: its user's earliest event in the scope, as
/// [`keys::sort_time`].
pub const FIRST_SEEN_AT: &str = "at";

/// What a batch changes about one membership item.
#[derive(Clone, Debug, PartialEq)]
pub struct FirstSight {
    /// The batch's earliest event of the user in the scope (earliest
    /// conversion, for the converted kind).
    pub at: DateTime<Utc>,
    /// The stored membership, when there is one: its first-seen time falls
    /// in a later hour than `at`, and moves to `at`. `None`: a new member.
    pub stored: Option<StoredSight>,
}

/// A stored membership's first-seen time: as stored, and its hour number.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSight {
    pub at: String,
    pub hour: i64,
}

/// Hours since the Unix epoch: the number of the hourly bucket `at` is in.
pub fn hour_number(at: &DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

/// The first-seen time a stored membership item holds (`None` if it holds
/// none readable).
pub fn stored_sight(item: &Item) -> Option<StoredSight> {
    let at = item.get(FIRST_SEEN_AT)?.as_str()?;
    let hour = parse_hour(at.get(..13)?)?;
    Some(StoredSight { at: at.to_owned(), hour: hour_number(&hour) })
}

/// The membership items whose existence and first-seen times decide the
/// unique-user counts of these events, each with the batch's earliest event
/// for it: what the batch writer looks up before planning.
pub fn membership_keys(events: &[Event]) -> Vec<(Key, DateTime<Utc>)> {
    let mut book = KeyBook::default();
    let mut earliest: HashMap<Key, DateTime<Utc>> = HashMap::default();
    for event in events {
        for scope in scopes(event) {
            let scope = book.scope(&event.tenant_id, scope);
            for &kind in membership_kinds(event) {
                let at =
                    earliest.entry(book.membership(scope, kind, &event.user_id)).or_insert(event.timestamp);
                *at = (*at).min(event.timestamp);
            }
        }
    }
    earliest.into_iter().collect()
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
    /// Attribute names of its counts: a counter's or a bucket's four (an
    /// experiment arm's counter's, then its five per-user sums).
    names: &'static [&'static str],
}

const COUNTER_NAMES: [&str; 4] = [EVENTS, CONVERSIONS, USERS, CONVERTED_USERS];
/// An experiment arm's counter: the four counts, then its per-user sums.
const ARM_COUNTER_NAMES: [&str; 9] = [
    EVENTS,
    CONVERSIONS,
    USERS,
    CONVERTED_USERS,
    arm_sums::ATTRIBUTES[0],
    arm_sums::ATTRIBUTES[1],
    arm_sums::ATTRIBUTES[2],
    arm_sums::ATTRIBUTES[3],
    arm_sums::ATTRIBUTES[4],
];
const BUCKET_NAMES: [&str; 4] = [EVENTS, CONVERSIONS, NEW_USERS, NEW_CONVERTED_USERS];
/// An experiment arm's sums of one defined metric (`domain::metric`).
const METRIC_SUM_NAMES: [&str; 5] = metric::ATTRIBUTES;
/// The most counts an aggregate has.
const SLOTS: usize = ARM_COUNTER_NAMES.len();

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
    /// Metric-sums items, by key.
    metric_sum_ids: HashMap<Key, AggregateId>,
    aggregates: Vec<Aggregate>,
    /// Campaign row items of (tenant, row, day), and each row's stored
    /// fields and digest.
    row_item_ids: HashMap<(&'a str, usize, Day), usize>,
    row_items: Vec<(Key, Item)>,
    /// The (tenant, row, day) of each row item, by index.
    row_item_of: Vec<(&'a str, usize, Day)>,
    /// Each cell's index, and its digest and stored fields by index.
    row_ids: HashMap<Cell, usize>,
    rows: Vec<(String, Value)>,
}

impl<'a> KeyBook<'a> {
    fn scope(&mut self, tenant_id: &'a str, scope: ScopeRef<'a>) -> usize {
        if let Some(&id) = self.scope_ids.get(&(tenant_id, scope)) {
            return id;
        }
        let counter = self.aggregates.len();
        let names: &'static [&'static str] = match scope {
            ScopeRef::Variant(..) => &ARM_COUNTER_NAMES,
            _ => &COUNTER_NAMES,
        };
        self.aggregates.push(Aggregate {
            key: keys::counter(tenant_id, scope),
            labels: scope_labels(scope),
            names,
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

    /// A campaign cell's index in this book.
    fn row(&mut self, cell: Cell) -> usize {
        if let Some(&id) = self.row_ids.get(&cell) {
            return id;
        }
        let id = self.rows.len();
        let labels = stored_attribution::cell_labels(&cell);
        self.rows.push((stored_attribution::cell_id(&labels), labels));
        self.row_ids.insert(cell, id);
        id
    }

    /// The campaign cell item of the cell indexed `row` on `day`.
    fn row_item(&mut self, tenant_id: &'a str, row: usize, day: Day) -> usize {
        if let Some(&id) = self.row_item_ids.get(&(tenant_id, row, day)) {
            return id;
        }
        let (row_id, labels) = &self.rows[row];
        let key = stored_attribution::cell_key_with_id(tenant_id, day, labels, row_id);
        let id = self.row_items.len();
        self.row_items.push((key, item_of(stored_attribution::ROW, labels.clone())));
        self.row_item_of.push((tenant_id, row, day));
        self.row_item_ids.insert((tenant_id, row, day), id);
        id
    }

    /// The sums item of one defined metric in one experiment arm.
    fn metric_sums(&mut self, tenant_id: &'a str, arm: (&'a str, &'a str), digest: &str) -> AggregateId {
        let key = keys::metric_sums(tenant_id, arm.0, arm.1, digest);
        if let Some(&id) = self.metric_sum_ids.get(&key) {
            return id;
        }
        let id = self.aggregates.len();
        let labels = object(json!({"experimentId": arm.0, "variant": arm.1, "metric": digest}));
        self.aggregates.push(Aggregate { key: key.clone(), labels, names: &METRIC_SUM_NAMES });
        self.metric_sum_ids.insert(key, id);
        id
    }

    /// The scope's bucket of the hour numbered `hour` (every scope has
    /// hourly buckets: date ranges and time series read them).
    fn bucket(&mut self, scope: usize, hour: i64) -> AggregateId {
        if let Some(&id) = self.bucket_ids.get(&(scope, hour)) {
            return id;
        }
        let entry = &self.scopes[scope];
        let id = self.aggregates.len();
        self.aggregates.push(Aggregate {
            key: keys::bucket(entry.tenant_id, entry.scope, &keys::hour_numbered(hour)),
            labels: Item::new(),
            names: &BUCKET_NAMES,
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
    counts: Vec<(AggregateId, [i64; SLOTS])>,
    position: HashMap<AggregateId, usize>,
    first_sights: Vec<(Key, i64)>,
    events: usize,
    /// Campaign row items and what this transaction adds to each.
    row_counts: Vec<(usize, HashMap<Measure, i64>)>,
    row_position: HashMap<usize, usize>,
    /// The attribution slots whose items this transaction puts.
    users: Vec<usize>,
    has_user: HashSet<usize>,
}

impl Transaction {
    fn size(&self) -> usize {
        self.writes.len() + self.counts.len() + self.row_counts.len() + self.users.len()
    }

    fn add_to_row(&mut self, item: usize, measure: Measure, delta: i64) {
        let next = self.row_counts.len();
        let at = *self.row_position.entry(item).or_insert(next);
        if at == next {
            self.row_counts.push((item, HashMap::default()));
        }
        *self.row_counts[at].1.entry(measure).or_default() += delta;
    }

    fn add(&mut self, aggregate: AggregateId, slot: usize, delta: i64) {
        let next = self.counts.len();
        let at = *self.position.entry(aggregate).or_insert(next);
        if at == next {
            self.counts.push((aggregate, [0; SLOTS]));
        }
        self.counts[at].1[slot] += delta;
    }

    /// The transaction's writes. Only a transaction of one event can need
    /// more than `max_writes` (the plan starts another before any event
    /// would take one over): a first touch that moves a user active on
    /// many days. The row writes past the limit then go into the user's
    /// item as a journal ([`stored_attribution::Journal`]), done after.
    fn finish(
        self,
        book: &KeyBook,
        users: &mut [(Option<i64>, UserAttribution)],
        slots: &Slots,
        max_writes: usize,
    ) -> PlannedTransaction {
        let Transaction { mut writes, counts, first_sights, events, row_counts, users: changed, .. } = self;
        let mut row_adds: Vec<(usize, Vec<(String, i64)>)> = Vec::with_capacity(row_counts.len());
        for (item, counts) in row_counts {
            let mut add: Vec<(String, i64)> =
                counts.into_iter().filter(|(_, n)| *n != 0).map(|(m, n)| (m.attribute(), n)).collect();
            if !add.is_empty() {
                add.sort();
                row_adds.push((item, add));
            }
        }
        let aggregate_writes = aggregate_writes(book, counts);
        let total = writes.len() + changed.len() + row_adds.len() + aggregate_writes.len();
        let mut journal = None;
        if total > max_writes && changed.len() == 1 {
            let owed = row_adds.split_off(row_adds.len() - (total - max_writes).min(row_adds.len()));
            let tenant_id = owed.first().map_or("", |(item, _)| book.row_item_of[*item].0).to_owned();
            let writes = owed
                .into_iter()
                .map(|(item, add)| {
                    let (_, row, day) = book.row_item_of[item];
                    (book.rows[row].1.clone(), day, add)
                })
                .collect();
            journal = Some(stored_attribution::Journal { tenant_id, writes });
        }
        let mut attributions = Vec::with_capacity(changed.len());
        let mut journaled = Vec::new();
        for slot in changed {
            let (version, state) = &mut users[slot];
            let next = version.map_or(1, |v| v + 1);
            let condition = match version {
                None => Condition::NotExists,
                Some(v) => Condition::equals(stored_attribution::VERSION, *v),
            };
            let key = slots.users[slot].key.clone();
            let item = stored_attribution::user_item_owing(state, next, journal.as_ref());
            match &journal {
                // Each step of the journal puts the item again, one version
                // up, with up to `max_writes - 1` row writes (as
                // `finish_journal` does them), before any later transaction
                // of this plan runs.
                Some(journal) => {
                    journaled.push(key.clone());
                    let steps = journal.writes.len().div_ceil(max_writes.saturating_sub(1).max(1));
                    *version = Some(next + steps as i64);
                }
                None => {
                    *version = Some(next);
                    if let Some(fact) = Known::of(state) {
                        attributions.push((slots.users[slot].digest, fact));
                    }
                }
            }
            writes.push(WriteOp::Put { key, item, condition });
        }
        let hot_from = writes.len();
        for (item, add) in row_adds {
            let (key, labels) = &book.row_items[item];
            writes.push(WriteOp::Update {
                key: key.clone(),
                add,
                set: labels.clone(),
                condition: Condition::Always,
            });
        }
        writes.extend(aggregate_writes);
        PlannedTransaction { writes, hot_from, first_sights, events, attributions, journaled }
    }
}

/// The `ADD`s of a transaction's counts to their aggregates.
fn aggregate_writes(book: &KeyBook, counts: Vec<(AggregateId, [i64; SLOTS])>) -> Vec<WriteOp> {
    let mut writes = Vec::with_capacity(counts.len());
    for (aggregate, counts) in counts {
        let Aggregate { key, labels, names } = &book.aggregates[aggregate];
        let add: Vec<(String, i64)> = names
            .iter()
            .zip(counts)
            .filter(|(_, count)| *count != 0)
            .map(|(name, count)| ((*name).to_owned(), count))
            .collect();
        // A bucket one user's credit left and another's reached, with
        // none of its events here, has nothing to write.
        if add.is_empty() && labels.is_empty() {
            continue;
        }
        writes.push(WriteOp::Update {
            key: key.clone(),
            add,
            set: labels.clone(),
            condition: Condition::Always,
        });
    }
    writes
}

#[derive(Debug)]
pub struct PlannedTransaction {
    pub writes: Vec<WriteOp>,
    /// Where the `ADD`s to write-hot items begin: `writes[hot_from..]` add
    /// to counters, buckets and campaign cells, whichever shard of them
    /// ([`PlannedTransaction::on_shard`]); the writes before are the
    /// transaction's own (markers, events, memberships, users' items).
    pub hot_from: usize,
    /// The memberships this transaction puts, each with the hour number of
    /// the first-seen time it gives it: they hold that once it has committed.
    pub first_sights: Vec<(Key, i64)>,
    /// How many events this transaction stores (a prefix of the plan's input).
    pub events: usize,
    /// The attribution items this transaction puts, with what they then
    /// hold: true once it has committed.
    pub attributions: Vec<(Digest96, Known)>,
    /// The user items it leaves owing row writes
    /// ([`stored_attribution::finish_journal`] them once it has committed).
    pub journaled: Vec<Key>,
}

impl PlannedTransaction {
    /// The transaction's writes, with its `ADD`s sent to shard `shard` of
    /// their items: the same counts, wherever they land, since readers sum
    /// the shards.
    pub fn on_shard(&self, shard: u16, layout: &Layout) -> Vec<WriteOp> {
        let mut writes = self.writes.clone();
        if shard > 0 {
            for write in &mut writes[self.hot_from..] {
                if let WriteOp::Update { key, .. } = write {
                    *key = keys::on_shard(key, shard, layout.bucket_partitions);
                }
            }
        }
        writes
    }
}

/// Plans the writes that store and count `events`, which must be distinct
/// and not yet stored. `sights` holds the memberships, among the
/// [`membership_keys`] of `events`, that the batch changes: the users new
/// to a scope, and those whose first-seen time an event of the batch
/// precedes by an hour or more. Returning users, the common case, need no
/// membership keys built at all. `attribution` holds the users whose
/// attribution the batch changes ([`stored_attribution::read_changing`]).
/// Event items are spread over `event_shards` partitions per tenant and
/// day ([`keys::event`]). No transaction exceeds `max_writes` writes: when one event alone needs
/// more (a user active on many days whose first touch moves), the row
/// writes past it go into the user's item as a journal
/// (`PlannedTransaction::journaled`), done in steps once it has committed.
///
/// The sets here hash keys with `foldhash` (seeded per process, like std's
/// SipHash, so user-chosen ids cannot force collisions): SipHash was a tenth
/// of the batch writer's profile.
pub fn plan(
    events: &[Event],
    sights: &HashMap<Key, FirstSight>,
    attribution: &Slots,
    max_writes: usize,
    event_shards: u16,
) -> Vec<PlannedTransaction> {
    let mut book = KeyBook::default();
    let mut planned: HashSet<Key> = HashSet::new();
    let mut transactions = Vec::new();
    let mut current = Transaction::default();
    // Per event, reused: the counts it adds and the memberships it puts.
    let mut bumps: Vec<(AggregateId, usize, i64)> = Vec::new();
    let mut sighted: Vec<(Key, &FirstSight)> = Vec::new();
    let mut row_bumps: Vec<(usize, Measure, i64)> = Vec::new();
    let mut users: Vec<(Option<i64>, UserAttribution)> =
        attribution.users.iter().map(|slot| (slot.version, slot.state.clone())).collect();

    for (index, event) in events.iter().enumerate() {
        bumps.clear();
        sighted.clear();
        for scope in scopes(event) {
            let scope = book.scope(&event.tenant_id, scope);
            let counter = book.scopes[scope].counter;
            let bucket = book.bucket(scope, hour_number(&event.timestamp));
            bumps.push((counter, Count::Events as usize, 1));
            bumps.push((bucket, Count::Events as usize, 1));
            if event.is_conversion() {
                bumps.push((counter, Count::Conversions as usize, 1));
                bumps.push((bucket, Count::Conversions as usize, 1));
            }
            if sights.is_empty() {
                continue;
            }
            for &kind in membership_kinds(event) {
                let key = book.membership(scope, kind, &event.user_id);
                let Some(sight) = sights.get(&key) else { continue };
                if !planned.insert(key.clone()) {
                    continue;
                }
                // A counter's users and a bucket's new users share a slot.
                let users = match kind {
                    Membership::Seen => Count::Users,
                    Membership::Converted => Count::ConvertedUsers,
                } as usize;
                bumps.push((book.bucket(scope, hour_number(&sight.at)), users, 1));
                match &sight.stored {
                    None => bumps.push((counter, users, 1)),
                    Some(stored) => bumps.push((book.bucket(scope, stored.hour), users, -1)),
                }
                sighted.push((key, sight));
            }
        }

        // What the event changes about its user's attribution.
        row_bumps.clear();
        let mut attributed = None;
        if let Some(slot) = attribution.of_event.get(index).copied().flatten() {
            let user = &attribution.users[slot];
            let before = &users[slot].1;
            let mut after = before.clone();
            if stored_attribution::add_event(
                &mut after,
                event,
                &user.settings,
                &attribution.day_values,
                attribution.metrics_of(event),
            ) {
                for (row, changes) in attribution::changes(before, &after) {
                    let row = book.row(row);
                    for (day, measure, delta) in changes {
                        row_bumps.push((book.row_item(&event.tenant_id, row, day), measure, delta));
                    }
                }
                // An event changes the per-user sums of its own arm only;
                // they ride on the arm's counter, which the transaction
                // writes anyway.
                if let Some((experiment, variant)) = stored_attribution::arm_of(event) {
                    let change = arm_sums::change_in(before, &after, (experiment, variant));
                    if !change.is_zero() {
                        let scope = book.scope(&event.tenant_id, ScopeRef::Variant(experiment, variant));
                        let counter = book.scopes[scope].counter;
                        for (slot, delta) in change.as_array().into_iter().enumerate() {
                            bumps.push((counter, COUNTER_NAMES.len() + slot, delta));
                        }
                    }
                }
                // So do the sums of its experiment's defined metrics, on
                // items of their own beside the counter.
                if let (Some(arm), Some(metrics)) =
                    (stored_attribution::arm_of(event), attribution.metrics_of(event))
                {
                    let none = Default::default();
                    let was = before.arm(arm).map_or(&none, |activity| &activity.tallies);
                    let is = after.arm(arm).map_or(&none, |activity| &activity.tallies);
                    if was != is {
                        for compiled in &metrics.metrics {
                            let change = compiled.contribution(is).minus(compiled.contribution(was));
                            if !change.is_zero() {
                                let sums = book.metric_sums(&event.tenant_id, arm, &compiled.digest);
                                for (slot, delta) in change.as_array().into_iter().enumerate() {
                                    bumps.push((sums, slot, delta));
                                }
                            }
                        }
                    }
                }
                attributed = Some((slot, after));
            }
        }

        // The event's own puts (its id marker, itself, memberships, its
        // user's attribution) and the aggregates it adds to the
        // transaction must fit in it.
        let own = 2
            + sighted.len()
            + attributed.as_ref().map_or(0, |(slot, _)| usize::from(!current.has_user.contains(slot)));
        let added = bumps
            .iter()
            .enumerate()
            .filter(|&(i, (aggregate, ..))| {
                !current.position.contains_key(aggregate) && !bumps[..i].iter().any(|(a, ..)| a == aggregate)
            })
            .count()
            + row_bumps
                .iter()
                .enumerate()
                .filter(|&(i, (item, ..))| {
                    !current.row_position.contains_key(item)
                        && !row_bumps[..i].iter().any(|(x, ..)| x == item)
                })
                .count();
        if current.events > 0 && current.size() + own + added > max_writes {
            transactions.push(std::mem::take(&mut current).finish(
                &book,
                &mut users,
                attribution,
                max_writes,
            ));
        }

        let event_key = keys::event(&event.tenant_id, &event.timestamp, &event.id, event_shards);
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
        for (key, sight) in sighted.drain(..) {
            let condition = match &sight.stored {
                None => Condition::NotExists,
                Some(stored) => Condition::equals(FIRST_SEEN_AT, stored.at.clone()),
            };
            current.first_sights.push((key.clone(), hour_number(&sight.at)));
            current.writes.push(WriteOp::Put {
                key,
                item: item_of(FIRST_SEEN_AT, keys::sort_time(&sight.at)),
                condition,
            });
        }
        for &(aggregate, count, delta) in &bumps {
            current.add(aggregate, count, delta);
        }
        if let Some((slot, after)) = attributed {
            users[slot].1 = after;
            if current.has_user.insert(slot) {
                current.users.push(slot);
            }
            for &(item, measure, delta) in &row_bumps {
                current.add_to_row(item, measure, delta);
            }
        }
        current.events += 1;
    }
    if current.events > 0 {
        transactions.push(current.finish(&book, &mut users, attribution, max_writes));
    }
    transactions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventType;
    use std::collections::BTreeMap;

    use crate::domain::counting::Scope;
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

    /// The store has none of the events' memberships: every user is new.
    fn all_absent(events: &[Event]) -> HashMap<Key, FirstSight> {
        membership_keys(events).into_iter().map(|(key, at)| (key, FirstSight { at, stored: None })).collect()
    }

    fn new_member(key: Key, at: &str) -> (Key, FirstSight) {
        (key, FirstSight { at: at.parse().unwrap(), stored: None })
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
        let plan = plan(&events, &all_absent(&events), &Slots::default(), 100, 1);
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
        let at = "2026-11-01T10:30:00Z";
        let absent = HashMap::from_iter([
            new_member(keys::membership("t", &variant_a, Membership::Seen, "alice"), at),
            new_member(keys::membership("t", &Scope::Tenant, Membership::Converted, "alice"), at),
        ]);
        let plan = plan(&events, &absent, &Slots::default(), 100, 1);
        let variant_totals = increments(&plan, &counter("t", &variant_a));
        assert_eq!((variant_totals["events"], variant_totals["users"]), (1, 1));
        assert_eq!(variant_totals.get("convertedUsers"), None);
        let tenant_totals = increments(&plan, &counter("t", &Scope::Tenant));
        assert_eq!(tenant_totals.get("users"), None);
        assert_eq!(tenant_totals["convertedUsers"], 1);
        let puts = plan[0].writes.iter().filter(|w| matches!(w, WriteOp::Put { .. })).count();
        assert_eq!(puts, 2 + 2, "marker, event and the two new memberships");
        // Nothing absent: a returning user counts only as events.
        let returning = super::plan(&events, &HashMap::default(), &Slots::default(), 100, 1);
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
        let whole = plan(&events, &all_absent(&events), &Slots::default(), usize::MAX, 1);
        let split = plan(&events, &all_absent(&events), &Slots::default(), 100, 1);
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

    #[test]
    fn new_users_are_credited_to_the_hour_of_their_earliest_event() {
        let mut late = event("1", "alice", EventType::PageView, None);
        let mut early = event("2", "alice", EventType::Conversion, None);
        early.timestamp = "2026-11-01T08:05:00Z".parse().unwrap();
        late.timestamp = "2026-11-01T10:30:00Z".parse().unwrap();
        // In one batch, the later event first: the earlier one's hour is credited.
        let events = vec![late.clone(), early.clone()];
        let sights = all_absent(&events);
        let seen = keys::membership("t", &Scope::Tenant, Membership::Seen, "alice");
        assert_eq!(sights[&seen].at, early.timestamp);
        let plan = plan(&events, &sights, &Slots::default(), 100, 1);
        let bucket = |hour: &str| keys::bucket("t", ScopeRef::Tenant, hour);
        let (eight, ten) = (bucket("2026-11-01T08"), bucket("2026-11-01T10"));
        assert_eq!(increments(&plan, &eight)["newUsers"], 1);
        assert_eq!(increments(&plan, &eight)["newConvertedUsers"], 1);
        assert_eq!(increments(&plan, &ten).get("newUsers"), None);
        let membership = plan[0].writes.iter().find(|w| w.key() == &seen).unwrap();
        assert!(
            matches!(membership, WriteOp::Put { item, .. } if item["at"] == "2026-11-01T08:05:00.000000Z")
        );
        assert!(plan[0].first_sights.contains(&(seen.clone(), hour_number(&early.timestamp))));

        // Stored already, first seen at 10:30: an event at 08:05 arriving
        // later moves the credit, on condition that `at` still holds.
        let stored =
            StoredSight { at: "2026-11-01T10:30:00.000000Z".into(), hour: hour_number(&late.timestamp) };
        let mut earlier = early.clone();
        earlier.event_type = EventType::PageView;
        let moved = HashMap::from_iter([(
            seen.clone(),
            FirstSight { at: earlier.timestamp, stored: Some(stored.clone()) },
        )]);
        let plan = super::plan(std::slice::from_ref(&earlier), &moved, &Slots::default(), 100, 1);
        assert_eq!(increments(&plan, &eight)["newUsers"], 1);
        assert_eq!(increments(&plan, &ten)["newUsers"], -1);
        assert_eq!(increments(&plan, &counter("t", &Scope::Tenant)).get("users"), None, "not a new user");
        let membership = plan[0].writes.iter().find(|w| w.key() == &seen).unwrap();
        assert_eq!(membership.condition(), &Condition::equals("at", stored.at.clone()));
        assert_eq!(stored_sight(&item_of("at", stored.at.clone())), Some(stored));
    }
}
