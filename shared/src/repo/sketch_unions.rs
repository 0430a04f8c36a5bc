//! The union of a range's stored sketches, with the union of its past days
//! remembered by the versions it was made of.
//!
//! A 30-day range unions 30 day sketches per scope and kind of user, and a
//! dense one costs about 70 µs to merge (a pass over 16,384 registers and a
//! rebuilt estimator): most of a range summary's time. The dashboard asks
//! for the same range on every load, and past days change seldom (only late
//! events reach them) while the latest changes with every batch. So the
//! union of all of a range's days but the latest is kept, with the version
//! of each day sketch it was made of; a read whose days still have those
//! versions starts from it and merges only the rest. A changed day or
//! another first day misses, so an answer is never staler than the store.

use std::sync::{Arc, Mutex};

use super::two_generations::TwoGenerations;
use super::user_sketches::RangeSketches;
use crate::domain::distinct::{UnreadableSketch, UserSketch, UserUnion};

/// Remembered unions per generation: about 16 KiB each.
const CAPACITY: usize = 128;

/// The union of some days' sketches, and what it was made of.
struct Remembered {
    /// Sort key and version of each day sketch, oldest first.
    made_of: Vec<(String, i64)>,
    union: UserUnion,
}

/// The unions this process remembers, shared by its range reads. Keyed by
/// the sketches partition and the first day's sort key (which names the
/// kind of user): a range ending later than a remembered one reuses it.
#[derive(Clone)]
pub struct SketchUnions {
    remembered: Arc<Mutex<TwoGenerations<(String, String), Remembered>>>,
}

impl Default for SketchUnions {
    fn default() -> Self {
        Self { remembered: Arc::new(Mutex::new(TwoGenerations::new(CAPACITY))) }
    }
}

impl SketchUnions {
    /// The union of every sketch of `range`. CPU work: call it off the
    /// async runtime's threads.
    pub fn union_of(&self, range: &RangeSketches) -> Result<UserUnion, UnreadableSketch> {
        let mut union = self.union_of_days(range)?;
        for hour in &range.hours {
            union.add(&UserSketch::from_stored(hour)?);
        }
        Ok(union)
    }

    fn union_of_days(&self, range: &RangeSketches) -> Result<UserUnion, UnreadableSketch> {
        let days = &range.days;
        let Some(first) = days.first() else {
            return Ok(UserUnion::default());
        };
        let key = (range.partition.clone(), first.sk.clone());
        let (reused, mut union) = {
            let mut remembered = self.remembered.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            remembered
                .get(&key)
                .filter(|kept| {
                    kept.made_of.len() <= days.len()
                        && kept
                            .made_of
                            .iter()
                            .zip(days)
                            .all(|((sk, version), day)| *sk == day.sk && *version == day.version)
                })
                .map_or((0, UserUnion::default()), |kept| (kept.made_of.len(), kept.union.clone()))
        };
        // The latest day is the one still being written: remember the
        // union of the days before it.
        let settled = days.len() - 1;
        for (at, day) in days.iter().enumerate().skip(reused) {
            if at == settled && settled > reused {
                let made_of = days[..settled].iter().map(|day| (day.sk.clone(), day.version)).collect();
                let kept = Remembered { made_of, union: union.clone() };
                let mut remembered = self.remembered.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                remembered.insert(key.clone(), kept);
            }
            union.add(&UserSketch::from_stored(&day.sketch)?);
        }
        Ok(union)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::distinct::coupon_of;
    use crate::repo::user_sketches::StoredSketch;

    fn day(n: usize, version: i64, users: std::ops::Range<u32>) -> StoredSketch {
        let mut sketch = UserSketch::default();
        users.for_each(|user| {
            sketch.add(coupon_of(&format!("u{user}")));
        });
        StoredSketch { sk: format!("S#D#{n:02}"), version, sketch: sketch.to_stored() }
    }

    fn range(days: Vec<StoredSketch>) -> RangeSketches {
        RangeSketches { partition: "SKT#t#T".into(), days, hours: Vec::new() }
    }

    fn remembered_days(unions: &SketchUnions, first_sk: &str) -> Option<usize> {
        let key = ("SKT#t#T".to_owned(), first_sk.to_owned());
        unions.remembered.lock().unwrap().get(&key).map(|kept| kept.made_of.len())
    }

    #[test]
    fn past_days_are_reused_only_while_their_versions_hold() {
        let unions = SketchUnions::default();
        let first = range(vec![day(1, 1, 0..100), day(2, 1, 50..150), day(3, 1, 150..160)]);
        assert_eq!(unions.union_of(&first).unwrap().users(), 160);
        assert_eq!(remembered_days(&unions, "S#D#01"), Some(2));

        // The latest day grew: days 1 and 2 are reused, the answer is new.
        let grown = range(vec![day(1, 1, 0..100), day(2, 1, 50..150), day(3, 2, 150..200)]);
        assert_eq!(unions.union_of(&grown).unwrap().users(), 200);
        // Reused indeed: the same versions are taken to hold the same users
        // (a stored sketch never changes without a new version).
        let same_versions = range(vec![day(1, 1, 0..1), day(2, 1, 0..1), day(3, 2, 150..200)]);
        assert_eq!(unions.union_of(&same_versions).unwrap().users(), 200);

        // A late event changed day 1: its new version is read, not the
        // remembered union, and the union of days 1–2 is remembered anew.
        let late = range(vec![day(1, 2, 0..300), day(2, 1, 50..150), day(3, 2, 150..200)]);
        assert_eq!(unions.union_of(&late).unwrap().users(), 300);
        let recounted = range(vec![day(1, 3, 0..500), day(2, 1, 50..150), day(3, 2, 150..200)]);
        assert_eq!(unions.union_of(&recounted).unwrap().users(), 500);

        // A longer range from the same first day reuses the prefix; one day
        // or none needs nothing remembered.
        let longer =
            range(vec![day(1, 3, 0..500), day(2, 1, 50..150), day(3, 2, 150..200), day(4, 1, 600..601)]);
        assert_eq!(unions.union_of(&longer).unwrap().users(), 501);
        assert_eq!(remembered_days(&unions, "S#D#01"), Some(3));
        assert_eq!(unions.union_of(&range(vec![day(9, 1, 0..3)])).unwrap().users(), 3);
        assert_eq!(remembered_days(&unions, "S#D#09"), None);
        assert_eq!(unions.union_of(&range(Vec::new())).unwrap().users(), 0);
    }

    #[test]
    fn hours_outside_the_days_are_added() {
        let unions = SketchUnions::default();
        let mut with_hours = range(vec![day(1, 1, 0..10), day(2, 1, 10..20)]);
        with_hours.hours = vec![day(0, 1, 15..40).sketch];
        assert_eq!(unions.union_of(&with_hours).unwrap().users(), 40);
    }
}
