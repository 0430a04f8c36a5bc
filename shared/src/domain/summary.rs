//! The analytics summary: totals and per-variant figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::EventType;

/// The four running totals a counter item holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub events: u64,
    pub users: u64,
    pub conversions: u64,
    pub converted_users: u64,
}

impl Totals {
    /// Adds another row's totals (users are summed, not deduplicated).
    pub fn add(&mut self, other: &Totals) {
        self.events += other.events;
        self.users += other.users;
        self.conversions += other.conversions;
        self.converted_users += other.converted_users;
    }

    /// Share of users who converted; 0 when there are no users.
    pub fn conversion_rate(&self) -> f64 {
        if self.users == 0 { 0.0 } else { self.converted_users as f64 / self.users as f64 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantSummary {
    pub events: u64,
    pub users: u64,
    pub conversions: u64,
    pub converted_users: u64,
    pub conversion_rate: f64,
}

impl From<Totals> for VariantSummary {
    fn from(totals: Totals) -> Self {
        Self {
            events: totals.events,
            users: totals.users,
            conversions: totals.conversions,
            converted_users: totals.converted_users,
            conversion_rate: totals.conversion_rate(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub total_events: u64,
    pub unique_users: u64,
    /// At most [`MAX_VARIANT_ROWS`] variants by users, plus [`OTHER_ROW`].
    pub variants: BTreeMap<String, VariantSummary>,
    /// Present, and true, when variants were summed into [`OTHER_ROW`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// True when users (and converted users) are estimates from sketches
    /// (a date range, relative standard error about 0.8 %); false when
    /// exact (all time).
    pub users_approximate: bool,
}

impl Summary {
    /// A summary of these totals, with its variant rows bounded.
    pub fn new(overall: Totals, variants: Vec<(String, Totals)>) -> Self {
        let (variants, truncated) = top_rows(variants, |t| t.users, Totals::add);
        Summary {
            total_events: overall.events,
            unique_users: overall.users,
            variants: variants.into_iter().map(|(name, totals)| (name, totals.into())).collect(),
            truncated,
            users_approximate: false,
        }
    }
}

/// Most rows of variants one response lists; the rest are summed.
pub const MAX_VARIANT_ROWS: usize = 100;
/// The row the variants beyond [`MAX_VARIANT_ROWS`] are summed into.
pub const OTHER_ROW: &str = "(other)";

/// The [`MAX_VARIANT_ROWS`] rows with the most users (ties by name), and
/// one [`OTHER_ROW`] adding up the rest; says whether any were cut. Users
/// of the `(other)` row are summed across its variants, so a user seen in
/// two of them counts twice there.
pub fn top_rows<T: Default>(
    mut rows: Vec<(String, T)>,
    users: impl Fn(&T) -> u64,
    add: impl Fn(&mut T, &T),
) -> (Vec<(String, T)>, bool) {
    if rows.len() <= MAX_VARIANT_ROWS {
        return (rows, false);
    }
    rows.sort_by(|(a, x), (b, y)| users(y).cmp(&users(x)).then_with(|| a.cmp(b)));
    let rest = rows.split_off(MAX_VARIANT_ROWS);
    // A row already named `(other)` (a value so named, or a dimension's
    // overflow) is where the rest go too: one `(other)` row, never two.
    let mut other = match rows.iter().position(|(key, _)| key == OTHER_ROW) {
        Some(index) => rows.remove(index).1,
        None => T::default(),
    };
    for (_, row) in &rest {
        add(&mut other, row);
    }
    rows.push((OTHER_ROW.to_owned(), other));
    (rows, true)
}

/// The fields of a stored event that summaries need.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub user_id: String,
    pub event_type: EventType,
    pub experiment_id: Option<String>,
    pub variant: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_a_hundred_variant_rows_and_the_rest_summed() {
        // 150 variants of 1..=7 users (and twice as many events).
        let rows: Vec<(String, Totals)> = (0..150u64)
            .map(|v| {
                let users = 1 + v % 7;
                (
                    format!("v{v:03}"),
                    Totals { events: 2 * users, users, conversions: users, converted_users: 1 },
                )
            })
            .collect();
        let events: u64 = rows.iter().map(|(_, t)| t.events).sum();
        let summary = Summary::new(Totals::default(), rows.clone());
        assert!(summary.truncated);
        assert_eq!(summary.variants.len(), MAX_VARIANT_ROWS + 1);
        let listed: u64 =
            summary.variants.iter().filter(|(n, _)| *n != OTHER_ROW).map(|(_, v)| v.events).sum();
        assert_eq!(listed + summary.variants[OTHER_ROW].events, events, "nothing is lost");
        let smallest_listed =
            summary.variants.iter().filter(|(n, _)| *n != OTHER_ROW).map(|(_, v)| v.users).min();
        // The 50 cut are among the smallest.
        assert!(smallest_listed >= Some(3), "{smallest_listed:?}");
        let few = Summary::new(Totals::default(), rows[..10].to_vec());
        assert!(!few.truncated && !few.variants.contains_key(OTHER_ROW));
        assert!(serde_json::to_value(&few).unwrap().get("truncated").is_none());
    }

    #[test]
    fn a_row_named_other_takes_the_rest_instead_of_a_second_one() {
        let mut rows: Vec<(String, u64)> = (0..120u64).map(|v| (format!("v{v:03}"), 10 + v)).collect();
        rows.push((OTHER_ROW.to_owned(), 1_000));
        let total: u64 = rows.iter().map(|(_, n)| n).sum();
        let (kept, truncated) = top_rows(rows, |n| *n, |sum, n| *sum += n);
        assert!(truncated);
        assert_eq!(kept.iter().filter(|(key, _)| key == OTHER_ROW).count(), 1);
        assert_eq!(kept.len(), MAX_VARIANT_ROWS);
        assert_eq!(kept.iter().map(|(_, n)| n).sum::<u64>(), total, "nothing is lost");
    }

    #[test]
    fn rate_is_zero_without_users() {
        assert_eq!(Totals::default().conversion_rate(), 0.0);
    }
}
