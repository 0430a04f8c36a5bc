//! Distinct users over any range of days: mergeable HyperLogLog sketches.
//!
//! Exact unique users need a membership per (scope, user), which answers
//! "all time" only. For a date range the batch writer also keeps, per
//! scope and hour and per scope and UTC day, a sketch of the users seen
//! (and of those who converted); a range's users are the estimate of the
//! union of the sketches that cover it. Adding a user to a sketch twice
//! changes nothing, so a redelivered batch can be merged again safely: the
//! sketches need no exactly-once bookkeeping of their own.
//!
//! Apache DataSketches' HLL (`datasketches`) with 2^14 registers of 4 bits:
//! relative standard error 1.04/√16384 ≈ 0.8 % for a union (0.65 % for one
//! sketch, by its HIP estimator), about 8 KiB when dense, and exact-ish
//! lists of hashes while a sketch holds fewer than a few thousand users.
//! Users are hashed as their UTF-8 bytes with MurmurHash3 and DataSketches'
//! fixed seed, so every process and version of the writer agrees.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use datasketches::hash::value::raw_bytes;
use datasketches::hll::{Coupon, HllSketch, HllType, HllUnion};

/// log2 of the register count.
pub const LG_K: u8 = 14;

/// A user's hash, computed once and added to every sketch the user is in.
pub fn coupon_of(user_id: &str) -> Coupon {
    Coupon::from_value(raw_bytes::from_str(user_id))
}

/// A sketch of a set of users, as stored (base64 of DataSketches'
/// serialization, so another DataSketches implementation can read it).
#[derive(Clone, Debug)]
pub struct UserSketch(HllSketch);

#[derive(Debug, thiserror::Error)]
#[error("unreadable user sketch: {0}")]
pub struct UnreadableSketch(String);

impl Default for UserSketch {
    fn default() -> Self {
        Self(HllSketch::new(LG_K, HllType::Hll4).expect("LG_K is a valid lg_config_k"))
    }
}

impl UserSketch {
    pub fn from_stored(stored: &str) -> Result<Self, UnreadableSketch> {
        let bytes = BASE64.decode(stored).map_err(|err| UnreadableSketch(err.to_string()))?;
        HllSketch::deserialize(&bytes).map(Self).map_err(|err| UnreadableSketch(err.to_string()))
    }

    pub fn to_stored(&self) -> String {
        BASE64.encode(self.0.serialize())
    }

    /// Adds a user; says whether the sketch changed (it does not for a
    /// user already in it, nor for most users once it is dense). The
    /// estimate moves whenever the registers do: by one hash in the list
    /// and set modes, by the HIP estimator's step in the dense one.
    pub fn add(&mut self, coupon: Coupon) -> bool {
        let before = self.0.estimate();
        self.0.update_with_coupon(coupon);
        self.0.estimate() != before
    }

    pub fn estimate(&self) -> f64 {
        self.0.estimate()
    }
}

/// The union of sketches: the users in any of them.
#[derive(Clone)]
pub struct UserUnion(HllUnion);

impl Default for UserUnion {
    fn default() -> Self {
        Self(HllUnion::new(LG_K).expect("LG_K is a valid lg_max_k"))
    }
}

impl UserUnion {
    pub fn add(&mut self, sketch: &UserSketch) {
        self.0.update(&sketch.0);
    }

    /// Adds the users of another union (of another shard's sketches).
    pub fn absorb(&mut self, other: &UserUnion) {
        self.0.update(&other.0.to_sketch(datasketches::hll::HllType::Hll8));
    }

    /// The estimated number of distinct users, rounded.
    pub fn users(&self) -> u64 {
        self.0.estimate().round() as u64
    }
}

/// The sketches that cover a range of whole hours exactly: the UTC days it
/// spans entirely, and the hours of the days it covers only in part.
#[derive(Debug, PartialEq, Eq)]
pub struct Cover {
    /// First and last whole day (days since the Unix epoch), if any.
    pub days: Option<(i64, i64)>,
    /// Spans of hours (hours since the Unix epoch, inclusive) outside the
    /// whole days: at most two, before and after them.
    pub hours: Vec<(i64, i64)>,
}

/// [`Cover`] of the hours `first..=last` (hours since the Unix epoch).
pub fn cover(first: i64, last: i64) -> Cover {
    if last < first {
        return Cover { days: None, hours: Vec::new() };
    }
    let first_whole_day = (first + 23).div_euclid(24);
    let last_whole_day = (last + 1).div_euclid(24) - 1;
    if first_whole_day > last_whole_day {
        return Cover { days: None, hours: vec![(first, last)] };
    }
    let mut hours = Vec::new();
    if first < first_whole_day * 24 {
        hours.push((first, first_whole_day * 24 - 1));
    }
    if last > last_whole_day * 24 + 23 {
        hours.push((last_whole_day * 24 + 24, last));
    }
    Cover { days: Some((first_whole_day, last_whole_day)), hours }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_of(users: impl IntoIterator<Item = String>) -> UserSketch {
        let mut sketch = UserSketch::default();
        for user in users {
            sketch.add(coupon_of(&user));
        }
        sketch
    }

    #[test]
    fn adding_a_user_again_changes_nothing() {
        let mut sketch = UserSketch::default();
        assert!(sketch.add(coupon_of("alice")));
        assert!(!sketch.add(coupon_of("alice")));
        // Dense too: after 100,000 users, all of them again change nothing.
        let users: Vec<String> = (0..100_000).map(|i| format!("user-{i}")).collect();
        let mut dense = sketch_of(users.iter().cloned());
        let stored = dense.to_stored();
        assert!(users.iter().all(|user| !dense.add(coupon_of(user))));
        assert_eq!(dense.to_stored(), stored);
    }

    #[test]
    fn a_stored_sketch_reads_back_the_same() {
        for n in [0, 3, 1_000, 50_000] {
            let sketch = sketch_of((0..n).map(|i| format!("u{i}")));
            let back = UserSketch::from_stored(&sketch.to_stored()).unwrap();
            assert_eq!(back.estimate(), sketch.estimate(), "{n} users");
            // The same users: adding them again changes nothing.
            let mut back = back;
            assert!((0..n).all(|i| !back.add(coupon_of(&format!("u{i}")))), "{n} users");
        }
        assert!(UserSketch::from_stored("not base64!").is_err());
        assert!(UserSketch::from_stored("AAAA").is_err());
    }

    #[test]
    fn a_dense_sketch_stays_small() {
        let sketch = sketch_of((0..1_000_000).map(|i| format!("u{i}")));
        let stored = sketch.to_stored().len();
        assert!(stored < 12 * 1024, "{stored} bytes");
    }

    #[test]
    fn small_sets_are_counted_exactly_and_unions_deduplicate() {
        // Thirty "days" of 1,000 users each, half of them returning daily.
        let mut union = UserUnion::default();
        for day in 0..30 {
            let returning = (0..500).map(|i| format!("regular-{i}"));
            let new = (0..500).map(move |i| format!("day{day}-{i}"));
            union.add(&sketch_of(returning.chain(new)));
        }
        let truth = 500 + 30 * 500;
        let error = (union.users() as f64 - truth as f64).abs() / truth as f64;
        assert!(error < 0.02, "{} vs {truth}", union.users());
        let mut small = UserUnion::default();
        small.add(&sketch_of((0..700).map(|i| format!("a{i}"))));
        small.add(&sketch_of((300..1_000).map(|i| format!("a{i}"))));
        assert_eq!(small.users(), 1_000);
    }

    #[test]
    fn union_error_is_within_two_percent_at_every_scale() {
        for n in [2_000u64, 20_000, 200_000, 2_000_000] {
            let mut union = UserUnion::default();
            // Four overlapping quarters.
            for part in 0..4 {
                let from = part * n / 4;
                union.add(&sketch_of((from..(from + n / 3).min(n)).map(|i| format!("u{i}"))));
            }
            let error = (union.users() as f64 - n as f64).abs() / n as f64;
            assert!(error < 0.02, "{n}: {}", union.users());
        }
    }

    #[test]
    fn a_cover_uses_whole_days_and_the_hours_around_them() {
        let day = 20_000;
        let h = |d: i64, hour: i64| d * 24 + hour;
        // Exactly days 1..=30.
        assert_eq!(cover(h(day, 0), h(day + 29, 23)), Cover { days: Some((day, day + 29)), hours: vec![] });
        // A day in a zone at UTC-5: 05:00 to 04:00 the next day.
        assert_eq!(
            cover(h(day, 5), h(day + 1, 4)),
            Cover { days: None, hours: vec![(h(day, 5), h(day + 1, 4))] }
        );
        // Thirty such days: 29 whole UTC days and the edges in hours.
        assert_eq!(
            cover(h(day, 5), h(day + 30, 4)),
            Cover {
                days: Some((day + 1, day + 29)),
                hours: vec![(h(day, 5), h(day, 23)), (h(day + 30, 0), h(day + 30, 4))]
            }
        );
        assert_eq!(cover(h(day, 3), h(day, 3)), Cover { days: None, hours: vec![(h(day, 3), h(day, 3))] });
        assert_eq!(cover(h(day, 3), h(day, 2)), Cover { days: None, hours: vec![] });
        // Before the epoch too.
        assert_eq!(cover(h(-2, 0), h(-1, 23)), Cover { days: Some((-2, -1)), hours: vec![] });
        // Every hour of every cover is counted once.
        for first in 0..60 {
            for last in first..first + 80 {
                let c = cover(first, last);
                let mut hours: Vec<i64> = c.hours.iter().flat_map(|&(a, b)| a..=b).collect();
                if let Some((a, b)) = c.days {
                    hours.extend(a * 24..(b + 1) * 24);
                }
                hours.sort();
                assert_eq!(hours, (first..=last).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn hashes_are_fixed_across_processes() {
        // Murmur3 x64-128 of the UTF-8 bytes with DataSketches' seed 9001,
        // pinned: a sketch written by another build must mean the same
        // users. The reference is Python's `mmh3`:
        //   lo, hi = mmh3.hash64(b"alice", seed=9001, x64arch=True, signed=False)
        //   ((min(64 - hi.bit_length(), 62) + 1) << 26) | (lo & (2**26 - 1))
        assert_eq!(format!("{:?}", coupon_of("alice")), "Coupon(125370542)");
    }
}
