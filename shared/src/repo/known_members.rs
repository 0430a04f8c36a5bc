//! Membership items this process has seen in the store, with the hour of
//! each one's first-seen time, so the batch writer need not read them again.
//!
//! Counting a unique user exactly once means reading, for every event, the
//! membership items of its user in each scope (four or more per event), and
//! returning users are the common case. Memberships are never deleted, and
//! their first-seen time only ever moves earlier, so a remembered hour is
//! the stored one or later: an event in that hour or after it changes
//! nothing in the plan, and skipping its read is safe. An earlier event
//! reads the membership again (its credit may move). Keys are remembered
//! once read back as existing, or once the transaction that wrote them has
//! committed; never when merely planned, so a failed transaction cannot
//! leave a false entry.
//!
//! Keys are remembered by a 96-bit SHA-256 prefix and hours as `i32`
//! (16 bytes an entry instead of a key's ~80): a collision, which would
//! skip counting a new user, is as likely as guessing a 96-bit secret, also
//! for a tenant choosing user ids on purpose (it would have to hit another
//! tenant's unknown keys). The table is keyed by the prefix's first 64
//! bits and holds the other 32 beside the hour: integer keys hash and
//! compare in a few instructions, where a 12-byte array key made the
//! lookups cost more than the writer's whole plan. Two keys sharing 64
//! bits overwrite each other, which only costs a read. Memory is bounded by
//! two generations: when the current one is full it becomes the previous
//! one and the oldest is dropped; hits in the previous generation move
//! forward, so a working set up to one generation's size stays cached.

use foldhash::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::store::Key;

/// Entries per generation: at most ≈ 4.5 MB of table each.
const GENERATION_CAPACITY: usize = 200_000;

/// A 96-bit digest: the table key, and the bits checked beside the hour.
pub(crate) type Digest96 = (u64, u32);

pub struct KnownMembers {
    generations: Mutex<Generations>,
    capacity: usize,
    enabled: bool,
}

/// First-seen hours (hours since the Unix epoch) by key digest: the
/// digest's first 64 bits map to its other 32 and the hour.
#[derive(Default)]
struct Generations {
    current: HashMap<u64, (u32, i32)>,
    previous: HashMap<u64, (u32, i32)>,
}

impl Generations {
    fn insert(&mut self, (high, low): Digest96, hour: i32, capacity: usize) {
        if self.current.len() >= capacity && !self.current.contains_key(&high) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(high, (low, hour));
    }

    /// The hour remembered for `digest`, moving it into the current
    /// generation if it was in the previous one.
    fn hour(&mut self, (high, low): Digest96, capacity: usize) -> Option<i32> {
        if let Some(&(bits, hour)) = self.current.get(&high) {
            return (bits == low).then_some(hour);
        }
        let (bits, hour) = self.previous.remove(&high)?;
        self.insert((high, bits), hour, capacity);
        (bits == low).then_some(hour)
    }
}

pub(crate) fn digest(key: &Key) -> Digest96 {
    // Keys never contain NUL, so this separates pk from sk unambiguously.
    digest_of(key.pk.as_bytes(), key.sk.as_bytes())
}

/// The 96-bit SHA-256 prefix of two byte strings joined by a NUL (which
/// neither may contain, so that distinct pairs never share the input).
pub(crate) fn digest_of(first: &[u8], second: &[u8]) -> Digest96 {
    let mut hasher = Sha256::new();
    hasher.update(first);
    hasher.update([0]);
    hasher.update(second);
    let full = hasher.finalize();
    let high = u64::from_le_bytes(full[..8].try_into().expect("8 bytes"));
    let low = u32::from_le_bytes(full[8..12].try_into().expect("4 bytes"));
    (high, low)
}

/// An hour number as stored here (hours of years 0 to 9999 fit an `i32`).
fn narrow(hour: i64) -> i32 {
    hour.clamp(i32::MIN.into(), i32::MAX.into()) as i32
}

impl Default for KnownMembers {
    fn default() -> Self {
        Self::with_capacity(GENERATION_CAPACITY)
    }
}

impl KnownMembers {
    /// Remembers up to `capacity` keys per generation (two generations).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { generations: Mutex::new(Generations::default()), capacity: capacity.max(1), enabled: true }
    }

    /// Remembers nothing: every membership is read each time.
    pub fn disabled() -> Self {
        Self { enabled: false, ..Self::with_capacity(1) }
    }

    /// The remembered first-seen hour of each of `keys` (`None`: not known
    /// to exist), in `keys`' order.
    pub fn first_hours<'a>(&self, keys: impl IntoIterator<Item = &'a Key>) -> Vec<Option<i64>> {
        let keys = keys.into_iter();
        if !self.enabled {
            return keys.map(|_| None).collect();
        }
        let digests: Vec<Digest96> = keys.map(digest).collect();
        let mut generations = self.generations.lock().expect("known members poisoned");
        digests.into_iter().map(|digest| generations.hour(digest, self.capacity).map(i64::from)).collect()
    }

    /// Records memberships the store holds, each with the hour (number) of
    /// its first-seen time as read or as just written.
    pub fn remember<'a>(&self, entries: impl IntoIterator<Item = (&'a Key, i64)>) {
        if !self.enabled {
            return;
        }
        let entries: Vec<(Digest96, i32)> =
            entries.into_iter().map(|(key, hour)| (digest(key), narrow(hour))).collect();
        let mut generations = self.generations.lock().expect("known members poisoned");
        for (digest, hour) in entries {
            generations.insert(digest, hour, self.capacity);
        }
    }

    /// How many keys are remembered now.
    pub fn len(&self) -> usize {
        let generations = self.generations.lock().expect("known members poisoned");
        generations.current.len() + generations.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Key {
        Key::new(format!("MEM#t#T#user-{i}"), "S")
    }

    #[test]
    fn remembers_what_it_is_told_and_nothing_else() {
        let known = KnownMembers::default();
        known.remember([(&key(1), 10), (&key(2), -5)]);
        assert_eq!(known.first_hours(&[key(1), key(3), key(2)]), [Some(10), None, Some(-5)]);
        // A moved first-seen time replaces the remembered one.
        known.remember([(&key(1), 7)]);
        assert_eq!(known.first_hours(&[key(1)]), [Some(7)]);
        // pk/sk boundaries matter: ("ab", "c") is not ("a", "bc").
        known.remember([(&Key::new("ab", "c"), 1)]);
        assert_eq!(known.first_hours(&[Key::new("a", "bc")]), [None]);
    }

    #[test]
    fn a_disabled_cache_knows_nothing() {
        let known = KnownMembers::disabled();
        known.remember([(&key(1), 1)]);
        assert_eq!(known.first_hours(&[key(1)]), [None]);
        assert!(known.is_empty());
    }

    #[test]
    fn memory_is_bounded_and_recent_keys_survive() {
        let known = KnownMembers::with_capacity(100);
        for i in 0..1_000 {
            known.remember([(&key(i), i as i64)]);
            // Key 0 is used all along, so it keeps moving forward.
            assert_eq!(known.first_hours(&[key(0)]), [Some(0)], "after {i}");
        }
        assert!(known.len() <= 200, "{}", known.len());
        assert_eq!(known.first_hours(&[key(999), key(500)]), [Some(999), None]);
    }
}
