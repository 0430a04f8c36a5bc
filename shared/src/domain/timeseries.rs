//! Time series from the hourly bucket counters: hours rolled up to the
//! requested interval, with empty buckets present as zeros.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use super::counting::{CONVERSIONS, EVENTS, NEW_CONVERTED_USERS, NEW_USERS};
use crate::store::Item;

/// Most buckets one response may hold.
pub const MAX_BUCKETS: usize = 5000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hour,
    Day,
}

impl Interval {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "hour" => Some(Interval::Hour),
            "day" => Some(Interval::Day),
            _ => None,
        }
    }

    fn step(self) -> TimeDelta {
        match self {
            Interval::Hour => TimeDelta::hours(1),
            Interval::Day => TimeDelta::days(1),
        }
    }

    /// The earliest start a series ending at `end` may have within
    /// [`MAX_BUCKETS`]: where a view with an open start begins at the latest.
    pub fn earliest_start(self, end: DateTime<Utc>) -> DateTime<Utc> {
        let span = self.step() * (MAX_BUCKETS as i32 - 1);
        self.floor(end).checked_sub_signed(span).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The start of the bucket an instant falls in.
    pub fn floor(self, instant: DateTime<Utc>) -> DateTime<Utc> {
        instant.duration_trunc(self.step()).unwrap_or(instant)
    }
}

/// What one hourly bucket item counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketTotals {
    pub events: u64,
    pub conversions: u64,
    pub new_users: u64,
    pub new_converted_users: u64,
}

impl BucketTotals {
    pub fn from_item(item: &Item) -> Self {
        let read = |attr: &str| item.get(attr).and_then(Value::as_u64).unwrap_or(0);
        Self {
            events: read(EVENTS),
            conversions: read(CONVERSIONS),
            new_users: read(NEW_USERS),
            new_converted_users: read(NEW_CONVERTED_USERS),
        }
    }

    fn add(&mut self, other: &BucketTotals) {
        self.events += other.events;
        self.conversions += other.conversions;
        self.new_users += other.new_users;
        self.new_converted_users += other.new_converted_users;
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    #[serde(with = "super::event::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub totals: BucketTotals,
    pub variants: BTreeMap<String, BucketTotals>,
}

impl Bucket {
    /// What the bucket counts beyond its variants' series: the events of
    /// the variants not listed (and of events without a variant). The new
    /// users of a user new in two variants count once here and twice in
    /// the variants, so the differences stop at zero.
    pub fn other_than_variants(&self) -> BucketTotals {
        let mut rest = self.totals;
        for listed in self.variants.values() {
            rest.events = rest.events.saturating_sub(listed.events);
            rest.conversions = rest.conversions.saturating_sub(listed.conversions);
            rest.new_users = rest.new_users.saturating_sub(listed.new_users);
            rest.new_converted_users = rest.new_converted_users.saturating_sub(listed.new_converted_users);
        }
        rest
    }
}

/// Parses an hourly bucket key (`YYYY-MM-DDTHH`).
pub fn parse_hour(key: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&format!("{key}:00:00Z")).ok().map(|t| t.with_timezone(&Utc))
}

/// Rolls hourly series up into `interval` buckets from `start` to `end`
/// (inclusive), filling gaps with zeros. `overall` is the scope's series;
/// `variants` one series per variant.
pub fn assemble(
    interval: Interval,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    overall: &[(String, BucketTotals)],
    variants: &BTreeMap<String, Vec<(String, BucketTotals)>>,
) -> Vec<Bucket> {
    let mut buckets: BTreeMap<DateTime<Utc>, Bucket> = BTreeMap::new();
    let mut at = interval.floor(start);
    while at <= end && buckets.len() < MAX_BUCKETS {
        let empty = variants.keys().map(|name| (name.clone(), BucketTotals::default())).collect();
        buckets.insert(at, Bucket { start: at, totals: BucketTotals::default(), variants: empty });
        match at.checked_add_signed(interval.step()) {
            Some(next) => at = next,
            None => break,
        }
    }
    let slot = |key: &str| parse_hour(key).map(|hour| interval.floor(hour));
    for (key, totals) in overall {
        if let Some(bucket) = slot(key).and_then(|s| buckets.get_mut(&s)) {
            bucket.totals.add(totals);
        }
    }
    for (name, series) in variants {
        for (key, totals) in series {
            if let Some(bucket) = slot(key).and_then(|s| buckets.get_mut(&s)) {
                bucket.variants.entry(name.clone()).or_default().add(totals);
            }
        }
    }
    buckets.into_values().collect()
}

/// How many buckets a range would take.
pub fn bucket_count(interval: Interval, start: DateTime<Utc>, end: DateTime<Utc>) -> usize {
    let span = interval.floor(end) - interval.floor(start);
    (span.num_seconds() / interval.step().num_seconds()).max(0) as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(events: u64, new_users: u64) -> BucketTotals {
        BucketTotals { events, conversions: 0, new_users, new_converted_users: 0 }
    }

    #[test]
    fn rolls_hours_into_days_and_fills_gaps() {
        let start: DateTime<Utc> = "2026-11-01T05:00:00Z".parse().unwrap();
        let end: DateTime<Utc> = "2026-11-03T23:00:00Z".parse().unwrap();
        let overall =
            vec![("2026-11-01T06".to_owned(), totals(2, 1)), ("2026-11-01T23".to_owned(), totals(3, 2))];
        let variants = BTreeMap::from([("A".to_owned(), vec![("2026-11-03T00".to_owned(), totals(4, 4))])]);
        let buckets = assemble(Interval::Day, start, end, &overall, &variants);
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[0].start, "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(buckets[0].totals, totals(5, 3));
        assert_eq!(buckets[1].totals, BucketTotals::default());
        assert_eq!(buckets[1].variants["A"], BucketTotals::default(), "empty buckets list every variant");
        assert_eq!(buckets[2].variants["A"], totals(4, 4));
        assert_eq!(bucket_count(Interval::Hour, start, end), 67);
        let json = serde_json::to_value(&buckets[0]).unwrap();
        assert_eq!(json["start"], "2026-11-01T00:00:00Z");
        assert_eq!(json["newUsers"], 3);
    }
}
