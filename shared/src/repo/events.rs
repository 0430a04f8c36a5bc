//! Storing events exactly once.

use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashSet, HashSetExt};

use super::attribution::{self, KnownAttributions, SETTINGS_TTL};
use super::counting::{self, FirstSight, hour_number, membership_keys};
use super::day_values::KnownDayValues;
use super::hot_shards::{self, HomeShard};
use super::known_members::KnownMembers;
use super::settings::TenantSettings;
use super::user_sketches::{self, SketchCache};
use crate::domain::FieldError;
use crate::domain::event::{Event, EventAt, MAX_PROPERTIES_BYTES, field_name};
use crate::domain::metric::ExperimentMetrics;
use crate::store::keys;
use crate::store::limits::{self, MAX_ITEM_BYTES};
use crate::store::{Key, LayoutUse, Store, StoreError};
use crate::ttl_cache::TtlCache;
use std::sync::Arc;

/// Why the production store could not hold `event` (empty when it can):
/// its key parts over their budgets in the table design, or properties
/// DynamoDB refuses. Ingest answers these with 400 before accepting
/// anything, so that every accepted event can be stored.
pub fn unstorable_fields(event: &Event, at: EventAt) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut budget = |name: &str, value: Option<&str>, max: usize| {
        let bytes = value.map_or(0, keys::escaped_len);
        if bytes > max {
            errors.push(FieldError::new(
                field_name(at, name),
                format!(
                    "takes {bytes} bytes in the store's keys (UTF-8, with % and # escaped as 3 bytes); \
                     at most {max} fit"
                ),
            ));
        }
    };
    budget("userId", Some(&event.user_id), keys::MAX_USER_ID_KEY_BYTES);
    budget("properties.experimentId", event.experiment_id.as_deref(), keys::MAX_TAG_KEY_BYTES);
    budget("properties.variant", event.variant.as_deref(), keys::MAX_TAG_KEY_BYTES);
    budget("eventId", Some(&event.id), keys::MAX_EVENT_ID_KEY_BYTES);
    for (name, value) in &event.properties {
        // Properties is a top-level attribute of the event's item (level
        // 0): its members sit one level down.
        let refused = if name.is_empty() {
            Some(limits::Unstorable {
                path: String::new(),
                reason: "has an empty property name; names need at least one character".into(),
            })
        } else {
            limits::check_attribute(value, 1).err()
        };
        if let Some(refused) = refused {
            let joint = if refused.path.is_empty() || refused.path.starts_with('[') { "" } else { "." };
            let field = format!("properties.{name}{joint}{}", refused.path);
            errors.push(FieldError::new(field_name(at, &field), refused.reason));
        }
    }
    errors
}

// Properties are capped far below an item's limit: with the longest keys
// and fields, an event item stays well within MAX_ITEM_BYTES.
const _: () = assert!(MAX_PROPERTIES_BYTES + 8 * 1024 < MAX_ITEM_BYTES);

/// Attempts at a batch when concurrent writers keep invalidating our reads.
const MAX_ATTEMPTS: usize = 8;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Events stored and counted by this call.
    pub stored: usize,
    /// Events skipped because their id was already stored (or repeated).
    pub duplicates: usize,
    /// Store transactions committed.
    pub transactions: usize,
}

impl WriteReport {
    /// Adds the report of another part of the same work.
    pub fn absorb(&mut self, other: WriteReport) {
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.transactions += other.transactions;
    }
}

/// What a batch-writer process remembers of the store between batches,
/// to spare reads: memberships known to exist, the user sketches it last
/// read or wrote, what users' attribution items hold, and tenants'
/// settings (ignored referrers for the touches of their events, custom
/// dimensions). Pass the same one
/// to every call a process makes.
pub struct WriterMemory {
    pub members: KnownMembers,
    pub sketches: SketchCache,
    pub attributions: KnownAttributions,
    /// Which custom dimension values their days keep (`repo::day_values`).
    pub day_values: KnownDayValues,
    pub settings: TtlCache<Arc<TenantSettings>>,
    /// Each experiment's metrics, by `attribution::experiment_key`: a
    /// metric added reaches the writer within `SETTINGS_TTL`.
    pub experiment_metrics: TtlCache<Arc<ExperimentMetrics>>,
    /// The shard of hot items this writer adds to ([`hot_shards`]).
    pub home_shard: HomeShard,
}

impl Default for WriterMemory {
    fn default() -> Self {
        Self {
            members: KnownMembers::default(),
            sketches: SketchCache::default(),
            attributions: KnownAttributions::default(),
            day_values: KnownDayValues::default(),
            settings: TtlCache::new(SETTINGS_TTL),
            experiment_metrics: TtlCache::new(SETTINGS_TTL),
            home_shard: HomeShard::default(),
        }
    }
}

/// Adds every event's user to the sketches of its hour and day
/// ([`user_sketches`]), then stores and counts every event whose id this
/// tenant has not stored yet.
///
/// Safe to call again with the same events after any failure, at any
/// point: committed transactions marked their events, and the retry skips
/// them. Safe against concurrent writers too: a transaction whose reads
/// went stale fails its conditions and is re-planned from fresh reads.
///
pub async fn store_events(
    store: &dyn Store,
    memory: &WriterMemory,
    events: Vec<Event>,
) -> Result<WriteReport, StoreError> {
    let mut report = WriteReport::default();
    store_events_into(store, memory, events, &mut report).await?;
    Ok(report)
}

/// [`store_events`], adding to `report` as it goes: after a failure,
/// `report` still says what was stored before it.
pub async fn store_events_into(
    store: &dyn Store,
    memory: &WriterMemory,
    events: Vec<Event>,
    report: &mut WriteReport,
) -> Result<(), StoreError> {
    // The layout these events are written with is on record before any is.
    store.settle_layout(LayoutUse::Write).await?;
    // Users join their sketches first, from every event, duplicates
    // included (joining again changes nothing): once the counters show an
    // event, range reads see its user too, and a delivery that failed
    // anywhere merges again before it commits.
    user_sketches::merge(store, &memory.sketches, user_sketches::updates_for(&events)).await?;
    let first_of_id: Vec<bool> = {
        let mut seen = HashSet::with_capacity(events.len());
        events.iter().map(|event| seen.insert((event.tenant_id.as_str(), event.id.as_str()))).collect()
    };
    let mut pending: Vec<Event> = Vec::with_capacity(events.len());
    for (event, first) in events.into_iter().zip(first_of_id) {
        if first {
            pending.push(event);
        } else {
            report.duplicates += 1;
        }
    }
    // Each tenant's events together (in their order): a transaction adds
    // to the counters and buckets of every tenant it holds events of, so
    // an SQS batch of several tenants' messages, planned as it came, would
    // pay those items once per transaction per tenant (the scale model
    // measured about a third of the write units there).
    pending.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));

    let mut attempt = 0;
    while !pending.is_empty() {
        attempt += 1;
        // The first attempt assumes every id is new, as it almost always
        // is, and reads no id markers: each transaction puts its events'
        // markers on condition that they do not exist, so an id stored
        // already fails its transaction, and the next attempt reads the
        // markers and drops the duplicates. Only a redelivery or a client's
        // retry pays for that; the common batch saves a read of every id.
        if attempt > 1 {
            report.duplicates += drop_stored(store, &mut pending).await?;
            if pending.is_empty() {
                break;
            }
        }

        let sights = first_sights(store, &memory.members, &pending).await?;
        let attributed = attribution::read_changing(
            store,
            &memory.attributions,
            &memory.day_values,
            &memory.settings,
            &memory.experiment_metrics,
            &pending,
        )
        .await?;
        let plan = counting::plan(
            &pending,
            &sights,
            &attributed,
            store.max_transaction_writes(),
            store.layout().event_shards,
        );
        let mut committed = 0;
        let mut failure = None;
        for mut transaction in plan {
            match hot_shards::commit(store, &memory.home_shard, &mut transaction).await {
                Ok(()) => {
                    committed += transaction.events;
                    report.stored += transaction.events;
                    report.transactions += 1;
                    memory.members.remember(transaction.first_sights.iter().map(|(key, hour)| (key, *hour)));
                    memory.attributions.remember(transaction.attributions.iter().copied());
                    // A change too large for one transaction owes the rest
                    // of its row writes; if this writer stops first, the
                    // redelivery's first attempt reads the user (journaled
                    // users are not remembered) and finishes them.
                    for key in &transaction.journaled {
                        attribution::finish_journal(store, key).await?;
                    }
                }
                Err(err @ (StoreError::ConditionFailed { .. } | StoreError::Conflict)) => {
                    failure = Some(err);
                    break;
                }
                Err(err) => return Err(err),
            }
        }
        pending.drain(..committed);
        if let Some(err) = failure {
            if attempt >= MAX_ATTEMPTS {
                return Err(err);
            }
            tracing::debug!(attempt, "batch raced another writer; re-planning from fresh reads");
        }
    }
    Ok(())
}

/// The memberships `events` change (see [`counting::plan`]): read, unless
/// remembered with a first-seen hour no later than the batch's earliest
/// event for them, as returning users' are. What a read finds unchanged is
/// remembered.
async fn first_sights(
    store: &dyn Store,
    members: &KnownMembers,
    events: &[Event],
) -> Result<HashMap<Key, FirstSight>, StoreError> {
    let wanted = membership_keys(events);
    let remembered = members.first_hours(wanted.iter().map(|(key, _)| key));
    let (keys, earliest): (Vec<Key>, Vec<DateTime<Utc>>) = wanted
        .into_iter()
        .zip(remembered)
        .filter(|((_, at), hour)| hour.is_none_or(|hour| hour > hour_number(at)))
        .map(|(wanted, _)| wanted)
        .unzip();
    let found = store.read_before_write(&keys).await?;
    let mut sights = HashMap::default();
    let mut unchanged = Vec::new();
    for ((key, at), item) in keys.into_iter().zip(earliest).zip(found) {
        let Some(item) = item else {
            sights.insert(key, FirstSight { at, stored: None });
            continue;
        };
        match counting::stored_sight(&item) {
            Some(stored) if stored.hour > hour_number(&at) => {
                sights.insert(key, FirstSight { at, stored: Some(stored) });
            }
            Some(stored) => unchanged.push((key, stored.hour)),
            // A membership without a readable first-seen time keeps its
            // credit where it is.
            None => unchanged.push((key, i64::MIN)),
        }
    }
    members.remember(unchanged.iter().map(|(key, hour)| (key, *hour)));
    Ok(sights)
}

/// Drops the events whose id markers the store has; returns how many.
async fn drop_stored(store: &dyn Store, pending: &mut Vec<Event>) -> Result<usize, StoreError> {
    let markers: Vec<_> = pending.iter().map(|e| keys::event_marker(&e.tenant_id, &e.id)).collect();
    let stored = store.exist_before_write(&markers).await?;
    let before = pending.len();
    let mut stored = stored.into_iter();
    pending.retain(|_| !stored.next().unwrap_or(false));
    Ok(before - pending.len())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::event::EventType;
    use crate::store::limits::{MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES};

    fn event(user: &str, experiment: &str, variant: &str, properties: Value) -> Event {
        Event {
            id: "e".repeat(128),
            tenant_id: uuid::Uuid::now_v7().to_string(),
            user_id: user.into(),
            event_type: EventType::Conversion,
            experiment_id: Some(experiment.into()),
            variant: Some(variant.into()),
            properties: properties.as_object().cloned().unwrap_or_default(),
            timestamp: "2026-11-29T12:00:00Z".parse().unwrap(),
        }
    }

    fn refused(event: &Event) -> Vec<String> {
        unstorable_fields(event, EventAt::Batch(4)).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn what_dynamodb_cannot_hold_is_refused_by_field() {
        let deep = (0..40).fold(json!(1), |inner, _| json!({"d": inner}));
        let wide = "\u{1F600}".repeat(128);
        let bad =
            event(&wide, &wide, &wide, json!({"x": 1e308, "deep": deep, "": 1, "ok": [1, {"tiny": 1e-300}]}));
        let mut fields = refused(&bad);
        fields.sort();
        assert_eq!(
            fields,
            [
                "events[4].properties.",
                "events[4].properties.deep.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d",
                "events[4].properties.experimentId",
                "events[4].properties.ok[1].tiny",
                "events[4].properties.variant",
                "events[4].properties.x",
            ]
        );
        // 128 four-byte characters fit in a user id (512 bytes) but not
        // in an experiment id and variant together (a 1,027-byte sort key).
        assert!(refused(&event(&wide, "exp", "A", json!({"ok": 1.5, "s": ""}))).is_empty());
    }

    #[test]
    fn every_write_planned_for_an_event_at_the_budgets_fits_dynamodb() {
        let tag = "#".repeat(keys::MAX_TAG_KEY_BYTES / 3);
        let user = "\u{1F600}".repeat(keys::MAX_USER_ID_KEY_BYTES / 4);
        let at_budget = event(&user, &tag, &tag, json!({"nested": {"list": [1, 2.5]}}));
        assert!(refused(&at_budget).is_empty());
        let events = [at_budget];
        let wanted = membership_keys(&events);
        let absent: HashMap<Key, FirstSight> =
            wanted.iter().map(|(key, at)| (key.clone(), FirstSight { at: *at, stored: None })).collect();
        let wanted: Vec<Key> = wanted.into_iter().map(|(key, _)| key).collect();
        let slot = attribution::UserSlot {
            key: keys::attribution(&events[0].tenant_id, &events[0].user_id),
            digest: attribution::user_digest(&events[0].tenant_id, &events[0].user_id),
            version: None,
            state: Default::default(),
            settings: Default::default(),
        };
        let slots = attribution::Slots { users: vec![slot], of_event: vec![Some(0)], ..Default::default() };
        let writes: Vec<Key> = counting::plan(&events, &absent, &slots, 100, keys::MAX_SHARDS)
            .into_iter()
            .flat_map(|transaction| {
                let layout = crate::store::Layout::new(1, keys::MAX_SHARDS, 1, keys::MAX_SHARDS);
                transaction.on_shard(keys::MAX_SHARDS - 1, &layout)
            })
            .map(|write| write.key().clone())
            .collect();
        assert!(writes.len() >= 10, "{}", writes.len());
        for key in writes.iter().chain(&wanted) {
            assert!(key.pk.len() <= MAX_PARTITION_KEY_BYTES, "{} bytes", key.pk.len());
            assert!(key.sk.len() <= MAX_SORT_KEY_BYTES, "{} bytes", key.sk.len());
        }
        // One character more in the variant, and it is refused.
        let over = event(&user, &tag, &format!("{tag}#"), json!({}));
        assert_eq!(refused(&over), ["events[4].properties.variant"]);
    }
}
