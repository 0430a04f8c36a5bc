//! A bounded map in two generations: when the current one is full it
//! becomes the previous one and the oldest is dropped; a hit in the
//! previous generation moves forward. A working set up to one generation's
//! size stays in memory, at the cost of no bookkeeping per access.

use std::hash::Hash;

use foldhash::HashMap;

pub struct TwoGenerations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    capacity: usize,
}

impl<K: Hash + Eq, V> TwoGenerations<K, V> {
    /// At most `capacity` entries per generation (two generations).
    pub fn new(capacity: usize) -> Self {
        Self { current: HashMap::default(), previous: HashMap::default(), capacity: capacity.max(1) }
    }

    /// Takes an entry out; [`TwoGenerations::insert`] puts it back.
    pub fn take(&mut self, key: &K) -> Option<V> {
        self.current.remove(key).or_else(|| self.previous.remove(key))
    }

    pub fn get(&mut self, key: &K) -> Option<&V>
    where
        K: Clone,
    {
        if !self.current.contains_key(key) {
            let moved = self.previous.remove(key)?;
            self.insert_new(key.clone(), moved);
        }
        self.current.get(key)
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.previous.remove(&key);
        self.insert_new(key, value);
    }

    fn insert_new(&mut self, key: K, value: V) {
        if self.current.len() >= self.capacity && !self.current.contains_key(&key) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_one_generation_and_moves_hits_forward() {
        let mut map = TwoGenerations::new(2);
        map.insert(1, "a");
        map.insert(2, "b");
        // Full: 1 and 2 become the previous generation.
        map.insert(3, "c");
        assert_eq!(map.get(&1), Some(&"a"));
        // 1 moved forward beside 3; the next turnover drops 2, not 1.
        map.insert(4, "d");
        map.insert(5, "e");
        assert_eq!(map.get(&2), None);
        assert_eq!(map.get(&1), Some(&"a"));
        assert_eq!(map.take(&5), Some("e"));
        assert_eq!(map.take(&5), None);
        // Replacing an entry does not count against the capacity.
        let mut map = TwoGenerations::new(1);
        map.insert(1, "a");
        map.insert(1, "b");
        assert_eq!(map.get(&1), Some(&"b"));
    }
}
