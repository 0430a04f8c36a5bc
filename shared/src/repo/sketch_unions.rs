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
    /// The remembered union of the first days of a range whose day
    /// sketches have `day_versions` (sort key and version, oldest first),
    /// and how many days it holds: only while each of those days still has
    /// the version it was made of, and no day was added among them.
    pub fn reusable(&self, partition: &str, day_versions: &[(String, i64)]) -> Option<(usize, UserUnion)> {
        let first = day_versions.first()?;
        let key = (partition.to_owned(), first.0.clone());
        let mut remembered = self.remembered.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let kept = remembered.get(&key)?;
        let holds = kept.made_of.len() <= day_versions.len()
            && kept.made_of[..] == day_versions[..kept.made_of.len()];
        holds.then(|| (kept.made_of.len(), kept.union.clone()))
    }

    /// The union of every sketch of `range`. CPU work: call it off the
    /// async runtime's threads.
    pub fn union_of(&self, range: &RangeSketches) -> Result<UserUnion, UnreadableSketch> {
        let mut union = self.union_of_days(range)?;
        for sketch in range.hours.iter().chain(&range.unmarked) {
            union.add(&UserSketch::from_stored(sketch)?);
        }
        Ok(union)
    }

    /// The reused union plus the range's other day sketches; the union of
    /// all its days but the latest (the one still being written) is
    /// remembered when it holds more days than the reused one.
    fn union_of_days(&self, range: &RangeSketches) -> Result<UserUnion, UnreadableSketch> {
        let mut union = range.start.clone();
        let Some(first) = range.day_versions[..range.reused]
            .first()
            .map(|(sk, _)| sk)
            .or(range.days.first().map(|day| &day.sk))
        else {
            return Ok(union);
        };
        let key = (range.partition.clone(), first.clone());
        let settled = range.reused + range.days.len() - 1;
        for (at, day) in range.days.iter().enumerate() {
            if range.reused + at == settled && settled > range.reused {
                let made_of = range.day_versions[..range.reused]
                    .iter()
                    .cloned()
                    .chain(range.days[..at].iter().map(|day| (day.sk.clone(), day.version)))
                    .collect();
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

    /// What a range read gets when every day sketch has its version
    /// marker: the versions, then the sketches after the reused days.
    fn read(unions: &SketchUnions, days: Vec<StoredSketch>) -> RangeSketches {
        let versions: Vec<(String, i64)> = days.iter().map(|day| (day.sk.clone(), day.version)).collect();
        read_marked(unions, days, versions)
    }

    fn read_marked(
        unions: &SketchUnions,
        days: Vec<StoredSketch>,
        day_versions: Vec<(String, i64)>,
    ) -> RangeSketches {
        let partition = "SKT#t#T".to_owned();
        let (reused, start) = unions.reusable(&partition, &day_versions).unwrap_or_default();
        let after = reused.checked_sub(1).map(|last| day_versions[last].0.clone());
        let days =
            days.into_iter().filter(|day| after.as_ref().is_none_or(|after| day.sk > *after)).collect();
        RangeSketches {
            partition,
            day_versions,
            reused,
            start,
            days,
            unmarked: Vec::new(),
            hours: Vec::new(),
        }
    }

    fn users(unions: &SketchUnions, days: Vec<StoredSketch>) -> u64 {
        unions.union_of(&read(unions, days)).unwrap().users()
    }

    fn remembered_days(unions: &SketchUnions, first_sk: &str) -> Option<usize> {
        let key = ("SKT#t#T".to_owned(), first_sk.to_owned());
        unions.remembered.lock().unwrap().get(&key).map(|kept| kept.made_of.len())
    }

    #[test]
    fn past_days_are_reused_only_while_their_versions_hold() {
        let unions = SketchUnions::default();
        assert_eq!(users(&unions, vec![day(1, 1, 0..100), day(2, 1, 50..150), day(3, 1, 150..160)]), 160);
        assert_eq!(remembered_days(&unions, "S#D#01"), Some(2));

        // The latest day grew: days 1 and 2 are reused, not read.
        let grown = read(&unions, vec![day(1, 1, 0..100), day(2, 1, 50..150), day(3, 2, 150..200)]);
        assert_eq!((grown.reused, grown.days.len()), (2, 1));
        assert_eq!(unions.union_of(&grown).unwrap().users(), 200);
        // Reused indeed: the same versions are taken to hold the same users
        // (a stored sketch never changes without a new version).
        assert_eq!(users(&unions, vec![day(1, 1, 0..1), day(2, 1, 0..1), day(3, 2, 150..200)]), 200);

        // A late event changed day 1: its new version is read, not the
        // remembered union, and the union of days 1–2 is remembered anew.
        let late = read(&unions, vec![day(1, 2, 0..300), day(2, 1, 50..150), day(3, 2, 150..200)]);
        assert_eq!((late.reused, late.days.len()), (0, 3));
        assert_eq!(unions.union_of(&late).unwrap().users(), 300);
        assert_eq!(users(&unions, vec![day(1, 3, 0..500), day(2, 1, 50..150), day(3, 2, 150..200)]), 500);

        // A longer range from the same first day reuses the prefix; one day
        // or none needs nothing remembered.
        let longer = vec![day(1, 3, 0..500), day(2, 1, 50..150), day(3, 2, 150..200), day(4, 1, 600..601)];
        assert_eq!(users(&unions, longer), 501);
        assert_eq!(remembered_days(&unions, "S#D#01"), Some(3));
        // A shorter one cannot use the union of more days than it has.
        assert_eq!(users(&unions, vec![day(1, 3, 0..500), day(2, 1, 50..150)]), 500);
        assert_eq!(users(&unions, vec![day(9, 1, 0..3)]), 3);
        assert_eq!(remembered_days(&unions, "S#D#09"), None);
        assert_eq!(users(&unions, Vec::new()), 0);
    }

    #[test]
    fn a_day_added_among_the_remembered_ones_or_without_a_marker_is_read() {
        let unions = SketchUnions::default();
        assert_eq!(users(&unions, vec![day(1, 1, 0..100), day(3, 1, 100..150), day(4, 1, 150..160)]), 160);
        assert_eq!(remembered_days(&unions, "S#D#01"), Some(2));
        // Day 2 got its first events: it is among the remembered days.
        let added = read(
            &unions,
            vec![day(1, 1, 0..100), day(2, 1, 500..510), day(3, 1, 100..150), day(4, 1, 150..160)],
        );
        assert_eq!(added.reused, 0);
        assert_eq!(unions.union_of(&added).unwrap().users(), 170);
        // Day sketches stored before markers existed have none: no union
        // of them is reused, and every sketch is read.
        let old = vec![day(5, 1, 0..10), day(6, 1, 10..20), day(7, 1, 20..30)];
        let unmarked = |days: Vec<StoredSketch>| read_marked(&unions, days, Vec::new());
        assert_eq!(unions.union_of(&unmarked(old.clone())).unwrap().users(), 30);
        let again = unmarked(old);
        assert_eq!((again.reused, again.days.len()), (0, 3));
    }

    #[test]
    fn hours_outside_the_days_are_added() {
        let unions = SketchUnions::default();
        let mut with_hours = read(&unions, vec![day(1, 1, 0..10), day(2, 1, 10..20)]);
        with_hours.hours = vec![day(0, 1, 15..40).sketch];
        assert_eq!(unions.union_of(&with_hours).unwrap().users(), 40);
    }
}
