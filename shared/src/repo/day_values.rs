//! The per-day bound on a custom dimension's values: of each dimension, a
//! UTC day keeps at most [`MAX_DAY_VALUES`] distinct values, the first to
//! arrive; that day's events with any other value count as `(other)`
//! ([`OTHER_VALUE`]). Without it, a dimension with a value per page or per
//! order would give each day as many cells as events, and every report
//! over it would read them all.
//!
//! Which values a day keeps is one item per (tenant, dimension, day), its
//! *registry* ([`keys::dimension_day_values`]): the kept values' digests
//! and a version. Before planning the events of a batch, the writer admits
//! the values they bring ([`admit`]): it reads the registries, adds the new
//! values while there is room, and puts each registry back on condition
//! that its version is still the one read (a racing writer's admissions
//! make it read again). Admission commits before the events do: a writer
//! stopping in between leaves values kept with nothing counted under them
//! yet, which the redelivery then counts. Whether a value is kept is decided
//! once and for all: a kept value stays kept, a full day stays full, so
//! writers remember both answers ([`KnownDayValues`]).
//!
//! `(not set)` and `(other)` are never admitted: they are always kept.

use std::borrow::Cow;
use std::sync::Mutex;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::known_members::Digest96;
use super::two_generations::TwoGenerations;
use crate::domain::attribution::{Day, NOT_SET, OTHER_VALUE};
use crate::store::keys;
use crate::store::{Condition, Item, Key, Store, StoreError, WriteOp};

/// How many distinct values of one custom dimension one day keeps.
pub const MAX_DAY_VALUES: usize = 1_000;

/// The registry's version: every put adds one, on condition it still holds.
const VERSION: &str = "v";
/// The kept values' digests ([`value_digest`]), in order of admission.
const VALUES: &str = "vals";
/// How many times [`admit`] reads again after racing another writer.
const MAX_ATTEMPTS: usize = 10;

/// A value's digest as a registry keeps it: 96 bits of its SHA-256, in hex
/// (24 characters, so a full registry is about 27 KB).
fn value_digest(value: &str) -> String {
    hex::encode(&Sha256::digest(value.as_bytes())[..12])
}

/// What a writer remembers of a value: `true` kept, `false` counted as
/// `(other)`, by the SHA-256 of its registry's key and the value.
fn fact_key(registry: &Key, value: &str) -> Digest96 {
    let mut hasher = Sha256::new();
    // Lengths first: no two (key, value) pairs share the hashed input.
    hasher.update((registry.pk.len() as u64).to_le_bytes());
    hasher.update(registry.pk.as_bytes());
    hasher.update(value.as_bytes());
    let full = hasher.finalize();
    let high = u64::from_le_bytes(full[..8].try_into().expect("8 bytes"));
    let low = u32::from_le_bytes(full[8..12].try_into().expect("4 bytes"));
    (high, low)
}

/// What a writer process remembers of registries: whether a value is kept,
/// once a registry has said so for good.
pub struct KnownDayValues {
    table: Mutex<TwoGenerations<u64, (u32, bool)>>,
    enabled: bool,
}

const GENERATION_CAPACITY: usize = 100_000;

impl Default for KnownDayValues {
    fn default() -> Self {
        Self { table: Mutex::new(TwoGenerations::new(GENERATION_CAPACITY)), enabled: true }
    }
}

impl KnownDayValues {
    /// Remembers nothing: every registry is read each time (DynamoDB's
    /// emulators let reads see uncommitted writes: `aws.rs`).
    pub fn disabled() -> Self {
        Self { enabled: false, ..Self::default() }
    }

    fn get(&self, facts: &[Digest96]) -> Vec<Option<bool>> {
        if !self.enabled {
            return vec![None; facts.len()];
        }
        let mut table = self.table.lock().expect("known day values poisoned");
        facts
            .iter()
            .map(|(high, low)| table.get(high).and_then(|&(bits, kept)| (bits == *low).then_some(kept)))
            .collect()
    }

    fn remember(&self, facts: impl IntoIterator<Item = (Digest96, bool)>) {
        if !self.enabled {
            return;
        }
        let mut table = self.table.lock().expect("known day values poisoned");
        for ((high, low), kept) in facts {
            table.insert(high, (low, kept));
        }
    }
}

/// The values of a batch that count as `(other)`: their day had kept
/// [`MAX_DAY_VALUES`] others already. Every other value counts as itself.
#[derive(Clone, Debug, Default)]
pub struct DayValues {
    others: HashSet<Digest96>,
}

impl DayValues {
    /// The value an event of `tenant_id` on `day` counts under in
    /// dimension `key`: `value`, or `(other)`.
    pub fn counted_as<'a>(&self, tenant_id: &str, key: &str, day: Day, value: &'a str) -> &'a str {
        if self.others.is_empty() || always_kept(value) {
            return value;
        }
        let registry = keys::dimension_day_values(tenant_id, key, &keys::day_numbered(day));
        if self.others.contains(&fact_key(&registry, value)) { OTHER_VALUE } else { value }
    }
}

fn always_kept(value: &str) -> bool {
    value == NOT_SET || value == OTHER_VALUE
}

/// One value an event brings: tenant, dimension key, day, value.
pub type Brought<'a> = (&'a str, &'a str, Day, Cow<'a, str>);

/// What a registry says of a value.
enum Admission {
    /// Kept already.
    Held,
    /// Kept from now on, once the registry is put back.
    Admitted,
    /// Not kept: the day is full.
    Full,
}

/// A registry as read, with the values this call admits to it.
struct Registry {
    key: Key,
    /// `None`: no item yet.
    version: Option<i64>,
    kept: Vec<String>,
    known: HashSet<String>,
    admitted: Vec<Digest96>,
}

impl Registry {
    fn of(key: Key, item: Option<&Item>) -> Registry {
        let version = item.and_then(|item| item.get(VERSION)).and_then(Value::as_i64);
        let kept: Vec<String> = item
            .and_then(|item| item.get(VALUES))
            .and_then(Value::as_array)
            .map(|values| values.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let known = kept.iter().cloned().collect();
        Registry { key, version, kept, known, admitted: Vec::new() }
    }

    /// Whether `value` is kept, admitting it if there is room.
    fn admit(&mut self, fact: Digest96, value: &str) -> Admission {
        let digest = value_digest(value);
        if self.known.contains(&digest) {
            return Admission::Held;
        }
        if self.kept.len() >= MAX_DAY_VALUES {
            return Admission::Full;
        }
        self.known.insert(digest.clone());
        self.kept.push(digest);
        self.admitted.push(fact);
        Admission::Admitted
    }

    fn put(&self) -> WriteOp {
        let mut item = Item::new();
        item.insert(VERSION.to_owned(), json!(self.version.map_or(1, |v| v + 1)));
        item.insert(VALUES.to_owned(), json!(self.kept));
        let condition = match self.version {
            None => Condition::NotExists,
            Some(version) => Condition::equals(VERSION, version),
        };
        WriteOp::Put { key: self.key.clone(), item, condition }
    }
}

/// Decides, for every value `brought`, whether its day keeps it, admitting
/// new ones while their day has room; returns those that count as
/// `(other)`. Values remembered need no read; the registries of the others
/// are read, and those it admits values to are put back before it returns.
pub async fn admit(
    store: &dyn Store,
    known: &KnownDayValues,
    brought: Vec<Brought<'_>>,
) -> Result<DayValues, StoreError> {
    // The values to decide, once each, by registry, in order of arrival.
    let mut registry_of: HashMap<Key, usize> = HashMap::new();
    let mut wanted: Vec<(Key, Vec<(Digest96, String)>)> = Vec::new();
    // Most events of a batch bring values others brought: keys and
    // digests are built once per distinct value.
    let mut seen: HashSet<(&str, &str, Day, &str)> = HashSet::new();
    let mut facts = Vec::new();
    let mut values = Vec::new();
    for (tenant_id, key, day, value) in &brought {
        if always_kept(value) || !seen.insert((tenant_id, key, *day, value)) {
            continue;
        }
        let registry = keys::dimension_day_values(tenant_id, key, &keys::day_numbered(*day));
        facts.push(fact_key(&registry, value));
        values.push((registry, value.to_string()));
    }
    let mut out = DayValues::default();
    for ((fact, (registry, value)), remembered) in facts.iter().zip(values).zip(known.get(&facts)) {
        match remembered {
            Some(true) => {}
            Some(false) => {
                out.others.insert(*fact);
            }
            None => {
                let index = *registry_of.entry(registry.clone()).or_insert_with(|| {
                    wanted.push((registry, Vec::new()));
                    wanted.len() - 1
                });
                wanted[index].1.push((*fact, value));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(out);
    }

    for attempt in 1..=MAX_ATTEMPTS {
        let keys: Vec<Key> = wanted.iter().map(|(key, _)| key.clone()).collect();
        let found = store.read_before_write(&keys).await?;
        let mut others = Vec::new();
        let mut decided = Vec::new();
        let mut changed = Vec::new();
        for ((key, values), item) in wanted.iter().zip(&found) {
            let mut registry = Registry::of(key.clone(), item.as_ref());
            for (fact, value) in values {
                // What the store holds already is settled; what this call
                // admits is, once its put commits.
                match registry.admit(*fact, value) {
                    Admission::Held => decided.push((*fact, true)),
                    Admission::Admitted => {}
                    Admission::Full => {
                        others.push(*fact);
                        decided.push((*fact, false));
                    }
                }
            }
            if !registry.admitted.is_empty() {
                changed.push(registry);
            }
        }
        // One registry per transaction: a registry puts back on its own,
        // and one that raced another writer does not hold the others back.
        let mut raced = false;
        let mut admitted = Vec::new();
        for registry in &changed {
            match store.transact(vec![registry.put()]).await {
                Ok(()) => admitted.extend(registry.admitted.iter().map(|fact| (*fact, true))),
                Err(StoreError::ConditionFailed { .. } | StoreError::Conflict) => raced = true,
                Err(err) => return Err(err),
            }
        }
        known.remember(decided.into_iter().chain(admitted));
        if !raced {
            out.others.extend(others);
            return Ok(out);
        }
        tracing::debug!(attempt, "a dimension's day values raced another writer; reading them again");
    }
    Err(StoreError::Conflict)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn brought<'a>(tenant: &'a str, values: impl IntoIterator<Item = String>) -> Vec<Brought<'a>> {
        values.into_iter().map(|value| (tenant, "page", 20_000, Cow::Owned(value))).collect()
    }

    async fn a_day_keeps_the_first_values_and_counts_the_rest_as_other(store: Arc<dyn Store>) {
        let tenant = format!("t-{}", uuid::Uuid::now_v7());
        let known = KnownDayValues::default();
        let first: Vec<String> = (0..MAX_DAY_VALUES - 2).map(|i| format!("/p{i}")).collect();
        let decided = admit(store.as_ref(), &known, brought(&tenant, first)).await.unwrap();
        assert!(decided.others.is_empty());
        // A second writer, remembering nothing, brings two kept values and
        // four new ones: two fit.
        let more: Vec<String> =
            ["/p0", "/p5", "/new-a", "/new-b", "/new-c", "/new-d"].map(str::to_owned).to_vec();
        let other_writer = KnownDayValues::default();
        let decided = admit(store.as_ref(), &other_writer, brought(&tenant, more.clone())).await.unwrap();
        let counted: Vec<&str> =
            more.iter().map(|value| decided.counted_as(&tenant, "page", 20_000, value)).collect();
        assert_eq!(counted, ["/p0", "/p5", "/new-a", "/new-b", OTHER_VALUE, OTHER_VALUE]);
        // Another day, another dimension and the always-kept values are
        // not held back; the first writer, remembering stale facts, agrees.
        assert_eq!(decided.counted_as(&tenant, "page", 20_001, "/new-c"), "/new-c");
        assert_eq!(decided.counted_as(&tenant, "plan", 20_000, "/new-c"), "/new-c");
        let again = admit(
            store.as_ref(),
            &known,
            vec![
                (tenant.as_str(), "page", 20_000, Cow::Borrowed("/new-d")),
                (tenant.as_str(), "page", 20_000, Cow::Borrowed("/new-b")),
                (tenant.as_str(), "page", 20_000, Cow::Borrowed(NOT_SET)),
            ],
        )
        .await
        .unwrap();
        assert_eq!(again.counted_as(&tenant, "page", 20_000, "/new-d"), OTHER_VALUE);
        assert_eq!(again.counted_as(&tenant, "page", 20_000, "/new-b"), "/new-b");
        assert_eq!(again.counted_as(&tenant, "page", 20_000, NOT_SET), NOT_SET);
        let registry =
            store.get(&keys::dimension_day_values(&tenant, "page", &keys::day_numbered(20_000))).await;
        let registry = registry.unwrap().unwrap();
        assert_eq!(registry[VALUES].as_array().unwrap().len(), MAX_DAY_VALUES);
        assert_eq!(registry[VERSION], json!(2));
        // Remembered now, both ways: no read.
        let facts: Vec<Digest96> = ["/new-b", "/new-d"]
            .map(|value| {
                fact_key(&keys::dimension_day_values(&tenant, "page", &keys::day_numbered(20_000)), value)
            })
            .to_vec();
        assert_eq!(known.get(&facts), [Some(true), Some(false)]);

        // Two writers at once, 600 new values each, on a day with none:
        // the day keeps 1,000 of them, and each writer's answers agree
        // with what it kept.
        let values = |writer: usize| -> Vec<String> { (0..600).map(|i| format!("/w{writer}-{i}")).collect() };
        let racing = |writer: usize| {
            let store = store.clone();
            let tenant = tenant.clone();
            async move {
                let known = KnownDayValues::default();
                let brought =
                    values(writer).into_iter().map(|v| (tenant.as_str(), "page", 20_002, Cow::Owned(v)));
                admit(store.as_ref(), &known, brought.collect()).await.unwrap()
            }
        };
        let (one, two) = tokio::join!(racing(1), racing(2));
        let registry =
            store.get(&keys::dimension_day_values(&tenant, "page", &keys::day_numbered(20_002))).await;
        let registry = registry.unwrap().unwrap();
        let stored: HashSet<&str> =
            registry[VALUES].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(stored.len(), MAX_DAY_VALUES);
        let mut kept = 0;
        for (writer, decided) in [(1, &one), (2, &two)] {
            for value in values(writer) {
                let as_itself = decided.counted_as(&tenant, "page", 20_002, &value) == value;
                assert_eq!(as_itself, stored.contains(value_digest(&value).as_str()), "{value}");
                kept += usize::from(as_itself);
            }
        }
        assert_eq!(kept, MAX_DAY_VALUES);
    }

    #[tokio::test]
    async fn embedded_a_day_keeps_the_first_values_and_counts_the_rest_as_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap();
        a_day_keeps_the_first_values_and_counts_the_rest_as_other(Arc::new(store)).await;
    }

    #[cfg(feature = "aws")]
    #[tokio::test]
    async fn dynamodb_a_day_keeps_the_first_values_and_counts_the_rest_as_other() {
        a_day_keeps_the_first_values_and_counts_the_rest_as_other(
            crate::aws::testing::fresh_context().await.store,
        )
        .await;
    }

    #[test]
    fn nothing_is_remembered_when_disabled() {
        let off = KnownDayValues::disabled();
        off.remember([((1, 2), true)]);
        assert_eq!(off.get(&[(1, 2)]), [None]);
        let on = KnownDayValues::default();
        on.remember([((1, 2), true), ((3, 4), false)]);
        assert_eq!(on.get(&[(1, 2), (3, 4), (1, 5)]), [Some(true), Some(false), None]);
    }
}
