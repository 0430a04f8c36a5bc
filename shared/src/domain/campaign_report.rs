//! The campaign report: rows of first-touch attribution rollups
//! (`attribution::RowDay`) summed over a range of days and grouped by a
//! campaign field, as `GET /api/analytics/campaigns` answers it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::attribution::{Day, GroupBy, REVENUE_SCALE, Row, RowDay, RowTotals, day_date};
use super::results::csv_field;
use super::summary::{OTHER_ROW, top_rows};

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportRow {
    /// The channel, source, … (`source / medium` for `source_medium`).
    pub key: String,
    /// Users active in the range whose first touch falls in this row.
    pub users: i64,
    /// Of those, users whose first event is in the range.
    pub new_users: i64,
    /// CONVERSION events in the range of this row's users.
    pub conversions: i64,
    /// Users with a conversion in the range.
    pub converted_users: i64,
    /// `convertedUsers / users` (0 without users).
    pub conversion_rate: f64,
    /// The sum of numeric `properties.value` of those conversions.
    pub revenue: f64,
    /// With `experimentId`: this row's users in each variant of the
    /// experiment (the campaign × variant cross-tab).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variants: Option<BTreeMap<String, VariantCell>>,
}

/// One row's users in one variant over the range: users with an event
/// tagged with the variant in the range, credited to their first touch.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantCell {
    pub users: i64,
    /// Tagged CONVERSION events in the range.
    pub conversions: i64,
    /// Users with a tagged conversion in the range.
    pub converted_users: i64,
    /// `convertedUsers / users` (0 without users).
    pub conversion_rate: f64,
    pub revenue: f64,
}

fn rate(part: i64, whole: i64) -> f64 {
    if whole > 0 { part as f64 / whole as f64 } else { 0.0 }
}

impl VariantCell {
    fn of(totals: &RowTotals) -> VariantCell {
        VariantCell {
            users: totals.users,
            conversions: totals.conversions,
            converted_users: totals.converted_users,
            conversion_rate: rate(totals.converted_users, totals.users),
            revenue: totals.revenue as f64 / REVENUE_SCALE,
        }
    }
}

impl ReportRow {
    fn of(key: String, totals: &RowTotals) -> ReportRow {
        ReportRow {
            key,
            users: totals.users,
            new_users: totals.new_users,
            conversions: totals.conversions,
            converted_users: totals.converted_users,
            conversion_rate: rate(totals.converted_users, totals.users),
            revenue: totals.revenue as f64 / REVENUE_SCALE,
            variants: None,
        }
    }
}

/// A range's rows (most users first; at most `top_rows`' hundred, the rest
/// summed into `(other)`) and totals.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RangeReport {
    pub rows: Vec<ReportRow>,
    pub totals: ReportRow,
    /// Whether rows were summed into `(other)`.
    pub truncated: bool,
}

/// The days a report covers, `YYYY-MM-DD`, both included.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayRange {
    pub start_date: String,
    pub end_date: String,
}

/// `GET /api/analytics/campaigns`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CampaignReport {
    /// `channel`, `source`, `medium`, `campaign`, `term`, `content`, `source_medium`
    /// or `property:<key>`.
    pub group_by: String,
    /// `first`: each user is credited to their first touch.
    pub attribution: String,
    /// The IANA time zone whose days the range and its days are: the
    /// tenant's (`PUT /api/settings/timezone`; UTC until set).
    pub timezone: String,
    pub range: DayRange,
    #[serde(flatten)]
    pub report: RangeReport,
    /// Always false: distinct users are exact for any range.
    pub users_approximate: bool,
    /// With `compare=previous`: the period of the same length just before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousPeriod>,
    /// With `interval=day`: users of each row on each day of the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<SeriesDay>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousPeriod {
    pub range: DayRange,
    #[serde(flatten)]
    pub report: RangeReport,
}

/// The rows a drill-down keeps: those whose key under each grouping is the
/// given one (e.g. channel `Paid Search`, then source / medium `google / cpc`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowFilter(pub Vec<(GroupBy, String)>);

impl RowFilter {
    pub fn keeps(&self, row: &Row) -> bool {
        self.0.iter().all(|(group, key)| group.key(row) == *key)
    }
}

/// Sums the rollups of days `first..=last` that `filter` keeps by `group`.
/// `days` may hold other days too; they are left out.
pub fn range_report(
    days: &[(Day, Row, RowDay)],
    group: GroupBy,
    filter: &RowFilter,
    first: Day,
    last: Day,
) -> RangeReport {
    let kept = days.iter().filter(|(_, row, _)| filter.keeps(row));
    keyed_report(kept.map(|(day, row, counts)| (*day, group.key(row), counts)), first, last)
}

/// The report grouped by a custom dimension (`groupBy=property:<key>`):
/// a row per value, from the dimension's cells (`cells`) that `filter`
/// keeps; a user with events of two values counts in both rows, so the
/// totals, each user once, are those of the rows (`days`).
pub fn property_report(
    days: &[(Day, Row, RowDay)],
    cells: &SegmentDays,
    filter: &RowFilter,
    first: Day,
    last: Day,
) -> RangeReport {
    let kept = cells.iter().filter(|(_, row, ..)| filter.keeps(row));
    let mut report =
        keyed_report(kept.map(|(day, _, value, counts)| (*day, value.clone(), counts)), first, last);
    report.totals = range_report(days, GroupBy::Channel, filter, first, last).totals;
    report
}

/// Sums the `(day, row key, rollup)` entries of days `first..=last`.
fn keyed_report<'a>(
    entries: impl Iterator<Item = (Day, String, &'a RowDay)>,
    first: Day,
    last: Day,
) -> RangeReport {
    let mut by_key: std::collections::HashMap<String, RowTotals> = std::collections::HashMap::new();
    let mut totals = RowTotals::default();
    for (day, key, counts) in entries {
        if !(first..=last).contains(&day) {
            continue;
        }
        let counted = counts.totals_through(day, last);
        by_key.entry(key).or_default().absorb(&counted);
        totals.absorb(&counted);
    }
    // Rows whose users all moved to another row add nothing.
    let mut rows: Vec<(String, RowTotals)> =
        by_key.into_iter().filter(|(_, totals)| *totals != RowTotals::default()).collect();
    rows.sort_by(|(a, x), (b, y)| y.users.cmp(&x.users).then_with(|| a.cmp(b)));
    let (rows, truncated) = top_rows(rows, |t| t.users.max(0) as u64, |sum, t| sum.absorb(t));
    RangeReport {
        rows: rows.into_iter().map(|(key, totals)| ReportRow::of(key, &totals)).collect(),
        totals: ReportRow::of("(total)".to_owned(), &totals),
        truncated,
    }
}

/// An experiment's arm cells, or a dimension's value cells, of some days:
/// (day, row, variant or value, rollup).
pub type SegmentDays = [(Day, Row, String, RowDay)];

/// Adds each row's (and the totals') variants to `report`, from the arm
/// cells of days `first..=last` that `filter` keeps by `group`: rows summed
/// into `(other)` are summed there too. Every name of `variants` (the
/// experiment's, when it is one) is shown, with zeros if it has no users.
pub fn add_variants(
    report: &mut RangeReport,
    arm_days: &SegmentDays,
    variants: &[String],
    group: GroupBy,
    filter: &RowFilter,
    first: Day,
    last: Day,
) {
    let shown: std::collections::HashSet<&str> =
        report.rows.iter().map(|row| row.key.as_str()).filter(|key| *key != OTHER_ROW).collect();
    let mut by_key: std::collections::HashMap<String, BTreeMap<String, RowTotals>> = Default::default();
    let mut totals: BTreeMap<String, RowTotals> =
        variants.iter().map(|name| (name.clone(), RowTotals::default())).collect();
    for (day, row, variant, counts) in arm_days {
        if !(first..=last).contains(day) || !filter.keeps(row) {
            continue;
        }
        let counted = counts.totals_through(*day, last);
        let key = group.key(row);
        let key = if shown.contains(key.as_str()) { key } else { OTHER_ROW.to_owned() };
        by_key.entry(key).or_default().entry(variant.clone()).or_default().absorb(&counted);
        totals.entry(variant.clone()).or_default().absorb(&counted);
    }
    // Variants seen only in cells whose users all moved away show nothing.
    totals.retain(|name, counted| variants.contains(name) || *counted != RowTotals::default());
    let cells = |counts: Option<&BTreeMap<String, RowTotals>>| -> BTreeMap<String, VariantCell> {
        totals
            .keys()
            .map(|name| {
                let counted = counts.and_then(|counts| counts.get(name)).copied().unwrap_or_default();
                (name.clone(), VariantCell::of(&counted))
            })
            .collect()
    };
    for row in &mut report.rows {
        row.variants = Some(cells(by_key.get(&row.key)));
    }
    report.totals.variants = Some(cells(Some(&totals)));
}

/// One day of `interval=day`: each shown row's users active that day (rows
/// summed into `(other)` in the report are summed here too).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesDay {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Users active that day by row key; rows without any are left out.
    pub users: std::collections::BTreeMap<String, i64>,
    /// Users active that day in all rows the filter keeps.
    pub total_users: i64,
}

/// Users active on each day of `first..=last` by the keys of `report`'s
/// rows, for a chart of the report over time.
pub fn daily_series(
    days: &[(Day, Row, RowDay)],
    group: GroupBy,
    filter: &RowFilter,
    report: &RangeReport,
    first: Day,
    last: Day,
) -> Vec<SeriesDay> {
    let kept = days.iter().filter(|(_, row, _)| filter.keeps(row));
    keyed_series(kept.map(|(day, row, counts)| (*day, group.key(row), counts)), report, first, last)
}

/// [`daily_series`] for a report grouped by a custom dimension
/// ([`property_report`]): each day's total is its users, each once.
pub fn property_series(
    days: &[(Day, Row, RowDay)],
    cells: &SegmentDays,
    filter: &RowFilter,
    report: &RangeReport,
    first: Day,
    last: Day,
) -> Vec<SeriesDay> {
    let kept = cells.iter().filter(|(_, row, ..)| filter.keeps(row));
    let mut series =
        keyed_series(kept.map(|(day, _, value, counts)| (*day, value.clone(), counts)), report, first, last);
    let totals = daily_series(days, GroupBy::Channel, filter, report, first, last);
    for (entry, total) in series.iter_mut().zip(totals) {
        entry.total_users = total.total_users;
    }
    series
}

fn keyed_series<'a>(
    entries: impl Iterator<Item = (Day, String, &'a RowDay)>,
    report: &RangeReport,
    first: Day,
    last: Day,
) -> Vec<SeriesDay> {
    let shown: std::collections::HashSet<&str> =
        report.rows.iter().map(|row| row.key.as_str()).filter(|key| *key != OTHER_ROW).collect();
    let mut series: Vec<SeriesDay> = (first..=last)
        .map(|day| SeriesDay { date: day_date(day), users: Default::default(), total_users: 0 })
        .collect();
    for (day, key, counts) in entries {
        if !(first..=last).contains(&day) {
            continue;
        }
        // Every pair that starts on `day` is a user active on `day`.
        let users = counts.totals_through(day, day).users;
        if users == 0 {
            continue;
        }
        let key = if shown.contains(key.as_str()) { key } else { OTHER_ROW.to_owned() };
        let entry = &mut series[(day - first) as usize];
        *entry.users.entry(key).or_default() += users;
        entry.total_users += users;
    }
    for entry in &mut series {
        entry.users.retain(|_, users| *users != 0);
    }
    series
}

/// The report as CSV: one line per row, then the totals; with variants,
/// five more columns per variant (`<variant> users`, …).
pub fn to_csv(report: &RangeReport) -> String {
    let variants: Vec<&String> = report.totals.variants.iter().flat_map(|cells| cells.keys()).collect();
    let mut header =
        vec!["key", "users", "newUsers", "conversions", "convertedUsers", "conversionRate", "revenue"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
    for name in &variants {
        for column in ["users", "conversions", "convertedUsers", "conversionRate", "revenue"] {
            header.push(csv_field(&format!("{name} {column}")));
        }
    }
    let mut csv = header.join(",");
    csv.push('\n');
    for row in report.rows.iter().chain([&report.totals]) {
        let mut fields = vec![
            csv_field(&row.key),
            row.users.to_string(),
            row.new_users.to_string(),
            row.conversions.to_string(),
            row.converted_users.to_string(),
            row.conversion_rate.to_string(),
            row.revenue.to_string(),
        ];
        for name in &variants {
            let cell = row.variants.as_ref().and_then(|cells| cells.get(*name));
            let cell = cell.cloned().unwrap_or_else(|| VariantCell::of(&RowTotals::default()));
            fields.extend([
                cell.users.to_string(),
                cell.conversions.to_string(),
                cell.converted_users.to_string(),
                cell.conversion_rate.to_string(),
                cell.revenue.to_string(),
            ]);
        }
        csv.push_str(&fields.join(","));
        csv.push('\n');
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attribution::tests::flat;
    use crate::domain::attribution::{Measure, UserAttribution, changes};
    use crate::domain::campaign::Touch;

    fn campaign(name: &str) -> Row {
        Row::of(&Touch {
            source: "google".into(),
            medium: "cpc".into(),
            campaign: Some(name.into()),
            ..Touch::default()
        })
    }

    #[test]
    fn rows_are_sorted_by_users_with_the_rest_in_other() {
        let mut days = Vec::new();
        for i in 0..105 {
            let mut counts = RowDay::default();
            counts.add(Measure::Users(None), i + 1);
            counts.add(Measure::Conversions, 1);
            days.push((10, campaign(&format!("c{i:03}")), counts));
        }
        let report = range_report(&days, GroupBy::Campaign, &RowFilter::default(), 10, 10);
        assert!(report.truncated);
        assert_eq!(report.rows.len(), 101);
        assert_eq!(report.rows[0].key, "c104");
        assert_eq!(report.rows[100].key, OTHER_ROW);
        assert_eq!(report.rows[100].users, 1 + 2 + 3 + 4 + 5);
        assert_eq!(report.totals.conversions, 105);
        assert_eq!(report.totals.users, (1..=105).sum::<i64>());
        // Channel: every row is Paid Search.
        let by_channel = range_report(&days, GroupBy::Channel, &RowFilter::default(), 10, 10);
        assert_eq!(by_channel.rows.len(), 1);
        assert_eq!(by_channel.rows[0].key, "Paid Search");
        assert!(!by_channel.truncated);
    }

    #[test]
    fn a_user_counts_once_across_a_range_and_csv_has_every_row() {
        let mut user = UserAttribution::default();
        let day = |d: i64| chrono::DateTime::from_timestamp(d * 86_400 + 60, 0).unwrap();
        user.add(day(3), 3, None, || Some(campaign("spring,sale")));
        user.add(day(5), 5, Some(2_500_000), || None);
        let days: Vec<(Day, Row, RowDay)> = flat(changes(&UserAttribution::default(), &user))
            .into_iter()
            .map(|(row, day, measure, n)| {
                let mut counts = RowDay::default();
                counts.add(measure, n);
                (day, row, counts)
            })
            .collect();
        let report = range_report(&days, GroupBy::Campaign, &RowFilter::default(), 3, 6);
        assert_eq!(report.rows.len(), 1);
        let row = &report.rows[0];
        assert_eq!((row.users, row.new_users, row.conversions, row.converted_users), (1, 1, 1, 1));
        assert_eq!((row.conversion_rate, row.revenue), (1.0, 2.5));
        assert_eq!(range_report(&days, GroupBy::Campaign, &RowFilter::default(), 4, 6).rows[0].new_users, 0);
        let csv = to_csv(&report);
        assert_eq!(
            csv,
            "key,users,newUsers,conversions,convertedUsers,conversionRate,revenue\n\
             \"spring,sale\",1,1,1,1,1,2.5\n(total),1,1,1,1,1,2.5\n"
        );
    }

    /// The rollups one user adds, as `(day, row, counts)` lines.
    fn rollups_of(user: &UserAttribution) -> Vec<(Day, Row, RowDay)> {
        flat(changes(&UserAttribution::default(), user))
            .into_iter()
            .map(|(row, day, measure, n)| {
                let mut counts = RowDay::default();
                counts.add(measure, n);
                (day, row, counts)
            })
            .collect()
    }

    fn user_on(days: &[i64], row: Row) -> UserAttribution {
        let mut user = UserAttribution::default();
        for d in days {
            let at = chrono::DateTime::from_timestamp(d * 86_400 + 60, 0).unwrap();
            user.add(at, *d, None, || Some(row.clone()));
        }
        user
    }

    #[test]
    fn a_filter_keeps_the_rows_of_one_key_and_its_totals() {
        let facebook = Row::of(&Touch {
            source: "facebook".into(),
            medium: "paid_social".into(),
            campaign: Some("spring".into()),
            ..Touch::default()
        });
        let mut days = Vec::new();
        days.extend(rollups_of(&user_on(&[3], campaign("spring"))));
        days.extend(rollups_of(&user_on(&[3], campaign("autumn"))));
        days.extend(rollups_of(&user_on(&[3], facebook)));
        let paid_search = RowFilter(vec![(GroupBy::Channel, "Paid Search".into())]);
        let report = range_report(&days, GroupBy::Campaign, &paid_search, 3, 3);
        let keys: Vec<&str> = report.rows.iter().map(|row| row.key.as_str()).collect();
        assert_eq!(keys, ["autumn", "spring"]);
        assert_eq!(report.totals.users, 2);
        let spring_only =
            RowFilter(vec![(GroupBy::Channel, "Paid Search".into()), (GroupBy::Campaign, "spring".into())]);
        assert_eq!(range_report(&days, GroupBy::Campaign, &spring_only, 3, 3).totals.users, 1);
        let nothing = RowFilter(vec![(GroupBy::SourceMedium, "bing / cpc".into())]);
        let empty = range_report(&days, GroupBy::Campaign, &nothing, 3, 3);
        assert!(empty.rows.is_empty());
        assert_eq!(empty.totals.users, 0);
    }

    /// The arm cells one user adds, as `(day, row, variant, counts)` lines.
    fn arm_rollups_of(user: &UserAttribution) -> Vec<(Day, Row, String, RowDay)> {
        let mut out = Vec::new();
        for (cell, changes) in changes(&UserAttribution::default(), user) {
            let Some(arm) = cell.segment else { continue };
            for (day, measure, n) in changes {
                let mut counts = RowDay::default();
                counts.add(measure, n);
                out.push((day, cell.row.clone(), arm.value.clone(), counts));
            }
        }
        out
    }

    #[test]
    fn a_property_report_has_a_row_per_value_and_each_user_once_in_the_totals() {
        use crate::domain::attribution::SegmentKind::Property;
        let at = |d: i64| chrono::DateTime::from_timestamp(d * 86_400 + 60, 0).unwrap();
        // Two devices for the first user, one for the second (who converts).
        let mut both = user_on(&[3, 4], campaign("spring"));
        both.add_to_segment(3, Property, ("device", "mobile"), None);
        both.add_to_segment(4, Property, ("device", "desktop"), None);
        let mut one = user_on(&[4], campaign("autumn"));
        one.add(at(4), 4, Some(5_000_000), || None);
        one.add_to_segment(4, Property, ("device", "mobile"), Some(5_000_000));
        let users = [both, one];
        let days: Vec<_> = users.iter().flat_map(rollups_of).collect();
        let cells: Vec<_> = users.iter().flat_map(arm_rollups_of).collect();
        let all = RowFilter::default();
        let report = property_report(&days, &cells, &all, 3, 4);
        let rows: Vec<(&str, i64, i64, i64)> =
            report.rows.iter().map(|r| (r.key.as_str(), r.users, r.new_users, r.conversions)).collect();
        // New users by the value of their first day: mobile for both.
        assert_eq!(rows, [("mobile", 2, 2, 1), ("desktop", 1, 0, 0)]);
        assert_eq!((report.totals.users, report.totals.new_users, report.totals.revenue), (2, 2, 5.0));
        // A drill-down keeps the cells of the rows it keeps.
        let spring = RowFilter(vec![(GroupBy::Campaign, "spring".into())]);
        let report = property_report(&days, &cells, &spring, 3, 4);
        assert_eq!(report.rows.iter().map(|r| r.users).collect::<Vec<_>>(), [1, 1]);
        assert_eq!(report.totals.users, 1);
        // Each day's total counts the user on two devices once.
        let series = property_series(&days, &cells, &all, &property_report(&days, &cells, &all, 3, 4), 3, 4);
        assert_eq!(series[1].users, BTreeMap::from([("desktop".into(), 1), ("mobile".into(), 1)]));
        assert_eq!((series[0].total_users, series[1].total_users), (1, 2));
    }

    #[test]
    fn variants_split_each_row_and_other_and_the_totals() {
        let at = |d: i64| chrono::DateTime::from_timestamp(d * 86_400 + 60, 0).unwrap();
        let mut users = Vec::new();
        for (campaign_name, variant, converts) in
            [("spring", "A", true), ("spring", "B", false), ("spring", "B", false), ("autumn", "A", true)]
        {
            let mut user = user_on(&[3], campaign(campaign_name));
            let revenue = converts.then_some(10_000_000);
            if converts {
                user.add(at(3), 3, revenue, || None);
            }
            user.add_tagged(3, ("exp", variant), revenue);
            users.push(user);
        }
        // A user tagged on day 2 only: outside the range.
        let mut early = user_on(&[2, 3], campaign("autumn"));
        early.add_tagged(2, ("exp", "B"), None);
        users.push(early);
        let days: Vec<_> = users.iter().flat_map(rollups_of).collect();
        let arm_days: Vec<_> = users.iter().flat_map(arm_rollups_of).collect();
        let all = RowFilter::default();
        let mut report = range_report(&days, GroupBy::Campaign, &all, 3, 3);
        let names = ["A".to_owned(), "B".to_owned(), "C".to_owned()];
        add_variants(&mut report, &arm_days, &names, GroupBy::Campaign, &all, 3, 3);
        let cell = |row: &ReportRow, name: &str| {
            let cell = &row.variants.as_ref().unwrap()[name];
            (cell.users, cell.converted_users, cell.revenue)
        };
        assert_eq!(report.rows[0].key, "spring");
        assert_eq!(cell(&report.rows[0], "A"), (1, 1, 10.0));
        assert_eq!(cell(&report.rows[0], "B"), (2, 0, 0.0));
        assert_eq!(cell(&report.rows[0], "C"), (0, 0, 0.0));
        assert_eq!(cell(&report.rows[1], "B"), (0, 0, 0.0));
        assert_eq!(cell(&report.totals, "A"), (2, 2, 20.0));
        assert_eq!(report.totals.variants.as_ref().unwrap()["B"].conversion_rate, 0.0);
        // With autumn summed into (other), its variants are there.
        let mut top_one = range_report(&days, GroupBy::Campaign, &all, 3, 3);
        top_one.rows.truncate(1);
        top_one.rows.push(ReportRow::of(OTHER_ROW.to_owned(), &RowTotals::default()));
        add_variants(&mut top_one, &arm_days, &[], GroupBy::Campaign, &all, 2, 3);
        assert_eq!(cell(&top_one.rows[1], "A"), (1, 1, 10.0));
        assert_eq!(cell(&top_one.rows[1], "B"), (1, 0, 0.0));
        assert!(!top_one.totals.variants.as_ref().unwrap().contains_key("C"));
        let csv = to_csv(&top_one);
        assert!(csv.starts_with(
            "key,users,newUsers,conversions,convertedUsers,conversionRate,revenue,A users,A conversions,\
             A convertedUsers,A conversionRate,A revenue,B users,"
        ));
        assert!(csv.contains("\n(other),0,0,0,0,0,0,1,1,1,1,10,1,0,0,0,0\n"), "{csv}");
    }

    #[test]
    fn the_daily_series_counts_each_user_on_their_active_days_only() {
        let mut days = Vec::new();
        days.extend(rollups_of(&user_on(&[3, 5], campaign("spring"))));
        days.extend(rollups_of(&user_on(&[5], campaign("spring"))));
        days.extend(rollups_of(&user_on(&[4, 5, 6], campaign("autumn"))));
        let all = RowFilter::default();
        let report = range_report(&days, GroupBy::Campaign, &all, 3, 6);
        let series = daily_series(&days, GroupBy::Campaign, &all, &report, 3, 6);
        let day = |date: &str, users: &[(&str, i64)], total: i64| SeriesDay {
            date: date.to_owned(),
            users: users.iter().map(|(key, n)| (key.to_string(), *n)).collect(),
            total_users: total,
        };
        assert_eq!(
            series,
            vec![
                day("1970-01-04", &[("spring", 1)], 1),
                day("1970-01-05", &[("autumn", 1)], 1),
                day("1970-01-06", &[("autumn", 1), ("spring", 2)], 3),
                day("1970-01-07", &[("autumn", 1)], 1),
            ]
        );
        // Rows the report summed into (other) are summed there in the series too.
        let mut top_one = report.clone();
        top_one.rows.retain(|row| row.key == "spring");
        top_one.rows.push(ReportRow::of(OTHER_ROW.to_owned(), &RowTotals::default()));
        let series = daily_series(&days, GroupBy::Campaign, &all, &top_one, 6, 6);
        assert_eq!(series[0].users.get(OTHER_ROW), Some(&1));
        assert_eq!(series[0].users.get("autumn"), None);
    }
}
