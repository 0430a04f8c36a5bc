//! Time series from the hourly bucket counters: hours rolled up to the
//! requested interval, with empty buckets present as zeros. Days are the
//! days of a time zone (`tz`, UTC by default); hours are UTC hours, which
//! are local hours too in every zone with a whole-hour offset.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::time_range::{day_in, start_of_day};

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
}

/// Where a series' buckets start: UTC hours, or the days of a time zone
/// (23 or 25 hours long where clocks change).
#[derive(Clone, Copy, Debug)]
pub struct Calendar {
    pub interval: Interval,
    pub tz: Tz,
}

impl Calendar {
    /// The start of the bucket an instant falls in.
    pub fn floor(self, instant: DateTime<Utc>) -> DateTime<Utc> {
        match self.interval {
            Interval::Hour => instant.duration_trunc(TimeDelta::hours(1)).unwrap_or(instant),
            Interval::Day => start_of_day(self.tz, day_in(self.tz, &instant)),
        }
    }

    /// The start of the bucket after the one starting at `start`.
    fn next(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.interval {
            Interval::Hour => start.checked_add_signed(TimeDelta::hours(1)),
            Interval::Day => day_in(self.tz, &start).succ_opt().map(|day| start_of_day(self.tz, day)),
        }
    }

    /// The earliest start a series ending at `end` may have within
    /// [`MAX_BUCKETS`]: where a view with an open start begins at the latest.
    pub fn earliest_start(self, end: DateTime<Utc>) -> DateTime<Utc> {
        let span = match self.interval {
            Interval::Hour => TimeDelta::hours(1),
            Interval::Day => TimeDelta::days(1),
        } * (MAX_BUCKETS as i32 - 1);
        // A day of the zone is 23 to 25 hours: floor again, and step
        // forward while the count is over.
        let mut start =
            self.floor(self.floor(end).checked_sub_signed(span).unwrap_or(DateTime::<Utc>::MIN_UTC));
        while bucket_count(self, start, end) > MAX_BUCKETS {
            match self.next(start) {
                Some(next) => start = next,
                None => break,
            }
        }
        start
    }

    /// Whether every bucket boundary between `start` and `end` falls on a
    /// UTC hour, so hourly counters split into buckets exactly. Not in
    /// zones with a half-hour offset (India, parts of Australia): an hour
    /// that straddles their midnight counts in the day it starts in.
    pub fn aligned_to_hours(self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let mut at = self.floor(start);
        let mut seen = 0;
        while at <= end && seen <= MAX_BUCKETS {
            if at.minute() != 0 || at.second() != 0 || at.nanosecond() != 0 {
                return false;
            }
            seen += 1;
            match self.next(at) {
                Some(next) => at = next,
                None => break,
            }
        }
        true
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
    calendar: Calendar,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    overall: &[(String, BucketTotals)],
    variants: &BTreeMap<String, Vec<(String, BucketTotals)>>,
) -> Vec<Bucket> {
    let mut buckets: BTreeMap<DateTime<Utc>, Bucket> = BTreeMap::new();
    let mut at = calendar.floor(start);
    while at <= end && buckets.len() < MAX_BUCKETS {
        let empty = variants.keys().map(|name| (name.clone(), BucketTotals::default())).collect();
        buckets.insert(at, Bucket { start: at, totals: BucketTotals::default(), variants: empty });
        match calendar.next(at) {
            Some(next) => at = next,
            None => break,
        }
    }
    let slot = |key: &str| parse_hour(key).map(|hour| calendar.floor(hour));
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
pub fn bucket_count(calendar: Calendar, start: DateTime<Utc>, end: DateTime<Utc>) -> usize {
    let span = calendar.floor(end) - calendar.floor(start);
    match calendar.interval {
        Interval::Hour => (span.num_seconds() / 3600).max(0) as usize + 1,
        // Days of 23 to 25 hours: a span of n days is within an hour of
        // n × 24 hours, so rounding to the nearest day counts them exactly.
        Interval::Day => ((span.num_seconds() + 43_200).div_euclid(86_400)).max(0) as usize + 1,
    }
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
        let days = Calendar { interval: Interval::Day, tz: Tz::UTC };
        let buckets = assemble(days, start, end, &overall, &variants);
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[0].start, "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(buckets[0].totals, totals(5, 3));
        assert_eq!(buckets[1].totals, BucketTotals::default());
        assert_eq!(buckets[1].variants["A"], BucketTotals::default(), "empty buckets list every variant");
        assert_eq!(buckets[2].variants["A"], totals(4, 4));
        assert_eq!(bucket_count(Calendar { interval: Interval::Hour, tz: Tz::UTC }, start, end), 67);
        let json = serde_json::to_value(&buckets[0]).unwrap();
        assert_eq!(json["start"], "2026-11-01T00:00:00Z");
        assert_eq!(json["newUsers"], 3);
    }

    #[test]
    fn days_of_a_time_zone_have_23_to_25_hours() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let paris = Calendar { interval: Interval::Day, tz: "Europe/Paris".parse().unwrap() };
        // Clocks go back on 2026-10-25: that day has 25 hours.
        let (start, end) = (at("2026-10-24T00:00:00Z"), at("2026-10-26T12:00:00Z"));
        let overall = vec![
            ("2026-10-24T21".to_owned(), totals(1, 1)), // 23:00 in Paris (UTC+2): the 24th
            ("2026-10-24T22".to_owned(), totals(2, 0)), // midnight: the 25th
            ("2026-10-25T22".to_owned(), totals(4, 0)), // 23:00 (UTC+1): still the 25th
            ("2026-10-25T23".to_owned(), totals(8, 0)), // midnight: the 26th
        ];
        let buckets = assemble(paris, start, end, &overall, &BTreeMap::new());
        let starts: Vec<DateTime<Utc>> = buckets.iter().map(|b| b.start).collect();
        assert_eq!(
            starts,
            [at("2026-10-23T22:00:00Z"), at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z")]
        );
        assert_eq!(buckets.iter().map(|b| b.totals.events).collect::<Vec<_>>(), [1, 6, 8]);
        assert_eq!(bucket_count(paris, start, end), 3);
        assert!(paris.aligned_to_hours(start, end));
        // A year of days, across both changes.
        assert_eq!(bucket_count(paris, at("2026-01-01T12:00:00Z"), at("2026-12-31T12:00:00Z")), 365);
        let india = Calendar { interval: Interval::Day, tz: "Asia/Kolkata".parse().unwrap() };
        assert_eq!(india.floor(at("2026-11-03T12:00:00Z")), at("2026-11-02T18:30:00Z"));
        assert!(!india.aligned_to_hours(start, end));
        // An open start goes back at most MAX_BUCKETS days of the zone.
        let end = at("2026-12-02T12:00:00Z");
        assert_eq!(bucket_count(paris, paris.earliest_start(end), end), MAX_BUCKETS);
    }
}
