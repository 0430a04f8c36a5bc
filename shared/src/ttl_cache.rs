//! A small time-bounded cache, shared by the handlers (API keys, tenant
//! settings) and the batch writer (tenant settings).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A small cache whose entries expire `ttl` after they were put: what a
/// request would otherwise read from the store every time, and may see
/// up to `ttl` late when another process changes it.
pub struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> TtlCache<V> {
    const MAX_ENTRIES: usize = 10_000;

    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().expect("cache poisoned");
        entries.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(value, _)| value.clone())
    }

    pub fn put(&self, key: String, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("cache poisoned");
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Forgets the entries `forget` names.
    pub fn forget_where(&self, forget: impl Fn(&str, &V) -> bool) {
        self.entries.lock().expect("cache poisoned").retain(|key, (value, _)| !forget(key, value));
    }
}
