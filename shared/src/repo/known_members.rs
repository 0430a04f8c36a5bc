//! Membership items this process has seen in the store, so the batch writer
//! need not read them again.
//!
//! Counting a unique user exactly once means reading, for every event, the
//! membership items of its user in each scope (four or more per event), and
//! returning users are the common case. Memberships are never deleted, so
//! once one is known to exist it stays known: skipping its read changes
//! nothing in the plan. Keys are remembered once read back as existing, or
//! once the transaction that created them has committed; never when merely
//! planned, so a failed transaction cannot leave a false entry.
//!
//! Keys are remembered by a 128-bit SHA-256 prefix (16 bytes instead of a
//! key's ~80): a collision, which would skip counting a new user, is as
//! likely as guessing a 128-bit secret, also for a tenant choosing user ids
//! on purpose. Memory is bounded by two generations: when the current one
//! is full it becomes the previous one and the oldest is dropped; hits in
//! the previous generation move forward, so a working set up to one
//! generation's size stays cached.

use foldhash::HashSet;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::store::Key;

/// Digests per generation: at most ≈ 4.5 MB of table each.
const GENERATION_CAPACITY: usize = 200_000;

type Digest128 = u128;

pub struct KnownMembers {
    generations: Mutex<Generations>,
    capacity: usize,
    enabled: bool,
}

#[derive(Default)]
struct Generations {
    current: HashSet<Digest128>,
    previous: HashSet<Digest128>,
}

impl Generations {
    fn insert(&mut self, digest: Digest128, capacity: usize) {
        if self.current.len() >= capacity {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(digest);
    }
}

fn digest(key: &Key) -> Digest128 {
    let mut hasher = Sha256::new();
    hasher.update(key.pk.as_bytes());
    // Keys never contain NUL, so this separates pk from sk unambiguously.
    hasher.update([0]);
    hasher.update(key.sk.as_bytes());
    let full = hasher.finalize();
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&full[..16]);
    Digest128::from_le_bytes(prefix)
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

    /// Whether each of `keys` is known to exist, in `keys`' order.
    pub fn known(&self, keys: &[Key]) -> Vec<bool> {
        if !self.enabled {
            return vec![false; keys.len()];
        }
        let digests: Vec<Digest128> = keys.iter().map(digest).collect();
        let mut generations = self.generations.lock().expect("known members poisoned");
        digests
            .into_iter()
            .map(|digest| {
                if generations.current.contains(&digest) {
                    true
                } else if generations.previous.remove(&digest) {
                    generations.insert(digest, self.capacity);
                    true
                } else {
                    false
                }
            })
            .collect()
    }

    /// Records keys that a read found in the store.
    pub fn remember<'a>(&self, keys: impl IntoIterator<Item = &'a Key>) {
        if !self.enabled {
            return;
        }
        let digests: Vec<Digest128> = keys.into_iter().map(digest).collect();
        let mut generations = self.generations.lock().expect("known members poisoned");
        for digest in digests {
            generations.insert(digest, self.capacity);
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
        known.remember([&key(1), &key(2)]);
        assert_eq!(known.known(&[key(1), key(3), key(2)]), [true, false, true]);
        // pk/sk boundaries matter: ("ab", "c") is not ("a", "bc").
        known.remember([&Key::new("ab", "c")]);
        assert_eq!(known.known(&[Key::new("a", "bc")]), [false]);
    }

    #[test]
    fn a_disabled_cache_knows_nothing() {
        let known = KnownMembers::disabled();
        known.remember([&key(1)]);
        assert_eq!(known.known(&[key(1)]), [false]);
        assert!(known.is_empty());
    }

    #[test]
    fn memory_is_bounded_and_recent_keys_survive() {
        let known = KnownMembers::with_capacity(100);
        for i in 0..1_000 {
            known.remember([&key(i)]);
            // Key 0 is used all along, so it keeps moving forward.
            assert_eq!(known.known(&[key(0)]), [true], "after {i}");
        }
        assert!(known.len() <= 200, "{}", known.len());
        assert_eq!(known.known(&[key(999), key(500)]), [true, false]);
    }
}
