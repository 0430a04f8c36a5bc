//! The campaign report: rows of first-touch attribution rollups
//! (`attribution::RowDay`) summed over a range of days and grouped by a
//! campaign field, as `GET /api/analytics/campaigns` answers it.

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
}

impl ReportRow {
    fn of(key: String, totals: &RowTotals) -> ReportRow {
        ReportRow {
            key,
            users: totals.users,
            new_users: totals.new_users,
            conversions: totals.conversions,
            converted_users: totals.converted_users,
            conversion_rate: if totals.users > 0 {
                totals.converted_users as f64 / totals.users as f64
            } else {
                0.0
            },
            revenue: totals.revenue as f64 / REVENUE_SCALE,
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
    /// `channel`, `source`, `medium`, `campaign`, `term`, `content` or `source_medium`.
    pub group_by: String,
    /// `first`: each user is credited to their first touch.
    pub attribution: String,
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
    let mut by_key: std::collections::HashMap<String, RowTotals> = std::collections::HashMap::new();
    let mut totals = RowTotals::default();
    for (day, row, counts) in days {
        if !(first..=last).contains(day) || !filter.keeps(row) {
            continue;
        }
        let counted = counts.totals_through(*day, last);
        by_key.entry(group.key(row)).or_default().absorb(&counted);
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
    let shown: std::collections::HashSet<&str> =
        report.rows.iter().map(|row| row.key.as_str()).filter(|key| *key != OTHER_ROW).collect();
    let mut series: Vec<SeriesDay> = (first..=last)
        .map(|day| SeriesDay { date: day_date(day), users: Default::default(), total_users: 0 })
        .collect();
    for (day, row, counts) in days {
        if !(first..=last).contains(day) || !filter.keeps(row) {
            continue;
        }
        // Every pair that starts on `day` is a user active on `day`.
        let users = counts.totals_through(*day, *day).users;
        if users == 0 {
            continue;
        }
        let key = group.key(row);
        let key = if shown.contains(key.as_str()) { key } else { OTHER_ROW.to_owned() };
        let entry = &mut series[(*day - first) as usize];
        *entry.users.entry(key).or_default() += users;
        entry.total_users += users;
    }
    for entry in &mut series {
        entry.users.retain(|_, users| *users != 0);
    }
    series
}

/// The report as CSV: one line per row, then the totals.
pub fn to_csv(report: &RangeReport) -> String {
    let mut csv = String::from("key,users,newUsers,conversions,convertedUsers,conversionRate,revenue\n");
    for row in report.rows.iter().chain([&report.totals]) {
        let fields = [
            csv_field(&row.key),
            row.users.to_string(),
            row.new_users.to_string(),
            row.conversions.to_string(),
            row.converted_users.to_string(),
            row.conversion_rate.to_string(),
            row.revenue.to_string(),
        ];
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
        user.add(day(3), None, || Some(campaign("spring,sale")));
        user.add(day(5), Some(2_500_000), || None);
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
            user.add(at, None, || Some(row.clone()));
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
