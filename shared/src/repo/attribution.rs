//! First-touch attribution in the store (`domain::attribution`): one item
//! per user holding what the campaign rollups depend on, and one item per
//! campaign row and UTC day holding what its users add.
//!
//! The batch writer reads the items of the users a batch may change
//! ([`read_changing`]), and `repo::counting::plan` puts each changed one
//! back — on condition that its version is still the one read — in the
//! transaction that stores the events changing it, with the rows' `ADD`s:
//! exactly once, like every other count.
//!
//! Most events change nothing (a returning user, on a day already counted,
//! later than their first touch): [`KnownAttributions`] remembers, per
//! user, one day their item holds and the time of its first touch, so
//! such events read nothing on the embedded store. Both only ever stay
//! true (days are never removed, a first touch only moves earlier).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use foldhash::{HashMap, HashMapExt};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::day_values::{self, DayValues, KnownDayValues};
use super::known_members::{Digest96, digest_of};
use super::settings::{self, TenantSettings};
use super::two_generations::TwoGenerations;
use crate::domain::attribution::{
    Activity, Cell, Day, DayConversions, FirstTouch, Measure, Row, RowDay, Segment, SegmentKind,
    UserAttribution, revenue_of,
};
use crate::domain::campaign::{Channel, touch_of};
use crate::domain::dimensions;
use crate::domain::event::Event;
use crate::domain::metric::{ExperimentMetrics, Tally};
use crate::store::keys;
use crate::store::{Condition, Item, Key, Query, Store, StoreError, WriteOp, query_all};
use crate::ttl_cache::TtlCache;

/// The item's version: every put adds one, on condition it still holds.
pub const VERSION: &str = "v";
const TOUCH_AT: &str = "ta";
const TOUCH_ROW: &str = "tr";
const DAYS: &str = "d";
const CONVERSIONS: &str = "c";
/// The user's experiment arms: `[[experimentId, variant, days, conversions]]`.
const ARMS: &str = "x";
/// The user's custom dimension values: `[[key, value, days, conversions]]`.
const PROPERTIES: &str = "p";
/// Where each kind of segment is kept on the user's item.
const SEGMENT_ATTRIBUTES: [(SegmentKind, &str); 2] =
    [(SegmentKind::Variant, ARMS), (SegmentKind::Property, PROPERTIES)];
/// The last stored field of a custom dimension value's cell (after the
/// row's, the key and the value), telling it from an arm's.
const PROPERTY_CELL: &str = "p";
/// A row item's fields, set with every `ADD` (readers need no digest).
pub const ROW: &str = "row";
/// The row writes of a change too large for one transaction, still to do
/// ([`Journal`]).
const JOURNAL: &str = "j";
/// How many journal steps one call to [`finish_journal`] takes at most
/// before it gives up (each step is a transaction of up to 99 row writes).
const MAX_JOURNAL_STEPS: usize = 1_000;

/// The fields of a row as stored: `[channel, source, medium, campaign,
/// term, content]`, absent fields `null`.
pub fn row_labels(row: &Row) -> Value {
    json!([row.channel.as_str(), row.source, row.medium, row.campaign, row.term, row.content])
}

pub fn row_of_labels(labels: &Value) -> Option<Row> {
    let fields = labels.as_array()?;
    let text = |i: usize| fields.get(i).and_then(Value::as_str).map(str::to_owned);
    let channel: Channel = serde_json::from_value(fields.first()?.clone()).ok()?;
    Some(Row {
        channel,
        source: text(1)?,
        medium: text(2)?,
        campaign: text(3),
        term: text(4),
        content: text(5),
    })
}

/// A cell's stored fields: its row's ([`row_labels`]), then, for an arm's
/// cell, the experiment id and variant; for a custom dimension value's,
/// the key, the value and [`PROPERTY_CELL`].
pub fn cell_labels(cell: &Cell) -> Value {
    let mut labels = row_labels(&cell.row);
    if let (Some(segment), Some(fields)) = (&cell.segment, labels.as_array_mut()) {
        fields.extend([Value::from(segment.scope.as_str()), Value::from(segment.value.as_str())]);
        if segment.kind == SegmentKind::Property {
            fields.push(Value::from(PROPERTY_CELL));
        }
    }
    labels
}

/// A cell's segment kind, from its stored fields (`None`: a row's own).
fn segment_kind_of_labels(labels: &Value) -> Option<SegmentKind> {
    labels.get(6)?;
    Some(match labels.get(8).and_then(Value::as_str) {
        Some(PROPERTY_CELL) => SegmentKind::Property,
        _ => SegmentKind::Variant,
    })
}

pub fn cell_of_labels(labels: &Value) -> Option<Cell> {
    let row = row_of_labels(labels)?;
    let fields = labels.as_array()?;
    let segment = match (
        segment_kind_of_labels(labels),
        fields.get(6).and_then(Value::as_str),
        fields.get(7).and_then(Value::as_str),
    ) {
        (Some(kind), Some(scope), Some(value)) => {
            Some(Segment { kind, scope: scope.to_owned(), value: value.to_owned() })
        }
        _ => None,
    };
    Some(Cell { row, segment })
}

/// A row's sort key: 128 bits of the SHA-256 of its stored fields.
pub fn row_id(row: &Row) -> String {
    row_id_of_labels(&row_labels(row))
}

fn row_id_of_labels(labels: &Value) -> String {
    hex::encode(&Sha256::digest(labels.to_string().as_bytes())[..16])
}

/// The item of the cell with stored fields `labels` on `day`: a row's in
/// the tenant's day partition, an arm's in its experiment's, a dimension
/// value's in its dimension's.
pub fn cell_key(tenant_id: &str, day: Day, labels: &Value) -> Key {
    cell_key_with_id(tenant_id, day, labels, &cell_id(labels))
}

/// [`cell_key`], with the cell's digest ([`cell_id`]) computed already.
pub fn cell_key_with_id(tenant_id: &str, day: Day, labels: &Value, id: &str) -> Key {
    let date = keys::day_numbered(day);
    match (segment_kind_of_labels(labels), labels.get(6).and_then(Value::as_str)) {
        (Some(kind), Some(scope)) => Key::new(segment_partition(tenant_id, kind, scope, &date), id),
        _ => keys::campaign_row(tenant_id, &date, id),
    }
}

/// The day partition of one experiment's (or dimension's) cells.
fn segment_partition(tenant_id: &str, kind: SegmentKind, scope: &str, date: &str) -> String {
    match kind {
        SegmentKind::Variant => keys::campaign_arm_day_partition(tenant_id, scope, date),
        SegmentKind::Property => keys::campaign_property_day_partition(tenant_id, scope, date),
    }
}

/// A cell's sort key: 128 bits of the SHA-256 of its stored fields (for a
/// row's own cell, [`row_id`]).
pub fn cell_id(labels: &Value) -> String {
    row_id_of_labels(labels)
}

/// Row writes a user's change still owes, kept on the user's item: a
/// change whose row writes do not fit one transaction (a first touch that
/// moves a user active on many days: two row items per day) commits its
/// first part with the events and the item, which then holds the rest;
/// each later step puts the item back, on condition of its version, with
/// the next part. Readers of the item finish it first, so nothing is ever
/// planned over an unfinished change, and a step that commits twice is
/// impossible (the version moved).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journal {
    pub tenant_id: String,
    pub writes: Vec<OwedRowWrite>,
}

/// A row write a [`Journal`] owes: the cell's stored fields
/// ([`cell_labels`]), the day, and what to add to the cell's item that day.
pub type OwedRowWrite = (Value, Day, Vec<(String, i64)>);

impl Journal {
    fn to_value(&self) -> Value {
        // Rows once each (a move has two), writes by row index.
        let mut rows: Vec<&Value> = Vec::new();
        let writes: Vec<Value> = self
            .writes
            .iter()
            .map(|(labels, day, add)| {
                let index = rows.iter().position(|row| *row == labels).unwrap_or_else(|| {
                    rows.push(labels);
                    rows.len() - 1
                });
                json!([index, day, add])
            })
            .collect();
        json!({"t": self.tenant_id, "r": rows, "w": writes})
    }

    fn of_value(value: &Value) -> Option<Journal> {
        let rows = value.get("r")?.as_array()?;
        let writes = value
            .get("w")?
            .as_array()?
            .iter()
            .map(|write| {
                let write = write.as_array()?;
                let labels = rows.get(usize::try_from(write.first()?.as_u64()?).ok()?)?.clone();
                let day = write.get(1)?.as_i64()?;
                let add = write
                    .get(2)?
                    .as_array()?
                    .iter()
                    .map(|pair| Some((pair.get(0)?.as_str()?.to_owned(), pair.get(1)?.as_i64()?)))
                    .collect::<Option<Vec<_>>>()?;
                Some((labels, day, add))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Journal { tenant_id: value.get("t")?.as_str()?.to_owned(), writes })
    }

    /// The `ADD`s of writes `range` to their row items.
    pub fn row_writes(&self, range: std::ops::Range<usize>) -> Vec<WriteOp> {
        self.writes[range]
            .iter()
            .map(|(labels, day, add)| WriteOp::Update {
                key: cell_key(&self.tenant_id, *day, labels),
                add: add.clone(),
                set: Item::from_iter([(ROW.to_owned(), labels.clone())]),
                condition: Condition::Always,
            })
            .collect()
    }
}

/// A user's item, at `version`.
pub fn user_item(state: &UserAttribution, version: i64) -> Item {
    user_item_owing(state, version, None)
}

/// A user's item, at `version`, owing the writes of `journal` (if any).
pub fn user_item_owing(state: &UserAttribution, version: i64, journal: Option<&Journal>) -> Item {
    let mut item = Item::new();
    if let Some(journal) = journal.filter(|journal| !journal.writes.is_empty()) {
        item.insert(JOURNAL.into(), journal.to_value());
    }
    item.insert(VERSION.into(), version.into());
    if let Some(first) = &state.first_touch {
        item.insert(TOUCH_AT.into(), keys::sort_time(&first.at).into());
        item.insert(TOUCH_ROW.into(), row_labels(&first.row));
    }
    item.insert(DAYS.into(), state.active_days.iter().copied().collect::<Vec<_>>().into());
    item.insert(CONVERSIONS.into(), conversions_value(&state.conversions));
    for (kind, attribute) in SEGMENT_ATTRIBUTES {
        let segments: Vec<Value> = state
            .segments
            .iter()
            .filter(|(segment, _)| segment.kind == kind)
            .map(|(segment, activity)| {
                let days: Vec<Day> = activity.active_days.iter().copied().collect();
                let mut entry =
                    json!([segment.scope, segment.value, days, conversions_value(&activity.conversions)]);
                if !activity.tallies.is_empty()
                    && let Some(entry) = entry.as_array_mut()
                {
                    let tallies: Map<String, Value> = activity
                        .tallies
                        .iter()
                        .map(|(digest, tally)| (digest.clone(), json!([tally.events, tally.value])))
                        .collect();
                    entry.push(Value::Object(tallies));
                }
                entry
            })
            .collect();
        if !segments.is_empty() {
            item.insert(attribute.into(), segments.into());
        }
    }
    item
}

fn conversions_value(conversions: &std::collections::BTreeMap<Day, DayConversions>) -> Value {
    conversions.iter().map(|(day, c)| json!([day, c.count, c.revenue])).collect::<Vec<_>>().into()
}

fn conversions_of_value(value: &Value) -> Option<std::collections::BTreeMap<Day, DayConversions>> {
    value
        .as_array()?
        .iter()
        .map(|entry| {
            let entry = entry.as_array()?;
            let number = |i: usize| entry.get(i).and_then(Value::as_i64);
            Some((number(0)?, DayConversions { count: number(1)?, revenue: number(2)? }))
        })
        .collect()
}

fn tallies_of_value(value: &Value) -> Option<std::collections::BTreeMap<String, Tally>> {
    value
        .as_object()?
        .iter()
        .map(|(digest, pair)| {
            let number = |i: usize| pair.get(i).and_then(Value::as_i64);
            Some((digest.clone(), Tally { events: number(0)?, value: number(1)? }))
        })
        .collect()
}

fn days_of_value(value: &Value) -> Option<std::collections::BTreeSet<Day>> {
    value.as_array()?.iter().map(Value::as_i64).collect()
}

/// A stored user item's version and state (`None`: not one this code wrote).
pub fn user_of_item(item: &Item) -> Option<(i64, UserAttribution)> {
    let version = item.get(VERSION)?.as_i64()?;
    let first_touch = match (item.get(TOUCH_AT), item.get(TOUCH_ROW)) {
        (Some(at), Some(row)) => {
            Some(FirstTouch { at: at.as_str()?.parse().ok()?, row: row_of_labels(row)? })
        }
        (None, None) => None,
        _ => return None,
    };
    let active_days = days_of_value(item.get(DAYS)?)?;
    let conversions = conversions_of_value(item.get(CONVERSIONS)?)?;
    let mut segments = std::collections::BTreeMap::new();
    for (kind, attribute) in SEGMENT_ATTRIBUTES {
        let entries = match item.get(attribute) {
            None => &[][..],
            Some(entries) => entries.as_array()?.as_slice(),
        };
        for entry in entries {
            let text = |i: usize| entry.get(i).and_then(Value::as_str).map(str::to_owned);
            let segment = Segment { kind, scope: text(0)?, value: text(1)? };
            let activity = Activity {
                active_days: days_of_value(entry.get(2)?)?,
                conversions: conversions_of_value(entry.get(3)?)?,
                tallies: match entry.get(4) {
                    None => Default::default(),
                    Some(tallies) => tallies_of_value(tallies)?,
                },
            };
            segments.insert(segment, activity);
        }
    }
    Some((version, UserAttribution { first_touch, active_days, conversions, segments }))
}

fn has_journal(item: &Item) -> bool {
    item.contains_key(JOURNAL)
}

/// Does the writes the user item at `key` still owes ([`Journal`]), step
/// by step, each on condition of the version it read (another writer may
/// be finishing it too: a step that lost the race is read again). Returns
/// the item as it then is (`None`: there is none).
pub async fn finish_journal(store: &dyn Store, key: &Key) -> Result<Option<Item>, StoreError> {
    let per_step = store.max_transaction_writes().saturating_sub(1).max(1);
    for _ in 0..MAX_JOURNAL_STEPS {
        let Some(item) = store.read_before_write(std::slice::from_ref(key)).await?.pop().flatten() else {
            return Ok(None);
        };
        if !has_journal(&item) {
            return Ok(Some(item));
        }
        let (Some(journal), Some((version, state))) =
            (item.get(JOURNAL).and_then(Journal::of_value), user_of_item(&item))
        else {
            tracing::warn!(pk = %key.pk, "unreadable attribution journal; its writes are left undone");
            return Ok(Some(item));
        };
        let now = per_step.min(journal.writes.len());
        let rest = Journal { tenant_id: journal.tenant_id.clone(), writes: journal.writes[now..].to_vec() };
        let mut writes = journal.row_writes(0..now);
        writes.push(WriteOp::Put {
            key: key.clone(),
            item: user_item_owing(&state, version + 1, Some(&rest)),
            condition: Condition::equals(VERSION, version),
        });
        match store.transact(writes).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. } | StoreError::Conflict) => {}
            Err(err) => return Err(err),
        }
    }
    Err(StoreError::Conflict)
}

/// The first touch an event makes (`None`: it has no campaign fields).
pub fn touch_row(event: &Event, ignored_referrers: &[String]) -> Option<Row> {
    let touch = touch_of(&event.properties, ignored_referrers);
    (!touch.is_direct()).then(|| Row::of(&touch))
}

/// What adding `event` to a user's state adds: its revenue if it is a
/// conversion.
pub fn conversion_of(event: &Event) -> Option<i64> {
    event.is_conversion().then(|| revenue_of(&event.properties))
}

/// The experiment arm an event is tagged with (both fields, or none).
pub fn arm_of(event: &Event) -> Option<(&str, &str)> {
    Some((event.experiment_id.as_deref()?, event.variant.as_deref()?))
}

/// Adds `event` to its user's `state` (touches derived with the tenant's
/// ignored referrers, dimension values of the tenant's dimensions, each
/// counted as `day_values` says, the tallies of its experiment's
/// `metrics`); whether anything changed.
pub fn add_event(
    state: &mut UserAttribution,
    event: &Event,
    settings: &TenantSettings,
    day_values: &DayValues,
    metrics: Option<&ExperimentMetrics>,
) -> bool {
    let conversion = conversion_of(event);
    let day = settings.day_of(&event.timestamp);
    let mut changed =
        state.add(event.timestamp, day, conversion, || touch_row(event, &settings.ignored_referrers));
    if let Some(arm) = arm_of(event) {
        changed |= state.add_to_segment(day, SegmentKind::Variant, arm, conversion);
        if let Some(metrics) = metrics {
            changed |= state.add_tallies(arm, metrics.tallies_of(event));
        }
    }
    for key in &settings.dimensions {
        let value = dimensions::value_of(&event.properties, key);
        let value = day_values.counted_as(&event.tenant_id, key, day, &value);
        changed |= state.add_to_segment(day, SegmentKind::Property, (key, value), conversion);
    }
    changed
}

/// A 64-bit hash of a segment, never 0, for [`Known`] (kept in memory only).
fn segment_hash(kind: SegmentKind, scope: &str, value: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one((kind, scope, value)).max(1)
}

/// A user a batch changes: their item as read, and the tenant's settings
/// (ignored referrers for the touches of their events, dimensions).
pub struct UserSlot {
    pub key: Key,
    /// The digest [`KnownAttributions`] knows the user by ([`user_digest`]).
    pub digest: Digest96,
    /// `None`: no item yet.
    pub version: Option<i64>,
    pub state: UserAttribution,
    pub settings: Arc<TenantSettings>,
}

/// The users a batch changes, and which of them each event is of.
#[derive(Default)]
pub struct Slots {
    pub users: Vec<UserSlot>,
    /// The metrics of each experiment the batch's events are tagged with
    /// that defines any: (tenant, experiment, metrics). A batch names a
    /// handful of experiments, so a scan finds one without building a key.
    pub metrics: Vec<(String, String, Arc<ExperimentMetrics>)>,
    /// Which of the batch's dimension values count as `(other)`.
    pub day_values: DayValues,
    /// By the index of the event in the batch.
    pub of_event: Vec<Option<usize>>,
}

/// A user's 96-bit digest: SHA-256 over tenant and user id (as
/// `KnownMembers` digests keys, and for the same reasons), computed from
/// the ids without building the item's key, as it is for every event.
pub fn user_digest(tenant_id: &str, user_id: &str) -> Digest96 {
    // Tenant ids never contain NUL.
    digest_of(tenant_id.as_bytes(), user_id.as_bytes())
}

/// One user's entry: the digest's low 32 bits (the high 64 are the key),
/// then [`Known`]'s day, first touch time and segment hashes.
type Remembered = (u32, i32, i64, [u64; KNOWN_SEGMENTS]);

/// What a writer process remembers of users' items: per user (by
/// [`user_digest`]), a day the item holds, its first touch's time in
/// microseconds (`i64::MAX`: none) and up to [`KNOWN_SEGMENTS`] segments
/// holding that day.
pub struct KnownAttributions {
    table: Mutex<TwoGenerations<u64, Remembered>>,
    enabled: bool,
}

const GENERATION_CAPACITY: usize = 200_000;

impl Default for KnownAttributions {
    fn default() -> Self {
        Self { table: Mutex::new(TwoGenerations::new(GENERATION_CAPACITY)), enabled: true }
    }
}

/// How many segments holding a user's known day are remembered: a user's
/// events on one day are mostly of one arm, but may be of a few (several
/// experiments, a user seen in more than one variant, a dimension or two).
/// An event of a segment not remembered reads its user's item.
pub const KNOWN_SEGMENTS: usize = 3;

/// A fact about a stored user item that stays true: it holds `day`, its
/// first touch is no later than `touch_at` (µs; `i64::MAX`: none), and the
/// segments hashed `segments` (`segment_hash`; 0: none) hold `day` too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub day: Day,
    pub touch_at: i64,
    pub segments: [u64; KNOWN_SEGMENTS],
}

impl Known {
    /// What a stored `state` says (`None`: it holds no day).
    pub fn of(state: &UserAttribution) -> Option<Known> {
        let day = *state.active_days.last()?;
        let touch_at = state.first_touch.as_ref().map_or(i64::MAX, |first| first.at.timestamp_micros());
        let mut segments = [0; KNOWN_SEGMENTS];
        let holding = state.segments.iter().filter(|(_, activity)| activity.active_days.contains(&day));
        for (slot, (segment, _)) in segments.iter_mut().zip(holding) {
            *slot = segment_hash(segment.kind, &segment.scope, &segment.value);
        }
        Some(Known { day, touch_at, segments })
    }
}

impl KnownAttributions {
    /// Remembers nothing: every user item is read each time (DynamoDB's
    /// emulators let reads see uncommitted writes: `aws.rs`).
    pub fn disabled() -> Self {
        Self { enabled: false, ..Self::default() }
    }

    /// What is known of each user, in `users`' order (one lock for all).
    fn get_all(&self, users: &[Digest96]) -> Vec<Option<Known>> {
        if !self.enabled {
            return vec![None; users.len()];
        }
        let mut table = self.table.lock().expect("known attributions poisoned");
        users
            .iter()
            .map(|(high, low)| {
                let &(bits, day, touch_at, segments) = table.get(high)?;
                (bits == *low).then_some(Known { day: i64::from(day), touch_at, segments })
            })
            .collect()
    }

    pub fn remember(&self, entries: impl IntoIterator<Item = (Digest96, Known)>) {
        if !self.enabled {
            return;
        }
        let mut table = self.table.lock().expect("known attributions poisoned");
        for ((high, low), known) in entries {
            let day = known.day.clamp(i32::MIN.into(), i32::MAX.into()) as i32;
            table.insert(high, (low, day, known.touch_at, known.segments));
        }
    }
}

/// How long the batch writer trusts a tenant's settings read earlier.
pub const SETTINGS_TTL: Duration = Duration::from_secs(30);

/// How the batch writer's cache of experiments' metrics names one.
pub fn experiment_key(tenant_id: &str, experiment_id: &str) -> String {
    // Tenant ids never contain NUL.
    format!("{tenant_id}\0{experiment_id}")
}

impl Slots {
    /// The metrics of the experiment `event` is tagged with, if it has any.
    pub fn metrics_of(&self, event: &Event) -> Option<&ExperimentMetrics> {
        if self.metrics.is_empty() {
            return None;
        }
        let (experiment_id, _) = arm_of(event)?;
        self.metrics
            .iter()
            .find(|(tenant, experiment, _)| *tenant == event.tenant_id && experiment == experiment_id)
            .map(|(_, _, metrics)| metrics.as_ref())
    }
}

/// The metrics of every experiment `events` are tagged with that defines
/// any, from `cache` or read (an experiment not found has none, and is
/// remembered so too: experiment ids are made by the server, so events
/// cannot name one before it exists).
async fn experiment_metrics(
    store: &dyn Store,
    cache: &TtlCache<Arc<ExperimentMetrics>>,
    events: &[Event],
) -> Result<Vec<(String, String, Arc<ExperimentMetrics>)>, StoreError> {
    let mut seen: foldhash::HashSet<(&str, &str)> = foldhash::HashSet::default();
    let mut found = Vec::new();
    for event in events {
        let Some((experiment_id, _)) = arm_of(event) else { continue };
        if !seen.insert((&event.tenant_id, experiment_id)) {
            continue;
        }
        let key = experiment_key(&event.tenant_id, experiment_id);
        let metrics = match cache.get(&key) {
            Some(metrics) => metrics,
            None => {
                let experiment = super::experiments::get(store, &event.tenant_id, experiment_id).await?;
                let metrics =
                    Arc::new(experiment.map(|e| ExperimentMetrics::of(&e.metrics)).unwrap_or_default());
                cache.put(key, metrics.clone());
                metrics
            }
        };
        if !metrics.metrics.is_empty() {
            found.push((event.tenant_id.clone(), experiment_id.to_owned(), metrics));
        }
    }
    Ok(found)
}

/// Whether `event` leaves a user's stored state as `known` says it is.
fn changes_nothing(
    event: &Event,
    known: Option<Known>,
    settings: &TenantSettings,
    metrics: Option<&ExperimentMetrics>,
) -> bool {
    let Some(known) = known else { return false };
    if metrics.is_some_and(|metrics| metrics.selects(event)) {
        return false;
    }
    let remembered =
        |kind, scope: &str, value: &str| known.segments.contains(&segment_hash(kind, scope, value));
    settings.day_of(&event.timestamp) == known.day
        && !event.is_conversion()
        && arm_of(event)
            .is_none_or(|(experiment_id, variant)| remembered(SegmentKind::Variant, experiment_id, variant))
        && settings
            .dimensions
            .iter()
            .all(|key| remembered(SegmentKind::Property, key, &dimensions::value_of(&event.properties, key)))
        && (event.timestamp.timestamp_micros() > known.touch_at
            || touch_row(event, &settings.ignored_referrers).is_none())
}

/// Reads the items of the users `events` may change, and returns those
/// they do change. Users found unchanged are remembered.
pub async fn read_changing(
    store: &dyn Store,
    known: &KnownAttributions,
    known_values: &KnownDayValues,
    settings_cache: &TtlCache<Arc<TenantSettings>>,
    metrics_cache: &TtlCache<Arc<ExperimentMetrics>>,
    events: &[Event],
) -> Result<Slots, StoreError> {
    let metrics =
        Slots { metrics: experiment_metrics(store, metrics_cache, events).await?, ..Slots::default() };
    let mut settings_of: HashMap<&str, Arc<TenantSettings>> = HashMap::new();
    for event in events {
        if !settings_of.contains_key(event.tenant_id.as_str()) {
            let tenant_settings = match settings_cache.get(&event.tenant_id) {
                Some(tenant_settings) => tenant_settings,
                None => {
                    let tenant_settings = Arc::new(settings::get(store, &event.tenant_id).await?);
                    settings_cache.put(event.tenant_id.clone(), tenant_settings.clone());
                    tenant_settings
                }
            };
            settings_of.insert(&event.tenant_id, tenant_settings);
        }
    }

    // Users, in order of first appearance (by digest, with one of their
    // events), and whether any of their events may change them.
    let mut user_of: HashMap<Digest96, usize> = HashMap::new();
    let mut digests: Vec<Digest96> = Vec::new();
    let mut first_events: Vec<&Event> = Vec::new();
    let mut of_event = Vec::with_capacity(events.len());
    for event in events {
        let digest = user_digest(&event.tenant_id, &event.user_id);
        let index = *user_of.entry(digest).or_insert_with(|| {
            digests.push(digest);
            first_events.push(event);
            digests.len() - 1
        });
        of_event.push(index);
    }
    let facts = known.get_all(&digests);
    let mut changing = vec![false; digests.len()];
    for (event, &index) in events.iter().zip(&of_event) {
        if !changing[index] {
            changing[index] = !changes_nothing(
                event,
                facts[index],
                &settings_of[event.tenant_id.as_str()],
                metrics.metrics_of(event),
            );
        }
    }
    let wanted: Vec<(usize, Key)> = (0..digests.len())
        .filter(|&index| changing[index])
        .map(|index| (index, keys::attribution(&first_events[index].tenant_id, &first_events[index].user_id)))
        .collect();
    let keys: Vec<Key> = wanted.iter().map(|(_, key)| key.clone()).collect();
    let mut found = store.read_before_write(&keys).await?;
    // Nothing is planned over a change still owing writes: finish it first.
    for (key, item) in keys.iter().zip(&mut found) {
        if item.as_ref().is_some_and(has_journal) {
            *item = finish_journal(store, key).await?;
        }
    }

    // Which users the batch changes: apply each one's events to what was
    // read (version, as read, as changed).
    type Read = (Option<i64>, UserAttribution, UserAttribution);
    let mut next: Vec<Option<(Key, Read)>> = (0..digests.len()).map(|_| None).collect();
    for ((index, key), item) in wanted.into_iter().zip(found) {
        let (version, state) = match item.as_ref().map(user_of_item) {
            None => (None, UserAttribution::default()),
            Some(Some((version, state))) => (Some(version), state),
            // Not an item this code wrote: leave it, and its rows, alone.
            Some(None) => {
                tracing::warn!(pk = %key.pk, "unreadable attribution item; its user is not attributed");
                continue;
            }
        };
        next[index] = Some((key, (version, state.clone(), state)));
    }
    // The dimension values the changed users' events bring: which of them
    // their days keep is decided (and new ones admitted) first.
    let mut brought = Vec::new();
    for (event, &index) in events.iter().zip(&of_event) {
        if next[index].is_some() {
            let settings = &settings_of[event.tenant_id.as_str()];
            let day = settings.day_of(&event.timestamp);
            for key in &settings.dimensions {
                let value = dimensions::value_of(&event.properties, key);
                brought.push((event.tenant_id.as_str(), key.as_str(), day, value));
            }
        }
    }
    let day_values = day_values::admit(store, known_values, brought).await?;
    for (event, &index) in events.iter().zip(&of_event) {
        if let Some((_, (_, _, state))) = &mut next[index] {
            add_event(
                state,
                event,
                &settings_of[event.tenant_id.as_str()],
                &day_values,
                metrics.metrics_of(event),
            );
        }
    }
    let mut slots = Slots { day_values, ..metrics };
    let mut slot_of_user = vec![None; digests.len()];
    let mut unchanged = Vec::new();
    for (index, read) in next.into_iter().enumerate() {
        let Some((key, (version, before, after))) = read else { continue };
        if before == after {
            if let Some(fact) = Known::of(&before) {
                unchanged.push((digests[index], fact));
            }
            continue;
        }
        slot_of_user[index] = Some(slots.users.len());
        slots.users.push(UserSlot {
            key,
            digest: digests[index],
            version,
            state: before,
            settings: settings_of.get(first_events[index].tenant_id.as_str()).cloned().unwrap_or_default(),
        });
    }
    known.remember(unchanged);
    slots.of_event = of_event.into_iter().map(|index| slot_of_user[index]).collect();
    Ok(slots)
}

/// Every row's rollup of each day from `first` to `last` (UTC day numbers).
pub async fn row_days(
    store: &dyn Store,
    tenant_id: &str,
    first: Day,
    last: Day,
) -> Result<Vec<(Day, Row, RowDay)>, StoreError> {
    let mut out = Vec::new();
    for day in first..=last {
        let partition = keys::campaign_day_partition(tenant_id, &keys::day_numbered(day));
        for (cell, counts) in cell_days(store, partition).await? {
            out.push((day, cell.row, counts));
        }
    }
    Ok(out)
}

/// Every row's cells of one experiment's arms (`kind` Variant, `scope` the
/// experiment id) or of one custom dimension's values (Property, the key)
/// on each day from `first` to `last`: (day, row, variant or value, rollup).
pub async fn segment_row_days(
    store: &dyn Store,
    tenant_id: &str,
    kind: SegmentKind,
    scope: &str,
    first: Day,
    last: Day,
) -> Result<Vec<(Day, Row, String, RowDay)>, StoreError> {
    let mut out = Vec::new();
    for day in first..=last {
        let partition = segment_partition(tenant_id, kind, scope, &keys::day_numbered(day));
        for (cell, counts) in cell_days(store, partition).await? {
            if let Some(segment) = cell.segment.filter(|segment| segment.kind == kind) {
                out.push((day, cell.row, segment.value, counts));
            }
        }
    }
    Ok(out)
}

/// The cells of one day partition and their rollups, each cell's shards
/// ([`keys::on_shard`]: its digest, then `#<shard>`) summed.
async fn cell_days(store: &dyn Store, partition: String) -> Result<Vec<(Cell, RowDay)>, StoreError> {
    let mut out: Vec<(Cell, RowDay)> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::default();
    for (key, item) in query_all(store, Query::partition(partition)).await? {
        let at = match position.get(keys::unsharded(&key.sk)) {
            Some(&at) => at,
            None => {
                let Some(cell) = item.get(ROW).and_then(cell_of_labels) else { continue };
                out.push((cell, RowDay::default()));
                position.insert(keys::unsharded(&key.sk).to_owned(), out.len() - 1);
                out.len() - 1
            }
        };
        for (name, value) in &item {
            if let (Some(measure), Some(n)) = (Measure::of_attribute(name), value.as_i64()) {
                out[at].1.add(measure, n);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::attribution::day_number;
    use crate::domain::campaign::Touch;
    use crate::store::testing::{Intercept, Intercepted};

    #[test]
    fn user_items_round_trip() {
        let mut state = UserAttribution::default();
        let touch = Touch {
            source: "google".into(),
            medium: "cpc".into(),
            campaign: Some("brand".into()),
            ..Touch::default()
        };
        let first: DateTime<Utc> = "2026-11-01T10:00:00.123456Z".parse().unwrap();
        state.add(first, day_number(&first), Some(19_990_000), || Some(Row::of(&touch)));
        let third: DateTime<Utc> = "2026-11-03T10:00:00Z".parse().unwrap();
        state.add(third, day_number(&third), None, || None);
        let item = user_item(&state, 7);
        assert!(!item.contains_key(ARMS));
        assert_eq!(user_of_item(&item), Some((7, state.clone())));
        state.add_tagged(day_number(&third), ("exp#1", "B"), Some(5));
        state.add_tagged(day_number(&third) + 1, ("exp#1", "A"), None);
        assert_eq!(user_of_item(&user_item(&state, 8)), Some((8, state.clone())));
        // A dimension value named like an arm is another segment.
        state.add_to_segment(day_number(&third) + 1, SegmentKind::Property, ("exp#1", "A"), Some(3));
        assert_eq!(state.segments.len(), 3);
        let item = user_item(&state, 9);
        assert_eq!(
            (item[ARMS].as_array().unwrap().len(), item[PROPERTIES].as_array().unwrap().len()),
            (2, 1)
        );
        assert_eq!(user_of_item(&item), Some((9, state)));
        let cell = Cell { row: Row::of(&touch), segment: Some(Segment::variant("exp#1", "B")) };
        assert_eq!(cell_of_labels(&cell_labels(&cell)), Some(cell.clone()));
        assert_eq!(cell_key("t", 20_000, &cell_labels(&cell)).pk, "CMX#t#exp%231#2024-10-04");
        let property = Cell { row: Row::of(&touch), segment: Some(Segment::property("exp#1", "B")) };
        assert_eq!(cell_of_labels(&cell_labels(&property)), Some(property.clone()));
        assert_eq!(cell_key("t", 20_000, &cell_labels(&property)).pk, "CMD#t#exp%231#2024-10-04");
        assert_ne!(cell_id(&cell_labels(&property)), cell_id(&cell_labels(&cell)));
        let own = Cell { segment: None, ..cell };
        assert_eq!(cell_id(&cell_labels(&own)), row_id(&own.row));
        assert_eq!(
            user_of_item(&user_item(&UserAttribution::default(), 1)),
            Some((1, UserAttribution::default()))
        );
        assert_eq!(row_of_labels(&row_labels(&Row::direct())), Some(Row::direct()));
        assert_eq!(row_id(&Row::direct()).len(), 32);
        assert_ne!(row_id(&Row::direct()), row_id(&Row::of(&touch)));
    }

    #[test]
    fn journals_round_trip_on_the_user_item() {
        let state = UserAttribution::default();
        let labels = row_labels(&Row::direct());
        let journal = Journal {
            tenant_id: "t".into(),
            writes: vec![
                (labels.clone(), 20_000, vec![("u1".into(), -1)]),
                (row_labels(&Row::of(&Touch { source: "x".into(), ..Touch::default() })), 20_000, vec![]),
                (labels, 20_001, vec![("n".into(), 1), ("u-".into(), 1)]),
            ],
        };
        let item = user_item_owing(&state, 3, Some(&journal));
        assert_eq!(item.get(JOURNAL).and_then(Journal::of_value), Some(journal.clone()));
        assert_eq!(user_of_item(&item), Some((3, state.clone())));
        // Two rows, stored once each.
        assert_eq!(item[JOURNAL]["r"].as_array().unwrap().len(), 2);
        let writes = journal.row_writes(1..3);
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[1].key(), &keys::campaign_row("t", "2024-10-05", &row_id(&Row::direct())));
        // An empty journal is no journal.
        let empty = Journal { tenant_id: "t".into(), writes: vec![] };
        assert!(!has_journal(&user_item_owing(&state, 3, Some(&empty))));
    }

    /// A store that takes at most 100 writes per transaction (DynamoDB's
    /// limit), counts journal steps and refused conditions, and, once
    /// armed, fails the first journal step it is asked for (a writer
    /// stopping between a change's steps).
    struct StepsMayFail {
        armed: AtomicBool,
        steps: AtomicUsize,
        refused: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Intercept for StepsMayFail {
        async fn transact(&self, inner: &dyn Store, writes: Vec<WriteOp>) -> Result<(), StoreError> {
            let journal_step = writes.iter().any(|w| w.key().pk.starts_with("ATT#"))
                && !writes.iter().any(|w| w.key().pk.starts_with("EID#"));
            if journal_step {
                self.steps.fetch_add(1, SeqCst);
                if self.armed.swap(false, SeqCst) {
                    return Err(StoreError::Unavailable("stopped between steps (injected)".into()));
                }
            }
            crate::store::validate_transaction(&writes, 100)?;
            let result = inner.transact(writes).await;
            if let Err(StoreError::ConditionFailed { .. }) = result {
                self.refused.fetch_add(1, SeqCst);
            }
            result
        }
        fn max_transaction_writes(&self, _inner: &dyn Store) -> usize {
            100
        }
    }

    /// What contributions add to each day, in day order.
    fn by_day(contributions: &std::collections::BTreeMap<(Day, Measure), i64>) -> Vec<(Day, RowDay)> {
        let mut out: Vec<(Day, RowDay)> = Vec::new();
        for (&(day, measure), &n) in contributions {
            if out.last().is_none_or(|(d, _)| *d != day) {
                out.push((day, RowDay::default()));
            }
            out.last_mut().expect("just pushed").1.add(measure, n);
        }
        out
    }

    /// A user active on 60 days, in an experiment's arm, whose first touch
    /// earlier events move: two row items a day and two arm cells, over
    /// 240 row writes, more than a transaction holds. Each move commits in steps, the user's later events in the
    /// same batch follow without a re-plan, a writer that stops between
    /// steps is finished by the redelivery, and the rows are exactly what
    /// the user adds.
    async fn a_move_too_large_for_one_transaction_commits_in_steps(inner: Arc<dyn Store>) {
        use crate::domain::event::EventType;
        use crate::repo::events::{WriterMemory, store_events};
        let store =
            Intercepted::new(inner, StepsMayFail { armed: false.into(), steps: 0.into(), refused: 0.into() });
        let tenant = format!("t-{}", uuid::Uuid::now_v7());
        let event = |id: &str, kind: EventType, at: DateTime<Utc>, properties: Value| Event {
            id: id.into(),
            tenant_id: tenant.clone(),
            user_id: "loyal".into(),
            event_type: kind,
            experiment_id: Some("exp".into()),
            variant: Some("A".into()),
            properties: properties.as_object().cloned().unwrap_or_default(),
            timestamp: at,
        };
        let day_one: DateTime<Utc> = "2026-09-01T12:00:00Z".parse().unwrap();
        let day = |d: i64| day_one + chrono::Duration::days(d);
        let mut all: Vec<Event> =
            (0..60).map(|d| event(&format!("day-{d}"), EventType::PageView, day(d), json!({}))).collect();
        let memory = WriterMemory { attributions: KnownAttributions::disabled(), ..WriterMemory::default() };
        store_events(&store, &memory, all.clone()).await.unwrap();
        let tagged = |campaign: &str| json!({"url": format!("https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign={campaign}")});

        // A move, then a conversion of the same user, in one batch.
        let moved = vec![
            event("brand", EventType::PageView, day(-1), tagged("brand")),
            event("bought", EventType::Conversion, day(60), json!({"value": 19.99})),
        ];
        store_events(&store, &memory, moved.clone()).await.unwrap();
        assert!(store.intercept.steps.load(SeqCst) >= 1, "the move took journal steps");
        assert_eq!(store.intercept.refused.load(SeqCst), 0, "the conversion followed without a re-plan");
        all.extend(moved);

        // Another move; the writer stops after its first transaction, and
        // the redelivery finishes it.
        let earliest = event("spring", EventType::PageView, day(-2), tagged("spring"));
        store.intercept.armed.store(true, SeqCst);
        assert!(store_events(&store, &memory, vec![earliest.clone()]).await.is_err());
        let again = store_events(&store, &memory, vec![earliest.clone()]).await.unwrap();
        assert_eq!((again.stored, again.duplicates), (0, 1));
        all.push(earliest);

        let mut expected = UserAttribution::default();
        for e in &all {
            add_event(&mut expected, e, &TenantSettings::default(), &DayValues::default(), None);
        }
        assert_eq!(expected.row().campaign.as_deref(), Some("spring"));
        let want: Vec<(Day, Row, RowDay)> = by_day(&expected.contributions())
            .into_iter()
            .map(|(day, counts)| (day, expected.row(), counts))
            .collect();
        let first = day_number(&day(-2));
        let mut got = row_days(&store, &tenant, first, first + 63).await.unwrap();
        // The rows the moves emptied hold zeros only.
        got.retain(|(.., counts)| {
            counts.new_users != 0 || counts.users.values().any(|n| *n != 0) || counts.conversions != 0
        });
        got.sort_by_key(|(day, ..)| *day);
        assert_eq!(got.len(), 63);
        assert_eq!(got, want);
        // The arm's cells moved with the row.
        let mut got =
            segment_row_days(&store, &tenant, SegmentKind::Variant, "exp", first, first + 63).await.unwrap();
        got.retain(|(.., counts)| counts.users.values().any(|n| *n != 0) || counts.conversions != 0);
        got.sort_by_key(|(day, ..)| *day);
        let arm = Segment::variant("exp", "A");
        let want: Vec<(Day, Row, String, RowDay)> = by_day(&expected.segment_contributions()[&arm])
            .into_iter()
            .map(|(day, counts)| (day, expected.row(), "A".to_owned(), counts))
            .collect();
        assert_eq!(got.len(), 63);
        assert_eq!(got, want);
        // And the user's item owes nothing.
        let item = store.get(&keys::attribution(&tenant, "loyal")).await.unwrap().unwrap();
        assert!(!has_journal(&item));
    }

    #[tokio::test]
    async fn embedded_a_move_too_large_for_one_transaction_commits_in_steps() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap();
        a_move_too_large_for_one_transaction_commits_in_steps(Arc::new(store)).await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_a_move_too_large_for_one_transaction_commits_in_steps() {
        a_move_too_large_for_one_transaction_commits_in_steps(
            crate::aws::testing::fresh_context().await.store,
        )
        .await;
    }

    #[test]
    fn an_event_in_an_arm_the_known_day_lacks_is_read() {
        let event = |experiment: Option<&str>, variant: Option<&str>| Event {
            id: "e1".into(),
            tenant_id: "t".into(),
            user_id: "u".into(),
            event_type: crate::domain::event::EventType::PageView,
            experiment_id: experiment.map(str::to_owned),
            variant: variant.map(str::to_owned),
            properties: Default::default(),
            timestamp: "2026-11-01T10:00:00Z".parse().unwrap(),
        };
        let plain = TenantSettings::default();
        let mut state = UserAttribution::default();
        assert!(add_event(&mut state, &event(Some("exp"), Some("A")), &plain, &DayValues::default(), None));
        let known = Known::of(&state);
        assert_eq!(known.unwrap().segments.iter().filter(|hash| **hash != 0).count(), 1);
        // The same arm, or none, on the known day: nothing to read.
        assert!(changes_nothing(&event(Some("exp"), Some("A")), known, &plain, None));
        assert!(changes_nothing(&event(None, None), known, &plain, None));
        assert!(changes_nothing(&event(Some("exp"), None), known, &plain, None));
        // Another variant, or another experiment: the item changes.
        assert!(!changes_nothing(&event(Some("exp"), Some("B")), known, &plain, None));
        assert!(!changes_nothing(&event(Some("other"), Some("A")), known, &plain, None));
        let mut moved = state.clone();
        assert!(add_event(&mut moved, &event(Some("exp"), Some("B")), &plain, &DayValues::default(), None));
        assert!(!add_event(&mut moved, &event(Some("exp"), Some("B")), &plain, &DayValues::default(), None));
        assert_eq!(moved.segments.len(), 2);
        // Both are known once the item holds both; a fourth arm of the day
        // is past what is remembered, and read.
        let known = Known::of(&moved);
        assert!(changes_nothing(&event(Some("exp"), Some("A")), known, &plain, None));
        assert!(changes_nothing(&event(Some("exp"), Some("B")), known, &plain, None));
        for variant in ["C", "D"] {
            add_event(&mut moved, &event(Some("exp"), Some(variant)), &plain, &DayValues::default(), None);
        }
        let known = Known::of(&moved);
        let read = ["A", "B", "C", "D"]
            .iter()
            .filter(|v| !changes_nothing(&event(Some("exp"), Some(v)), known, &plain, None));
        assert_eq!(read.count(), 1);
    }

    #[test]
    fn an_event_with_a_dimension_value_the_known_day_lacks_is_read() {
        let event = |properties: serde_json::Value| Event {
            id: "e1".into(),
            tenant_id: "t".into(),
            user_id: "u".into(),
            event_type: crate::domain::event::EventType::PageView,
            experiment_id: None,
            variant: None,
            properties: properties.as_object().cloned().unwrap_or_default(),
            timestamp: "2026-11-01T10:00:00Z".parse().unwrap(),
        };
        let settings = TenantSettings { dimensions: vec!["device".into()], ..TenantSettings::default() };
        let mut state = UserAttribution::default();
        assert!(add_event(
            &mut state,
            &event(json!({"device": "Mobile"})),
            &settings,
            &DayValues::default(),
            None
        ));
        assert_eq!(state.segments.keys().next(), Some(&Segment::property("device", "mobile")));
        let known = Known::of(&state);
        // The same value (as normalised) on the known day: nothing to read.
        assert!(changes_nothing(&event(json!({"device": " MOBILE"})), known, &settings, None));
        // Another value, or none (`(not set)`), changes the item.
        assert!(!changes_nothing(&event(json!({"device": "desktop"})), known, &settings, None));
        assert!(!changes_nothing(&event(json!({})), known, &settings, None));
        assert!(add_event(&mut state, &event(json!({})), &settings, &DayValues::default(), None));
        assert!(
            state.segments.contains_key(&Segment::property("device", crate::domain::attribution::NOT_SET))
        );
        // A tenant without the dimension keeps no value.
        let mut plain = UserAttribution::default();
        add_event(
            &mut plain,
            &event(json!({"device": "mobile"})),
            &TenantSettings::default(),
            &DayValues::default(),
            None,
        );
        assert!(plain.segments.is_empty());
    }

    #[test]
    fn known_facts_are_remembered_by_key_and_only_when_enabled() {
        let (alice, bob) = (user_digest("t", "alice"), user_digest("t", "bob"));
        let fact = Known { day: 20_000, touch_at: 5, segments: [9, 0, 0] };
        let known = KnownAttributions::default();
        known.remember([(alice, fact)]);
        assert_eq!(known.get_all(&[alice, bob]), [Some(fact), None]);
        // Tenant and user are kept apart: ("ta", "b") is not ("t", "ab").
        assert_ne!(user_digest("ta", "b"), user_digest("t", "ab"));
        let off = KnownAttributions::disabled();
        off.remember([(alice, fact)]);
        assert_eq!(off.get_all(&[alice]), [None]);
    }

    /// A day keeps its first [`MAX_DAY_VALUES`] values of a dimension; the
    /// users of the rest count as `(other)` that day, and only that day;
    /// a redelivery changes nothing.
    async fn a_day_keeps_at_most_its_first_values_of_a_dimension(store: Arc<dyn Store>) {
        use crate::domain::attribution::OTHER_VALUE;
        use crate::domain::event::EventType;
        use crate::repo::day_values::MAX_DAY_VALUES;
        use crate::repo::events::{WriterMemory, store_events};
        let tenant = format!("t-{}", uuid::Uuid::now_v7());
        let now: DateTime<Utc> = "2026-12-06T00:00:00Z".parse().unwrap();
        settings::set_list(store.as_ref(), &tenant, settings::ListSetting::Dimensions, &["page".into()], now)
            .await
            .unwrap();
        let day_one: DateTime<Utc> = "2026-11-01T10:00:00Z".parse().unwrap();
        let event = |user: usize, day: i64, page: &str| Event {
            id: format!("{user}-{day}"),
            tenant_id: tenant.clone(),
            user_id: format!("u{user}"),
            event_type: EventType::PageView,
            experiment_id: None,
            variant: None,
            properties: json!({"page": page}).as_object().cloned().unwrap(),
            timestamp: day_one + chrono::Duration::days(day),
        };
        let extra = 7;
        let mut events: Vec<Event> =
            (0..MAX_DAY_VALUES + extra).map(|i| event(i, 0, &format!("/p{i}"))).collect();
        // The next day has room again.
        events.extend((0..3).map(|i| event(MAX_DAY_VALUES + i, 1, &format!("/p{}", MAX_DAY_VALUES + i))));
        let memory = WriterMemory::default();
        store_events(store.as_ref(), &memory, events.clone()).await.unwrap();
        let again = store_events(store.as_ref(), &memory, events.clone()).await.unwrap();
        assert_eq!((again.stored, again.duplicates), (0, events.len()));

        let first = day_number(&day_one);
        let cells =
            segment_row_days(store.as_ref(), &tenant, SegmentKind::Property, "page", first, first + 1)
                .await
                .unwrap();
        let users_of = |day: Day, value: &str| -> i64 {
            cells
                .iter()
                .filter(|(d, _, v, _)| *d == day && v == value)
                .map(|(_, _, _, counts)| counts.users.values().sum::<i64>())
                .sum()
        };
        let kept: Vec<&String> = cells
            .iter()
            .filter(|(d, _, v, _)| *d == first && v != OTHER_VALUE)
            .map(|(_, _, v, _)| v)
            .collect();
        assert_eq!(kept.len(), MAX_DAY_VALUES);
        // The first to arrive are kept, each with its one user.
        for i in 0..MAX_DAY_VALUES {
            assert_eq!(users_of(first, &format!("/p{i}")), 1, "/p{i}");
        }
        assert_eq!(users_of(first, OTHER_VALUE), extra as i64);
        for i in 0..3 {
            assert_eq!(users_of(first + 1, &format!("/p{}", MAX_DAY_VALUES + i)), 1);
        }
        assert_eq!(users_of(first + 1, OTHER_VALUE), 0);
    }

    #[tokio::test]
    async fn embedded_a_day_keeps_at_most_its_first_values_of_a_dimension() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap();
        a_day_keeps_at_most_its_first_values_of_a_dimension(Arc::new(store)).await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_a_day_keeps_at_most_its_first_values_of_a_dimension() {
        let ctx = crate::aws::testing::fresh_context().await;
        a_day_keeps_at_most_its_first_values_of_a_dimension(ctx.store).await;
    }
}
