//! The scale model: the real batch writer (`repo::events::store_events`,
//! its planner and repositories, and the DynamoDB adapter's retry policy,
//! `store::retry`) over a simulated DynamoDB that has DynamoDB's documented
//! limits, in virtual time.
//!
//! moto enforces none of those limits and a real table costs money and
//! minutes, so this is how a layout's ceiling is measured: deterministic
//! (one thread, tokio's paused clock, seeded jitter), and in seconds of
//! real time for minutes of traffic. What is modelled:
//! - a `TransactWriteItems` holds the items it writes for
//!   [`Limits::transaction_hold`]; any transaction or lone write touching
//!   a held item meanwhile is refused (`TransactionConflict`), and the
//!   adapter's policy retries it;
//! - each partition takes [`Limits::partition_wcu`] write units per
//!   second (DynamoDB: 1,000, with one second's burst); a write costs its
//!   item's started kilobytes, twice inside a transaction; a write the
//!   bucket cannot pay for is throttled. A partition is a partition key
//!   whose writes go to ever-later sort keys (events, hourly buckets:
//!   DynamoDB does not split those for heat), and otherwise one item
//!   (DynamoDB's steady state once adaptive capacity has split hot items
//!   apart; a single item never splits). [`Limits::rising_partitions`];
//! - reads cost a unit per started 4 KB (strongly consistent), and every
//!   request a latency.
//!
//! What it leaves out: the CPU the writers spend planning (virtual time
//! stands still while code runs, so the model measures what the store
//! allows), SQS, and Lambda's own scaling.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use shared::domain::event::{Event, EventType};
use shared::repo::events::{WriteReport, WriterMemory, store_events_into};
use shared::store::retry::{Attempt, retrying};
use shared::store::{
    Item, Key, Layout, Page, Query, SortRange, Store, StoreError, WriteOp, validate_transaction,
};
use tokio::time::Instant;

/// DynamoDB's limits, and the latencies of its requests.
#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    /// Write units one partition key takes per second.
    pub partition_wcu: f64,
    /// How long a transaction holds its items: its commit's duration.
    pub transaction_hold: Duration,
    /// A lone read's or write's latency.
    pub request_latency: Duration,
    /// Partition-key prefixes whose writes go to ever-later sort keys
    /// (events, by time; hourly buckets, by hour), which DynamoDB does not
    /// split for heat: their write units are counted per partition key.
    /// Every other partition key's items are split apart as they grow hot
    /// (adaptive capacity isolates frequently written items), and the
    /// model counts their units per item: its steady state, after the
    /// minutes a split takes.
    pub rising_partitions: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            partition_wcu: 1_000.0,
            transaction_hold: Duration::from_millis(30),
            request_latency: Duration::from_millis(5),
            rising_partitions: vec!["EV#".into(), "BKT#".into()],
        }
    }
}

impl Limits {
    /// The partition whose write units a write of `key` takes.
    fn partition_of(&self, key: &Key) -> String {
        if self.rising_partitions.iter().any(|prefix| key.pk.starts_with(prefix.as_str())) {
            key.pk.clone()
        } else {
            format!("{}\u{0}{}", key.pk, key.sk)
        }
    }
}

/// What the simulated table was asked and answered.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Tally {
    pub requests: u64,
    pub transactions: u64,
    pub conflicts: u64,
    pub throttles: u64,
    pub write_units: u64,
    pub read_units: u64,
}

impl Tally {
    /// What was asked and answered after `earlier`.
    fn since(&self, earlier: &Tally) -> Tally {
        Tally {
            requests: self.requests - earlier.requests,
            transactions: self.transactions - earlier.transactions,
            conflicts: self.conflicts - earlier.conflicts,
            throttles: self.throttles - earlier.throttles,
            write_units: self.write_units - earlier.write_units,
            read_units: self.read_units - earlier.read_units,
        }
    }
}

#[derive(Default)]
struct State {
    items: BTreeMap<Key, Item>,
    /// Items written by transactions in flight.
    held: HashSet<Key>,
    /// Per partition key: units left, and when they were counted.
    buckets: HashMap<String, (f64, Instant)>,
    tally: Tally,
    /// Write units by kind of item ([`item_kind`]).
    units_by_kind: BTreeMap<String, u64>,
    /// The jitter generator (an LCG), so that runs repeat exactly.
    seed: u64,
}

impl State {
    fn jitter(&mut self, max: u64) -> u64 {
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.seed >> 33) % (max + 1)
    }

    /// Takes `units` from the bucket of each partition in `costs`, if
    /// every one can pay now; whether they could.
    fn pay(&mut self, costs: &HashMap<String, f64>, rate: f64, now: Instant) -> bool {
        let refilled = |(left, at): (f64, Instant)| (left + (now - at).as_secs_f64() * rate).min(rate);
        let able = costs
            .iter()
            .all(|(partition, units)| self.buckets.get(partition).copied().map_or(rate, refilled) >= *units);
        if able {
            for (partition, units) in costs {
                let left = self.buckets.get(partition).copied().map_or(rate, refilled);
                self.buckets.insert(partition.clone(), (left - units, now));
            }
        }
        able
    }
}

/// The simulated table: the store port's semantics (the contract suite
/// checks them) with [`Limits`] in virtual time.
pub struct ModelStore {
    state: Mutex<State>,
    limits: Limits,
    layout: Layout,
}

fn size_of(key: &Key, item: Option<&Item>) -> usize {
    key.pk.len()
        + key.sk.len()
        + item.map_or(0, |item| serde_json::to_string(item).map_or(0, |text| text.len()))
}

/// The kind of item a key names, for the write-unit breakdown: its
/// partition key's prefix (`EID`, `EV`, `CNT`, ...).
fn item_kind(key: &Key) -> &str {
    key.pk.split('#').next().unwrap_or_default()
}

fn started(bytes: usize, unit: usize) -> u64 {
    bytes.div_ceil(unit).max(1) as u64
}

impl ModelStore {
    pub fn new(limits: Limits, layout: Layout) -> Self {
        Self { state: Mutex::new(State { seed: 0x5eed, ..State::default() }), limits, layout }
    }

    pub fn tally(&self) -> Tally {
        self.state.lock().expect("model state").tally
    }

    /// Write units so far, by kind of item.
    pub fn units_by_kind(&self) -> BTreeMap<String, u64> {
        self.state.lock().expect("model state").units_by_kind.clone()
    }

    fn read(&self, keys: &[Key]) -> Vec<Option<Item>> {
        let mut state = self.state.lock().expect("model state");
        let found: Vec<Option<Item>> = keys.iter().map(|key| state.items.get(key).cloned()).collect();
        for (key, item) in keys.iter().zip(&found) {
            state.tally.read_units += started(size_of(key, item.as_ref()), 4096);
        }
        found
    }

    /// One attempt at `writes`: refused for now (held items, an empty
    /// bucket), failed (a condition), or applied.
    async fn attempt(&self, writes: &[WriteOp]) -> Attempt<()> {
        let transaction = writes.len() > 1;
        let latency = self.limits.request_latency;
        let verdict = {
            let mut state = self.state.lock().expect("model state");
            state.tally.requests += 1;
            state.tally.transactions += u64::from(transaction);
            if writes.iter().any(|write| state.held.contains(write.key())) {
                state.tally.conflicts += 1;
                Some(Attempt::Again(StoreError::Conflict))
            } else if let Some(index) =
                writes.iter().position(|write| !write.condition().holds(state.items.get(write.key())))
            {
                Some(Attempt::Done(Err(StoreError::ConditionFailed { index })))
            } else {
                let mut costs: HashMap<String, f64> = HashMap::new();
                let mut units = 0;
                let mut kinds = Vec::new();
                for write in writes.iter().filter(|write| !matches!(write, WriteOp::Check { .. })) {
                    let after = write.apply(state.items.get(write.key()).cloned());
                    let cost =
                        started(size_of(write.key(), after.as_ref()), 1024) * if transaction { 2 } else { 1 };
                    *costs.entry(self.limits.partition_of(write.key())).or_default() += cost as f64;
                    units += cost;
                    kinds.push((item_kind(write.key()).to_owned(), cost));
                }
                if !state.pay(&costs, self.limits.partition_wcu, Instant::now()) {
                    state.tally.throttles += 1;
                    Some(Attempt::Again(StoreError::Unavailable("throttled".into())))
                } else {
                    state.tally.write_units += units;
                    for (kind, cost) in kinds {
                        *state.units_by_kind.entry(kind).or_default() += cost;
                    }
                    if transaction {
                        state.held.extend(writes.iter().map(|write| write.key().clone()));
                    } else {
                        apply(&mut state.items, writes);
                    }
                    None
                }
            }
        };
        if let Some(refused) = verdict {
            tokio::time::sleep(latency).await;
            return refused;
        }
        if !transaction {
            tokio::time::sleep(latency).await;
            return Attempt::Done(Ok(()));
        }
        // The commit: the items stay held until it is done, then change.
        tokio::time::sleep(self.limits.transaction_hold).await;
        let mut state = self.state.lock().expect("model state");
        apply(&mut state.items, writes);
        for write in writes {
            state.held.remove(write.key());
        }
        Attempt::Done(Ok(()))
    }
}

fn apply(items: &mut BTreeMap<Key, Item>, writes: &[WriteOp]) {
    for write in writes {
        match write.apply(items.get(write.key()).cloned()) {
            Some(item) => items.insert(write.key().clone(), item),
            None => items.remove(write.key()),
        };
    }
}

#[async_trait]
impl Store for ModelStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        tokio::time::sleep(self.limits.request_latency).await;
        self.state.lock().expect("model state").tally.requests += 1;
        Ok(self.read(std::slice::from_ref(key)).remove(0))
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        tokio::time::sleep(self.limits.request_latency).await;
        self.state.lock().expect("model state").tally.requests += keys.len().div_ceil(100) as u64;
        Ok(self.read(keys))
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        tokio::time::sleep(self.limits.request_latency).await;
        let mut state = self.state.lock().expect("model state");
        state.tally.requests += 1;
        let low = Key::new(query.pk.clone(), String::new());
        let mut items: Vec<(Key, Item)> = state
            .items
            .range(low..)
            .take_while(|(key, _)| key.pk == query.pk)
            .filter(|(key, _)| match &query.range {
                SortRange::All => true,
                SortRange::Prefix(prefix) => key.sk.starts_with(prefix.as_str()),
                SortRange::Between(low, high) => (low.as_str()..=high.as_str()).contains(&key.sk.as_str()),
            })
            .map(|(key, item)| (key.clone(), item.clone()))
            .collect();
        if query.descending {
            items.reverse();
        }
        if let Some(after) = &query.start_after {
            items.retain(|(key, _)| if query.descending { key.sk < *after } else { key.sk > *after });
        }
        let mut last_sk = None;
        if let Some(limit) = query.limit
            && items.len() > limit
        {
            items.truncate(limit);
            last_sk = items.last().map(|(key, _)| key.sk.clone());
        }
        let bytes: usize = items.iter().map(|(key, item)| size_of(key, Some(item))).sum();
        state.tally.read_units += started(bytes, 4096);
        Ok(Page { items, last_sk })
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_transaction(&writes, self.max_transaction_writes())?;
        retrying(|| self.attempt(&writes), |max| self.state.lock().expect("model state").jitter(max)).await
    }

    fn max_transaction_writes(&self) -> usize {
        100
    }

    async fn transact_attempt(&self, writes: Vec<WriteOp>) -> Attempt<()> {
        if let Err(invalid) = validate_transaction(&writes, self.max_transaction_writes()) {
            return Attempt::Done(Err(invalid));
        }
        self.attempt(&writes).await
    }

    fn layout(&self) -> Layout {
        self.layout
    }
}

/// Messages per batch-writer call: the `BatchSize` default of
/// `infra/template.yaml` (its test checks they agree), which a busy queue
/// fills within the batching window.
pub const TEMPLATE_BATCH_SIZE: usize = 1_000;

/// How events reach the batch writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Traffic {
    /// Single-event requests: a call of [`TEMPLATE_BATCH_SIZE`] messages,
    /// one event each.
    Single,
    /// Batched requests: calls of 1,000 events (10 requests of 100; a
    /// call may carry up to Lambda's 6 MB payload, which would pack more
    /// events into each transaction's counter writes).
    Batched,
}

impl Traffic {
    pub fn events_per_call(self) -> usize {
        match self {
            Traffic::Single => TEMPLATE_BATCH_SIZE,
            Traffic::Batched => 1_000,
        }
    }
}

/// One run: `writers` concurrent batch writers for `seconds` of virtual
/// time; one hot tenant sends 90 % of the events, nine others the rest.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub writers: usize,
    pub traffic: Traffic,
    pub seconds: u64,
    /// Whether every user of every tenant was seen before the run (steady
    /// state: returning users, whose memberships and sketches the run
    /// finds) or none was (a cold start: each event's user is new).
    pub returning_users: bool,
    pub limits: Limits,
    /// How hot items are split (`Layout::default()`: as before shards).
    pub layout: Layout,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub scenario: Scenario,
    /// Events of the hot tenant stored per virtual second.
    pub hot_events_per_second: f64,
    pub events_per_second: f64,
    pub conflicts_per_1000_events: f64,
    pub throttles_per_1000_events: f64,
    pub write_units_per_1000_events: f64,
    /// The same, by kind of item (the partition key's prefix: `EID` id
    /// markers, `EV` events, `CNT` counters, ...).
    pub write_units_per_1000_events_by_kind: BTreeMap<String, f64>,
    /// Batch-writer calls that failed and were delivered again.
    pub redeliveries: u64,
    /// The all-time summary of the hot tenant: requests and read units.
    pub summary_requests: u64,
    pub summary_read_units: u64,
    /// Whether the counters hold exactly the events stored, per tenant.
    pub exact: bool,
    pub tally: Tally,
}

/// Users per tenant.
const USERS: u64 = 40_000;

/// Stores an event of every user of every tenant, with one writer, before
/// a run of returning users; how many.
async fn warm_up(store: &ModelStore) -> u64 {
    let base: chrono::DateTime<chrono::Utc> = "2026-12-01T10:00:00Z".parse().expect("a time");
    let tenants = std::iter::once("hot".to_owned()).chain((0..9).map(|cold| format!("cold-{cold}")));
    let events: Vec<Event> = tenants
        .flat_map(|tenant| {
            (0..USERS).map(move |user| Event {
                id: format!("warm-{tenant}-{user}"),
                tenant_id: tenant.clone(),
                user_id: format!("u{user}"),
                // The users who convert in the run have converted before.
                event_type: if user % 10 == 0 { EventType::Conversion } else { EventType::PageView },
                experiment_id: Some("exp".into()),
                variant: Some(["A", "B", "C"][(user % 3) as usize].into()),
                properties: Default::default(),
                timestamp: base,
            })
        })
        .collect();
    let memory = aws_writer_memory(usize::MAX);
    let mut stored = 0;
    for batch in events.chunks(1_000) {
        stored +=
            shared::repo::events::store_events(store, &memory, batch.to_vec()).await.expect("warm-up").stored;
    }
    stored as u64
}

/// Hands out the events of a run, in order: deterministic.
struct Generator {
    next: u64,
}

impl Generator {
    fn take(&mut self, count: usize) -> Vec<Event> {
        let base: chrono::DateTime<chrono::Utc> = "2026-12-01T10:00:00Z".parse().expect("a time");
        (0..count)
            .map(|_| {
                let n = self.next;
                self.next += 1;
                let tenant = if n % 10 == 9 { format!("cold-{}", (n / 10) % 9) } else { "hot".to_owned() };
                Event {
                    id: format!("e{n}"),
                    tenant_id: tenant,
                    user_id: format!("u{}", n % USERS),
                    event_type: if n.is_multiple_of(10) {
                        EventType::Conversion
                    } else {
                        EventType::PageView
                    },
                    experiment_id: Some("exp".into()),
                    // A user keeps to one arm, as assignment has it.
                    variant: Some(["A", "B", "C"][(n % USERS % 3) as usize].into()),
                    properties: Default::default(),
                    timestamp: base + chrono::TimeDelta::milliseconds((n % 3_600_000) as i64),
                }
            })
            .collect()
    }
}

/// What the AWS deployment's batch writer remembers: nothing it would have
/// to trust across writers (`shared::aws` disables the same caches).
fn aws_writer_memory(writer: usize) -> WriterMemory {
    WriterMemory {
        home_shard: shared::repo::hot_shards::HomeShard::seeded(writer as u64),
        sketches: shared::repo::user_sketches::SketchCache::seeded(writer as u64),
        members: shared::repo::known_members::KnownMembers::disabled(),
        attributions: shared::repo::attribution::KnownAttributions::disabled(),
        day_values: shared::repo::day_values::KnownDayValues::disabled(),
        ..WriterMemory::default()
    }
}

/// Runs `scenario` on a fresh model. Call it on a current-thread runtime
/// with a paused clock (`run` builds one).
pub async fn simulate(scenario: Scenario) -> Outcome {
    let store = Arc::new(ModelStore::new(scenario.limits.clone(), scenario.layout));
    let generator = Arc::new(Mutex::new(Generator { next: 0 }));
    let warmed = if scenario.returning_users { warm_up(store.as_ref()).await } else { 0 };
    let before_run = store.tally();
    let units_before_run = store.units_by_kind();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(scenario.seconds);
    let mut writers = Vec::new();
    for writer in 0..scenario.writers {
        let (store, generator) = (store.clone(), generator.clone());
        let per_call = scenario.traffic.events_per_call();
        writers.push(tokio::spawn(async move {
            let memory = aws_writer_memory(writer);
            let (mut stored, mut redeliveries) = (0u64, 0u64);
            while Instant::now() < deadline {
                let events = generator.lock().expect("generator").take(per_call);
                // What this call stores, however often it is delivered; a
                // call cut off by the end of the run has stored what its
                // committed transactions hold.
                let mut report = WriteReport::default();
                loop {
                    let call = store_events_into(store.as_ref(), &memory, events.clone(), &mut report);
                    match tokio::time::timeout_at(deadline, call).await {
                        Ok(Ok(())) | Err(_) => break,
                        // A failed call's messages come back (after the
                        // visibility timeout, not modelled: a second).
                        Ok(Err(_)) => {
                            redeliveries += 1;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
                stored += report.stored as u64;
            }
            (stored, redeliveries)
        }));
    }
    let (mut total, mut redeliveries) = (0u64, 0);
    for writer in writers {
        let (stored, failed) = writer.await.expect("a writer");
        total += stored;
        redeliveries += failed;
    }
    let elapsed = scenario.seconds as f64;
    let tally = store.tally().since(&before_run);
    let units_by_kind: BTreeMap<String, u64> = store
        .units_by_kind()
        .into_iter()
        .map(|(kind, units)| {
            let before = units_before_run.get(&kind).copied().unwrap_or_default();
            (kind, units - before)
        })
        .filter(|(_, units)| *units > 0)
        .collect();
    let before = store.tally();
    let hot = shared::repo::counters::summary(store.as_ref(), "hot", None).await.expect("the hot summary");
    let after = store.tally();
    // Exactly once: the counters of every tenant hold what the calls stored.
    let mut counted = hot.total_events;
    for cold in 0..9 {
        let tenant = format!("cold-{cold}");
        counted += shared::repo::counters::summary(store.as_ref(), &tenant, None)
            .await
            .expect("a summary")
            .total_events;
    }
    let exact = counted == warmed + total;
    let per_1000 = |n: u64| if total == 0 { 0.0 } else { 1000.0 * n as f64 / total as f64 };
    let hot_warmed = if scenario.returning_users { USERS } else { 0 };
    Outcome {
        hot_events_per_second: (hot.total_events - hot_warmed) as f64 / elapsed,
        events_per_second: total as f64 / elapsed,
        conflicts_per_1000_events: per_1000(tally.conflicts),
        throttles_per_1000_events: per_1000(tally.throttles),
        write_units_per_1000_events: per_1000(tally.write_units),
        write_units_per_1000_events_by_kind: units_by_kind
            .into_iter()
            .map(|(kind, units)| (kind, per_1000(units)))
            .collect(),
        redeliveries,
        summary_requests: after.requests - before.requests,
        summary_read_units: after.read_units - before.read_units,
        exact,
        tally,
        scenario,
    }
}

/// [`simulate`] on a runtime of its own: one thread, the clock paused (it
/// jumps to the next timer whenever every task waits), so a run repeats
/// exactly and takes the CPU time of its code, not its virtual seconds.
pub fn run(scenario: Scenario) -> Outcome {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
        .block_on(simulate(scenario))
}
