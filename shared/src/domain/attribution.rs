//! First-touch attribution: which campaign row a user's activity counts in,
//! and what each user adds to the daily rollups a campaign report sums.
//!
//! A user's **first touch** is the campaign fields of their earliest event
//! (in event time) that has any; a user with none is Direct. Everything a
//! user adds to the report is credited to that one row, so rows sum to the
//! totals and coarser groupings (a channel, a source) are sums of rows.
//!
//! What a user adds is a pure function of the *set* of their events —
//! [`UserAttribution`]: the first touch, the UTC days they were active, and
//! their conversions per day — so the order events arrive in changes
//! nothing. When a late event changes it (an earlier touch, a new day), the
//! rollups move by the difference of the two states' [`contributions`]
//! ([`changes`]), in the transaction that stores the event.
//!
//! Distinct users over any range of days are exact without a sketch: for
//! each pair of consecutive active days `(d, d')` of a user (and the last
//! day, with no next) the user adds one to day `d`'s count for the gap
//! `d' − d`. A user is active in `[a, b]` exactly when one such pair has
//! `a ≤ d ≤ b < d'`: the last active day in the range. So a range's users
//! are read from its days' items alone ([`RowDay::users_through`]).
//!
//! The campaign × variant cross-tab and the custom dimensions are the same
//! arithmetic per [`Segment`]: a user's events tagged with an experiment
//! arm (or with one value of a dimension) give that segment's active days
//! and conversions, which go to the segment's [`Cell`] of the user's row.
//!
//! [`contributions`]: UserAttribution::contributions

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::campaign::{Channel, Touch};
use super::metric::Tally;
use super::time_range;

/// Days since the Unix epoch, UTC.
pub type Day = i64;

pub fn day_number(at: &DateTime<Utc>) -> Day {
    at.timestamp().div_euclid(86_400)
}

/// Days from 0001-01-01 (chrono's first day of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// The number of the day `at` falls on in `zone`: the days from 1970-01-01
/// to its date there, so that [`day_date`] shows that local date.
pub fn day_number_in(at: &DateTime<Utc>, zone: Tz) -> Day {
    if zone == Tz::UTC {
        return day_number(at);
    }
    date_number(time_range::day_in(zone, at))
}

/// The number of a calendar date, as [`day_number_in`] numbers days.
pub fn date_number(date: NaiveDate) -> Day {
    i64::from(date.num_days_from_ce()) - UNIX_EPOCH_DAYS_FROM_CE
}

/// The day's date, `YYYY-MM-DD`, as reports show it.
pub fn day_date(day: Day) -> String {
    DateTime::from_timestamp(day.saturating_mul(86_400), 0).unwrap_or_default().format("%Y-%m-%d").to_string()
}

/// What a report shows for a campaign field an event did not have.
pub const NOT_SET: &str = "(not set)";

pub use super::metric::{MAX_REVENUE_VALUE, REVENUE_SCALE};

/// The revenue a conversion with these properties adds, in millionths: its
/// numeric `value` (none, or not a number, adds nothing).
pub fn revenue_of(properties: &Map<String, Value>) -> i64 {
    super::metric::value_of(properties, "value")
}

/// A campaign report's finest row: the fields of a first touch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Row {
    pub channel: Channel,
    pub source: String,
    pub medium: String,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

impl Row {
    pub fn of(touch: &Touch) -> Row {
        Row {
            channel: touch.channel(),
            source: touch.source.clone(),
            medium: touch.medium.clone(),
            campaign: touch.campaign.clone(),
            term: touch.term.clone(),
            content: touch.content.clone(),
        }
    }

    /// The row of users with no touch.
    pub fn direct() -> Row {
        Row::of(&Touch::direct())
    }
}

/// What a campaign report's rows are: one of a row's fields, or source and
/// medium together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Channel,
    Source,
    Medium,
    Campaign,
    Term,
    Content,
    SourceMedium,
}

impl GroupBy {
    pub const ALL: [GroupBy; 7] = [
        GroupBy::Channel,
        GroupBy::Source,
        GroupBy::Medium,
        GroupBy::Campaign,
        GroupBy::Term,
        GroupBy::Content,
        GroupBy::SourceMedium,
    ];
    pub const NAMES: [&str; 7] =
        ["channel", "source", "medium", "campaign", "term", "content", "source_medium"];

    pub fn parse(name: &str) -> Option<GroupBy> {
        Some(match name {
            "channel" => GroupBy::Channel,
            "source" => GroupBy::Source,
            "medium" => GroupBy::Medium,
            "campaign" => GroupBy::Campaign,
            "term" => GroupBy::Term,
            "content" => GroupBy::Content,
            "source_medium" => GroupBy::SourceMedium,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The report row a first-touch row falls in.
    pub fn key(self, row: &Row) -> String {
        let or_not_set = |value: &Option<String>| value.clone().unwrap_or_else(|| NOT_SET.to_owned());
        match self {
            GroupBy::Channel => row.channel.as_str().to_owned(),
            GroupBy::Source => row.source.clone(),
            GroupBy::Medium => row.medium.clone(),
            GroupBy::Campaign => or_not_set(&row.campaign),
            GroupBy::Term => or_not_set(&row.term),
            GroupBy::Content => or_not_set(&row.content),
            GroupBy::SourceMedium => format!("{} / {}", row.source, row.medium),
        }
    }
}

/// A user's earliest event with campaign fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstTouch {
    pub at: DateTime<Utc>,
    pub row: Row,
}

/// One day's conversions of one user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayConversions {
    pub count: i64,
    /// In millionths ([`REVENUE_SCALE`]).
    pub revenue: i64,
}

/// What kind of slice of a user's events a [`Segment`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentKind {
    /// An experiment arm: `scope` is the `experimentId`, `value` the variant.
    Variant,
    /// A custom dimension's value: `scope` is the property key, `value` its
    /// normalised value (`NOT_SET` for events without it).
    Property,
}

/// How many values of one custom dimension a user keeps; their events with
/// any other value count under [`OTHER_VALUE`] (which one a user keeps is
/// the first seen, so for such users the order of arrival decides).
pub const MAX_USER_VALUES: usize = 100;
/// Where a user's dimension values past [`MAX_USER_VALUES`] count.
pub const OTHER_VALUE: &str = "(other)";

/// A slice of a user's events with cells of its own: the events tagged
/// with one experiment arm, or those with one value of a custom dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment {
    pub kind: SegmentKind,
    pub scope: String,
    pub value: String,
}

impl Segment {
    pub fn variant(experiment_id: &str, variant: &str) -> Segment {
        Segment { kind: SegmentKind::Variant, scope: experiment_id.to_owned(), value: variant.to_owned() }
    }

    pub fn property(key: &str, value: &str) -> Segment {
        Segment { kind: SegmentKind::Property, scope: key.to_owned(), value: value.to_owned() }
    }

    fn is(&self, kind: SegmentKind, scope: &str, value: &str) -> bool {
        self.kind == kind && self.scope == scope && self.value == value
    }
}

/// A user's activity in one segment: days with an event in it, and its
/// conversions of each day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    pub active_days: BTreeSet<Day>,
    pub conversions: BTreeMap<Day, DayConversions>,
    /// An experiment arm's tallies of the selections its experiment's
    /// metrics read (`domain::metric`), by selection digest.
    pub tallies: BTreeMap<String, Tally>,
}

/// Where a user's rollups go: their row, or their row's cell of one
/// segment (the campaign × variant cross-tab, a custom dimension's values).
/// A segment's cells hold what the user's events in it add, credited to
/// the same first touch, so a user moved to another row moves in every
/// segment too.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub row: Row,
    pub segment: Option<Segment>,
}

/// Everything about a user that the campaign rollups depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserAttribution {
    pub first_touch: Option<FirstTouch>,
    pub active_days: BTreeSet<Day>,
    pub conversions: BTreeMap<Day, DayConversions>,
    /// What the user did in each segment they have events in.
    pub segments: BTreeMap<Segment, Activity>,
}

/// What a user adds to one day of one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    /// The user's first active day.
    NewUsers,
    Conversions,
    Revenue,
    /// An active day, by the gap to the user's next one (`None`: the last).
    Users(Option<i64>),
    /// A day with a conversion, by the gap to the next such day.
    ConvertedUsers(Option<i64>),
}

impl Measure {
    /// The attribute of a row's day item that holds this measure.
    pub fn attribute(self) -> String {
        let gap = |tag: &str, gap: Option<i64>| match gap {
            Some(gap) => format!("{tag}{gap}"),
            None => format!("{tag}-"),
        };
        match self {
            Measure::NewUsers => "n".to_owned(),
            Measure::Conversions => "c".to_owned(),
            Measure::Revenue => "r".to_owned(),
            Measure::Users(g) => gap("u", g),
            Measure::ConvertedUsers(g) => gap("k", g),
        }
    }

    /// Inverse of [`Measure::attribute`]; `None` for any other attribute.
    pub fn of_attribute(name: &str) -> Option<Measure> {
        let gap = |rest: &str| match rest {
            "-" => Some(None),
            digits => digits.parse::<i64>().ok().filter(|gap| *gap > 0).map(Some),
        };
        match name {
            "n" => Some(Measure::NewUsers),
            "c" => Some(Measure::Conversions),
            "r" => Some(Measure::Revenue),
            _ => {
                let (tag, rest) = name.split_at_checked(1)?;
                match tag {
                    "u" => gap(rest).map(Measure::Users),
                    "k" => gap(rest).map(Measure::ConvertedUsers),
                    _ => None,
                }
            }
        }
    }
}

/// Rollup changes to one cell: `delta` to `measure` on `day`.
pub type RowChanges = (Cell, Vec<(Day, Measure, i64)>);

/// Adds a day's event to `days` and `conversions`; whether they changed.
fn add_activity(
    days: &mut BTreeSet<Day>,
    conversions: &mut BTreeMap<Day, DayConversions>,
    day: Day,
    conversion: Option<i64>,
) -> bool {
    let mut changed = days.insert(day);
    if let Some(revenue) = conversion {
        let day_conversions = conversions.entry(day).or_default();
        day_conversions.count += 1;
        day_conversions.revenue += revenue;
        changed = true;
    }
    changed
}

/// What days of activity and conversions add to a cell: users and
/// converted users by gap, conversions and revenue (and, for a row, the
/// new user on the first day).
fn activity_contributions(
    days: &BTreeSet<Day>,
    conversions: &BTreeMap<Day, DayConversions>,
    new_user: bool,
) -> BTreeMap<(Day, Measure), i64> {
    let mut out = BTreeMap::new();
    if new_user && let Some(&first) = days.first() {
        out.insert((first, Measure::NewUsers), 1);
    }
    gaps(days.iter().copied(), Measure::Users, &mut out);
    gaps(conversions.keys().copied(), Measure::ConvertedUsers, &mut out);
    for (&day, day_conversions) in conversions {
        if day_conversions.count != 0 {
            out.insert((day, Measure::Conversions), day_conversions.count);
        }
        if day_conversions.revenue != 0 {
            out.insert((day, Measure::Revenue), day_conversions.revenue);
        }
    }
    out
}

impl UserAttribution {
    /// Adds one event at `at`, on `day` (its day in the tenant's time zone,
    /// [`day_number_in`]). `touch` gives the event's campaign fields (`None` when
    /// it has none, i.e. Direct); it is asked only when the event is no
    /// later than the first touch known, since deriving it parses URLs.
    /// `conversion` is the revenue of a conversion, `None` for any other
    /// event. Returns whether anything changed.
    pub fn add(
        &mut self,
        at: DateTime<Utc>,
        day: Day,
        conversion: Option<i64>,
        touch: impl FnOnce() -> Option<Row>,
    ) -> bool {
        let mut changed = add_activity(&mut self.active_days, &mut self.conversions, day, conversion);
        if self.first_touch.as_ref().is_none_or(|first| at <= first.at)
            && let Some(row) = touch()
        {
            // Ties in time go to the least row, so the order of arrival
            // never decides.
            let earlier = match &self.first_touch {
                None => true,
                Some(first) => (at, &row) < (first.at, &first.row),
            };
            if earlier {
                self.first_touch = Some(FirstTouch { at, row });
                changed = true;
            }
        }
        changed
    }

    /// Adds one event of a segment (after [`add`]ing it): its day, and its
    /// revenue if it is a conversion. Whether anything changed.
    ///
    /// [`add`]: UserAttribution::add
    pub fn add_to_segment(
        &mut self,
        day: Day,
        kind: SegmentKind,
        (scope, value): (&str, &str),
        conversion: Option<i64>,
    ) -> bool {
        // Looked up by reference first: most events find their segment.
        if let Some((_, activity)) =
            self.segments.iter_mut().find(|(segment, _)| segment.is(kind, scope, value))
        {
            return add_activity(&mut activity.active_days, &mut activity.conversions, day, conversion);
        }
        // A user's values of one dimension are bounded, so their item is
        // (DynamoDB's 400 KB): past the bound, new ones count as `(other)`.
        let full = kind == SegmentKind::Property
            && self.segments.keys().filter(|segment| segment.kind == kind && segment.scope == scope).count()
                >= MAX_USER_VALUES;
        let value = if full { OTHER_VALUE } else { value };
        let activity = self
            .segments
            .entry(Segment { kind, scope: scope.to_owned(), value: value.to_owned() })
            .or_default();
        add_activity(&mut activity.active_days, &mut activity.conversions, day, conversion)
    }

    /// What the user did in the experiment arm `(experimentId, variant)`.
    pub fn arm(&self, (scope, value): (&str, &str)) -> Option<&Activity> {
        self.segments
            .iter()
            .find(|(segment, _)| segment.is(SegmentKind::Variant, scope, value))
            .map(|(_, activity)| activity)
    }

    /// Adds what an event of the experiment arm `(scope, value)` adds to
    /// the tallies of its metrics' selections (after [`add_to_segment`]
    /// put the arm); whether anything changed.
    ///
    /// [`add_to_segment`]: UserAttribution::add_to_segment
    pub fn add_tallies<'a>(
        &mut self,
        (scope, value): (&str, &str),
        tallies: impl IntoIterator<Item = (&'a str, Tally)>,
    ) -> bool {
        let Some((_, activity)) =
            self.segments.iter_mut().find(|(segment, _)| segment.is(SegmentKind::Variant, scope, value))
        else {
            return false;
        };
        let mut changed = false;
        for (digest, tally) in tallies {
            match activity.tallies.get_mut(digest) {
                Some(kept) => kept.add(tally),
                None => {
                    activity.tallies.insert(digest.to_owned(), tally);
                }
            }
            changed = true;
        }
        changed
    }

    /// [`add_to_segment`] for an experiment arm.
    ///
    /// [`add_to_segment`]: UserAttribution::add_to_segment
    pub fn add_tagged(&mut self, day: Day, arm: (&str, &str), conversion: Option<i64>) -> bool {
        self.add_to_segment(day, SegmentKind::Variant, arm, conversion)
    }

    /// The row everything this user adds is credited to.
    pub fn row(&self) -> Row {
        self.first_touch.as_ref().map_or_else(Row::direct, |first| first.row.clone())
    }

    /// What this user adds to their row's days.
    pub fn contributions(&self) -> BTreeMap<(Day, Measure), i64> {
        activity_contributions(&self.active_days, &self.conversions, true)
    }

    /// What this user adds to their row's cell of each segment. A custom
    /// dimension's value counts the user as new on their first active day
    /// if they had an event with that value that day.
    pub fn segment_contributions(&self) -> BTreeMap<&Segment, BTreeMap<(Day, Measure), i64>> {
        let first_day = self.active_days.first();
        self.segments
            .iter()
            .map(|(segment, activity)| {
                let new_user =
                    segment.kind == SegmentKind::Property && activity.active_days.first() == first_day;
                (segment, activity_contributions(&activity.active_days, &activity.conversions, new_user))
            })
            .collect()
    }
}

fn gaps(
    days: impl Iterator<Item = Day>,
    measure: fn(Option<i64>) -> Measure,
    out: &mut BTreeMap<(Day, Measure), i64>,
) {
    let mut days = days.peekable();
    while let Some(day) = days.next() {
        let gap = days.peek().map(|next| next - day);
        *out.entry((day, measure(gap))).or_default() += 1;
    }
}

/// The rollup changes that take a user from `old` to `new` (`old`: the
/// default for a user not stored yet), by cell: the row's, and one per
/// segment that changed; when the first touch moved, everything leaves the old
/// row's cells for the new row's.
pub fn changes(old: &UserAttribution, new: &UserAttribution) -> Vec<RowChanges> {
    let (old_row, new_row) = (old.row(), new.row());
    let flat = |counts: BTreeMap<(Day, Measure), i64>, sign: i64| -> Vec<(Day, Measure, i64)> {
        counts
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((day, measure), n)| (day, measure, sign * n))
            .collect()
    };
    let cell = |row: &Row, segment: Option<&Segment>| Cell { row: row.clone(), segment: segment.cloned() };
    let (before_segments, after_segments) = (old.segment_contributions(), new.segment_contributions());
    if old_row != new_row {
        let mut out = vec![
            (cell(&old_row, None), flat(old.contributions(), -1)),
            (cell(&new_row, None), flat(new.contributions(), 1)),
        ];
        out.extend(
            before_segments
                .into_iter()
                .map(|(segment, counts)| (cell(&old_row, Some(segment)), flat(counts, -1))),
        );
        out.extend(
            after_segments
                .into_iter()
                .map(|(segment, counts)| (cell(&new_row, Some(segment)), flat(counts, 1))),
        );
        return out;
    }
    let difference = |before: BTreeMap<(Day, Measure), i64>, mut after: BTreeMap<(Day, Measure), i64>| {
        for (key, n) in before {
            *after.entry(key).or_default() -= n;
        }
        flat(after, 1)
    };
    let mut out = vec![(cell(&new_row, None), difference(old.contributions(), new.contributions()))];
    for (segment, after) in after_segments {
        // Segments are never removed: every segment before is one after.
        let before = before_segments.get(segment).cloned().unwrap_or_default();
        if before != after {
            out.push((cell(&new_row, Some(segment)), difference(before, after)));
        }
    }
    out
}

/// One row's rollup of one day: what its users added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowDay {
    pub new_users: i64,
    pub conversions: i64,
    pub revenue: i64,
    pub users: BTreeMap<Option<i64>, i64>,
    pub converted_users: BTreeMap<Option<i64>, i64>,
}

impl RowDay {
    pub fn add(&mut self, measure: Measure, delta: i64) {
        match measure {
            Measure::NewUsers => self.new_users += delta,
            Measure::Conversions => self.conversions += delta,
            Measure::Revenue => self.revenue += delta,
            Measure::Users(gap) => *self.users.entry(gap).or_default() += delta,
            Measure::ConvertedUsers(gap) => *self.converted_users.entry(gap).or_default() += delta,
        }
    }

    /// What this day (numbered `day`) adds to a range of days ending on
    /// `last`, which it is in: its users whose next active day is after
    /// `last`.
    pub fn totals_through(&self, day: Day, last: Day) -> RowTotals {
        let after = |counts: &BTreeMap<Option<i64>, i64>| -> i64 {
            counts.iter().filter(|(gap, _)| gap.is_none_or(|gap| day + gap > last)).map(|(_, n)| n).sum()
        };
        RowTotals {
            users: after(&self.users),
            new_users: self.new_users,
            conversions: self.conversions,
            converted_users: after(&self.converted_users),
            revenue: self.revenue,
        }
    }
}

/// A report row's counts over a range of days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowTotals {
    pub users: i64,
    pub new_users: i64,
    pub conversions: i64,
    pub converted_users: i64,
    /// In millionths ([`REVENUE_SCALE`]).
    pub revenue: i64,
}

impl RowTotals {
    pub fn absorb(&mut self, other: &RowTotals) {
        self.users += other.users;
        self.new_users += other.new_users;
        self.conversions += other.conversions;
        self.converted_users += other.converted_users;
        self.revenue += other.revenue;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn row(source: &str, campaign: Option<&str>) -> Row {
        let touch = Touch {
            source: source.into(),
            medium: "cpc".into(),
            campaign: campaign.map(str::to_owned),
            ..Touch::default()
        };
        Row::of(&touch)
    }

    /// One (row, day, measure, delta) per change to a row's own cell.
    pub(crate) fn flat(changes: Vec<RowChanges>) -> Vec<(Row, Day, Measure, i64)> {
        changes
            .into_iter()
            .filter(|(cell, _)| cell.segment.is_none())
            .flat_map(|(cell, changes)| changes.into_iter().map(move |(d, m, n)| (cell.row.clone(), d, m, n)))
            .collect()
    }

    fn at(day: i64, hour: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(day * 86_400 + hour * 3_600, 0).unwrap()
    }

    #[test]
    fn days_are_numbered_by_their_date_in_the_zone() {
        let at: DateTime<Utc> = "2026-03-29T22:30:00Z".parse().unwrap();
        assert_eq!(day_date(day_number_in(&at, Tz::UTC)), "2026-03-29");
        // Paris is two hours ahead on this (summer time) evening; Kolkata
        // five and a half; Los Angeles seven behind.
        assert_eq!(day_date(day_number_in(&at, chrono_tz::Europe::Paris)), "2026-03-30");
        assert_eq!(day_date(day_number_in(&at, chrono_tz::Asia::Kolkata)), "2026-03-30");
        let morning: DateTime<Utc> = "2026-03-30T06:59:59Z".parse().unwrap();
        assert_eq!(day_date(day_number_in(&morning, chrono_tz::America::Los_Angeles)), "2026-03-29");
        assert_eq!(day_number_in(&at, Tz::UTC), day_number(&at));
        assert_eq!(date_number(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
        let before_epoch: DateTime<Utc> = "1969-12-31T23:00:00Z".parse().unwrap();
        assert_eq!(day_number_in(&before_epoch, chrono_tz::Europe::Paris), 0);
    }

    #[test]
    fn every_grouping_is_named_and_parsed_back() {
        for group in GroupBy::ALL {
            assert_eq!(GroupBy::parse(group.name()), Some(group));
        }
        assert_eq!(GroupBy::parse("country"), None);
    }

    #[test]
    fn measures_round_trip_through_their_attributes() {
        for measure in [
            Measure::NewUsers,
            Measure::Conversions,
            Measure::Revenue,
            Measure::Users(None),
            Measure::Users(Some(3)),
            Measure::ConvertedUsers(None),
            Measure::ConvertedUsers(Some(40)),
        ] {
            assert_eq!(Measure::of_attribute(&measure.attribute()), Some(measure));
        }
        for other in ["", "u", "u0", "ux", "k-1", "x3", "events"] {
            assert_eq!(Measure::of_attribute(other), None, "{other}");
        }
    }

    #[test]
    fn revenue_is_the_numeric_value_in_millionths() {
        let props = |value: Value| serde_json::json!({"value": value}).as_object().cloned().unwrap();
        assert_eq!(revenue_of(&props(serde_json::json!(19.99))), 19_990_000);
        assert_eq!(revenue_of(&props(serde_json::json!(-5))), -5_000_000);
        assert_eq!(revenue_of(&props(serde_json::json!("19.99"))), 0);
        assert_eq!(revenue_of(&props(serde_json::json!(2e12))), 0);
        assert_eq!(revenue_of(&Map::new()), 0);
    }

    #[test]
    fn a_late_earlier_touch_moves_everything_the_user_added() {
        let mut user = UserAttribution::default();
        assert!(user.add(at(10, 9), 10, None, || None));
        assert!(user.add(at(11, 9), 11, Some(5_000_000), || Some(row("newsletter", Some("spring")))));
        let before = user.clone();
        assert_eq!(before.row(), row("newsletter", Some("spring")));
        // A page view the day before, tagged, arrives last.
        assert!(user.add(at(9, 20), 9, None, || Some(row("google", Some("brand")))));
        assert_eq!(user.row(), row("google", Some("brand")));
        let changes = flat(changes(&before, &user));
        let total = |source: &str, measure: Measure| -> i64 {
            changes.iter().filter(|(r, _, m, _)| r.source == source && *m == measure).map(|c| c.3).sum()
        };
        assert_eq!(total("newsletter", Measure::NewUsers), -1);
        assert_eq!(total("google", Measure::NewUsers), 1);
        assert_eq!(total("newsletter", Measure::Revenue), -5_000_000);
        assert_eq!(total("google", Measure::Revenue), 5_000_000);
        // A later touch, or an event on a known day, changes nothing.
        let settled = user.clone();
        assert!(!user.add(at(11, 23), 11, None, || panic!("not asked: later than the first touch")));
        assert_eq!(user, settled);
    }

    #[test]
    fn an_unchanged_row_moves_only_the_difference() {
        let mut user = UserAttribution::default();
        user.add(at(3, 1), 3, None, || None);
        let before = user.clone();
        user.add(at(5, 1), 5, Some(0), || None);
        let mut changes = flat(changes(&before, &user));
        changes.sort();
        let direct = Row::direct();
        assert_eq!(
            changes,
            vec![
                (direct.clone(), 3, Measure::Users(None), -1),
                (direct.clone(), 3, Measure::Users(Some(2)), 1),
                (direct.clone(), 5, Measure::Conversions, 1),
                (direct.clone(), 5, Measure::Users(None), 1),
                (direct, 5, Measure::ConvertedUsers(None), 1),
            ]
        );
    }

    /// One generated event: user, day, hour, conversion revenue, touch.
    type Generated = (usize, i64, i64, Option<i64>, Option<usize>);

    fn generated() -> impl Strategy<Value = Vec<Generated>> {
        let event = (0..6usize, 0..12i64, 0..24i64, prop::option::of(0..5i64), prop::option::of(0..4usize));
        prop::collection::vec(event, 0..60)
    }

    fn touch_row(touch: usize) -> Row {
        let rows = [
            row("google", Some("brand")),
            row("google", Some("generic")),
            row("newsletter", None),
            Row::of(&Touch { source: "facebook".into(), medium: "social".into(), ..Touch::default() }),
        ];
        rows[touch].clone()
    }

    /// Adds events one at a time, in the given order, applying each
    /// change to a rollup of (row, day) as the batch writer does.
    fn rollup(events: &[Generated]) -> HashMap<(Row, Day), RowDay> {
        let mut users: HashMap<usize, UserAttribution> = HashMap::new();
        let mut days: HashMap<(Row, Day), RowDay> = HashMap::new();
        for &(user, day, hour, conversion, touch) in events {
            let state = users.entry(user).or_default();
            let before = state.clone();
            state.add(at(day, hour), day, conversion, || touch.map(touch_row));
            for (row, day, measure, delta) in flat(changes(&before, state)) {
                days.entry((row, day)).or_default().add(measure, delta);
            }
        }
        days
    }

    fn report(
        days: &HashMap<(Row, Day), RowDay>,
        group: GroupBy,
        first: Day,
        last: Day,
    ) -> BTreeMap<String, RowTotals> {
        let mut out: BTreeMap<String, RowTotals> = BTreeMap::new();
        for ((row, day), counts) in days {
            if (first..=last).contains(day) {
                out.entry(group.key(row)).or_default().absorb(&counts.totals_through(*day, last));
            }
        }
        out.retain(|_, totals| *totals != RowTotals::default());
        out
    }

    /// The report computed from the events directly.
    fn brute_force(
        events: &[Generated],
        group: GroupBy,
        first: Day,
        last: Day,
    ) -> BTreeMap<String, RowTotals> {
        let mut by_user: BTreeMap<usize, Vec<&Generated>> = BTreeMap::new();
        for event in events {
            by_user.entry(event.0).or_default().push(event);
        }
        let mut out: BTreeMap<String, RowTotals> = BTreeMap::new();
        for events in by_user.values() {
            let touch = events
                .iter()
                .filter_map(|e| e.4.map(|t| (at(e.1, e.2), touch_row(t))))
                .min()
                .map_or_else(Row::direct, |(_, row)| row);
            let in_range: Vec<_> = events.iter().filter(|e| (first..=last).contains(&e.1)).collect();
            let first_day = events.iter().map(|e| e.1).min().unwrap();
            let conversions: Vec<_> = in_range.iter().filter_map(|e| e.3).collect();
            let totals = RowTotals {
                users: i64::from(!in_range.is_empty()),
                new_users: i64::from((first..=last).contains(&first_day)),
                conversions: conversions.len() as i64,
                converted_users: i64::from(!conversions.is_empty()),
                revenue: conversions.iter().sum(),
            };
            out.entry(group.key(&touch)).or_default().absorb(&totals);
        }
        out.retain(|_, totals| *totals != RowTotals::default());
        out
    }

    /// `events` in an order drawn from `seed`.
    fn shuffled<T: Clone>(events: &[T], mut seed: u64) -> Vec<T> {
        let mut out = events.to_vec();
        for i in (1..out.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            out.swap(i, (seed >> 33) as usize % (i + 1));
        }
        out
    }

    /// One generated event with an arm: as [`Generated`], and the variant
    /// (of experiment `e`) it is tagged with, if any.
    type Tagged = (Generated, Option<usize>);

    fn tagged() -> impl Strategy<Value = Vec<Tagged>> {
        let event = (0..6usize, 0..12i64, 0..24i64, prop::option::of(0..5i64), prop::option::of(0..4usize));
        prop::collection::vec((event, prop::option::of(0..2usize)), 0..60)
    }

    const VARIANTS: [&str; 2] = ["control", "treatment"];

    /// The value of the dimension `d` the proptests give an event: its
    /// variant's name, `(not set)` for an untagged event.
    fn property_value(variant: Option<usize>) -> &'static str {
        variant.map_or(NOT_SET, |v| VARIANTS[v])
    }

    /// Each `kind` cell's (row key, variant or property value) totals over
    /// `first..=last`, from the changes of adding `events` one at a time
    /// (each tagged event in arm `e`, and every event in dimension `d`).
    fn segment_report(
        events: &[Tagged],
        kind: SegmentKind,
        group: GroupBy,
        first: Day,
        last: Day,
    ) -> BTreeMap<(String, String), RowTotals> {
        let mut users: HashMap<usize, UserAttribution> = HashMap::new();
        let mut days: HashMap<(Cell, Day), RowDay> = HashMap::new();
        for &((user, day, hour, conversion, touch), variant) in events {
            let state = users.entry(user).or_default();
            let before = state.clone();
            state.add(at(day, hour), day, conversion, || touch.map(touch_row));
            if let Some(variant) = variant {
                state.add_tagged(day, ("e", VARIANTS[variant]), conversion);
            }
            let value = property_value(variant);
            state.add_to_segment(day, SegmentKind::Property, ("d", value), conversion);
            for (cell, changes) in changes(&before, state) {
                for (day, measure, delta) in changes {
                    days.entry((cell.clone(), day)).or_default().add(measure, delta);
                }
            }
        }
        let mut out: BTreeMap<(String, String), RowTotals> = BTreeMap::new();
        for ((cell, day), counts) in &days {
            if let Some(segment) = &cell.segment
                && segment.kind == kind
                && (first..=last).contains(day)
            {
                let key = (group.key(&cell.row), segment.value.clone());
                out.entry(key).or_default().absorb(&counts.totals_through(*day, last));
            }
        }
        out.retain(|_, totals| *totals != RowTotals::default());
        out
    }

    /// The same, from the events directly: a user counts in a variant's
    /// (or value's) cell of their first touch's row when they have an event
    /// tagged with it in the range; conversions count when tagged. A value
    /// also counts the user as new when their first event is in the range
    /// and they had an event with the value that day.
    fn segment_brute_force(
        events: &[Tagged],
        kind: SegmentKind,
        group: GroupBy,
        first: Day,
        last: Day,
    ) -> BTreeMap<(String, String), RowTotals> {
        let mut by_user: BTreeMap<usize, Vec<&Tagged>> = BTreeMap::new();
        for event in events {
            by_user.entry(event.0.0).or_default().push(event);
        }
        let mut out: BTreeMap<(String, String), RowTotals> = BTreeMap::new();
        for events in by_user.values() {
            let touch = events
                .iter()
                .filter_map(|(e, _)| e.4.map(|t| (at(e.1, e.2), touch_row(t))))
                .min()
                .map_or_else(Row::direct, |(_, row)| row);
            let first_day = events.iter().map(|(e, _)| e.1).min();
            let values: Vec<Option<usize>> = match kind {
                SegmentKind::Variant => (0..VARIANTS.len()).map(Some).collect(),
                SegmentKind::Property => vec![None, Some(0), Some(1)],
            };
            for value in values {
                let of_value = |v: &Option<usize>| match kind {
                    SegmentKind::Variant => *v == value,
                    SegmentKind::Property => property_value(*v) == property_value(value),
                };
                let in_range: Vec<_> =
                    events.iter().filter(|(e, v)| of_value(v) && (first..=last).contains(&e.1)).collect();
                let conversions: Vec<_> = in_range.iter().filter_map(|(e, _)| e.3).collect();
                let new_user = kind == SegmentKind::Property
                    && first_day.is_some_and(|d| (first..=last).contains(&d))
                    && in_range.iter().any(|(e, _)| Some(e.1) == first_day);
                let name = match kind {
                    SegmentKind::Variant => VARIANTS[value.unwrap_or_default()],
                    SegmentKind::Property => property_value(value),
                };
                let totals = RowTotals {
                    users: i64::from(!in_range.is_empty()),
                    new_users: i64::from(new_user),
                    conversions: conversions.len() as i64,
                    converted_users: i64::from(!conversions.is_empty()),
                    revenue: conversions.iter().sum(),
                };
                out.entry((group.key(&touch), name.to_owned())).or_default().absorb(&totals);
            }
        }
        out.retain(|_, totals| *totals != RowTotals::default());
        out
    }

    #[test]
    fn a_users_values_of_one_dimension_are_bounded() {
        let mut user = UserAttribution::default();
        for i in 0..MAX_USER_VALUES + 5 {
            user.add_to_segment(1, SegmentKind::Property, ("page", &format!("/p{i}")), None);
        }
        user.add_to_segment(1, SegmentKind::Property, ("device", "mobile"), None);
        // A kept value still counts as itself; arms are not bounded.
        assert!(user.add_to_segment(2, SegmentKind::Property, ("page", "/p0"), None));
        for i in 0..MAX_USER_VALUES + 1 {
            user.add_tagged(1, ("e", &format!("v{i}")), None);
        }
        let count = |kind: SegmentKind, scope: &str| {
            user.segments.keys().filter(|s| s.kind == kind && s.scope == scope).count()
        };
        assert_eq!(count(SegmentKind::Property, "page"), MAX_USER_VALUES + 1, "the kept values and (other)");
        assert!(user.segments.contains_key(&Segment::property("page", OTHER_VALUE)));
        assert!(!user.segments.contains_key(&Segment::property("page", "/p100")));
        assert_eq!(count(SegmentKind::Property, "device"), 1, "per dimension");
        assert_eq!(count(SegmentKind::Variant, "e"), MAX_USER_VALUES + 1);
    }

    proptest! {
        #[test]
        fn segment_cells_match_a_recount_whatever_the_order_of_arrival(
            events in tagged(),
            shuffle in any::<u64>(),
            first in 0..12i64,
            len in 0..12i64,
            group in 0..7usize,
            property in any::<bool>(),
        ) {
            let group = GroupBy::ALL[group];
            let kind = if property { SegmentKind::Property } else { SegmentKind::Variant };
            let last = first + len;
            let expected = segment_brute_force(&events, kind, group, first, last);
            prop_assert_eq!(&segment_report(&events, kind, group, first, last), &expected);
            prop_assert_eq!(&segment_report(&shuffled(&events, shuffle), kind, group, first, last), &expected);
        }
    }

    proptest! {
        #[test]
        fn rollups_match_a_recount_whatever_the_order_of_arrival(
            events in generated(),
            shuffle in any::<u64>(),
            first in 0..12i64,
            len in 0..12i64,
            group in 0..7usize,
        ) {
            let group = GroupBy::parse(GroupBy::NAMES[group]).unwrap();
            let last = first + len;
            let shuffled = shuffled(&events, shuffle);
            let expected = brute_force(&events, group, first, last);
            prop_assert_eq!(&report(&rollup(&events), group, first, last), &expected);
            prop_assert_eq!(&report(&rollup(&shuffled), group, first, last), &expected);
        }
    }
}
