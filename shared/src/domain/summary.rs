//! The analytics summary: totals and per-variant figures.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::counting::{CONVERSIONS, CONVERTED_USERS, EVENTS, USERS};
use super::event::EventType;
use crate::store::Item;

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
    pub fn from_item(item: &Item) -> Self {
        let read = |attr: &str| item.get(attr).and_then(Value::as_u64).unwrap_or(0);
        Self {
            events: read(EVENTS),
            users: read(USERS),
            conversions: read(CONVERSIONS),
            converted_users: read(CONVERTED_USERS),
        }
    }

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
    let mut other = T::default();
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

#[derive(Default)]
struct Tally {
    events: u64,
    conversions: u64,
    users: HashSet<String>,
    converted: HashSet<String>,
}

impl Tally {
    fn add(&mut self, event: &EventRecord) {
        self.events += 1;
        if !self.users.contains(&event.user_id) {
            self.users.insert(event.user_id.clone());
        }
        if event.event_type == EventType::Conversion {
            self.conversions += 1;
            if !self.converted.contains(&event.user_id) {
                self.converted.insert(event.user_id.clone());
            }
        }
    }

    fn totals(&self) -> Totals {
        Totals {
            events: self.events,
            users: self.users.len() as u64,
            conversions: self.conversions,
            converted_users: self.converted.len() as u64,
        }
    }
}

/// Summarises events exactly, one at a time (used for date ranges, where
/// running totals cannot answer "distinct users within the range"). With an
/// experiment, only its events count; without, variants group every event
/// that has both an experiment and a variant, by variant name.
#[derive(Default)]
pub struct Summarizer {
    experiment_id: Option<String>,
    all: Tally,
    variants: HashMap<String, Tally>,
}

impl Summarizer {
    pub fn new(experiment_id: Option<&str>) -> Self {
        Self { experiment_id: experiment_id.map(str::to_owned), ..Self::default() }
    }

    pub fn add(&mut self, event: &EventRecord) {
        if self.experiment_id.is_some() && event.experiment_id != self.experiment_id {
            return;
        }
        self.all.add(event);
        if let (Some(_), Some(variant)) = (&event.experiment_id, &event.variant) {
            match self.variants.get_mut(variant) {
                Some(tally) => tally.add(event),
                None => {
                    let mut tally = Tally::default();
                    tally.add(event);
                    self.variants.insert(variant.clone(), tally);
                }
            }
        }
    }

    pub fn finish(self) -> Summary {
        let variants = self.variants.into_iter().map(|(name, tally)| (name, tally.totals())).collect();
        Summary::new(self.all.totals(), variants)
    }
}

pub fn summarize<'a>(
    events: impl IntoIterator<Item = &'a EventRecord>,
    experiment_id: Option<&str>,
) -> Summary {
    let mut summarizer = Summarizer::new(experiment_id);
    for event in events {
        summarizer.add(event);
    }
    summarizer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user: &str, kind: EventType, experiment: Option<&str>, variant: Option<&str>) -> EventRecord {
        EventRecord {
            user_id: user.into(),
            event_type: kind,
            experiment_id: experiment.map(Into::into),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn summarises_like_the_seed_with_distinct_converters() {
        let events = vec![
            record("u1", EventType::PageView, Some("e1"), Some("A")),
            record("u1", EventType::Conversion, Some("e1"), Some("A")),
            record("u1", EventType::Conversion, Some("e1"), Some("A")),
            record("u2", EventType::PageView, Some("e1"), Some("A")),
            record("u3", EventType::PageView, Some("e2"), Some("A")),
            record("u4", EventType::Click, None, Some("B")),
            record("u5", EventType::Click, Some("e1"), None),
        ];
        let all = summarize(&events, None);
        assert_eq!(all.total_events, 7);
        assert_eq!(all.unique_users, 5);
        assert_eq!(all.variants.len(), 1, "B has no experiment, so it is not grouped");
        let a = &all.variants["A"];
        assert_eq!((a.events, a.users, a.conversions, a.converted_users), (5, 3, 2, 1));
        assert!((a.conversion_rate - 1.0 / 3.0).abs() < 1e-12);

        let e1 = summarize(&events, Some("e1"));
        assert_eq!((e1.total_events, e1.unique_users), (5, 3));
        assert_eq!(e1.variants["A"].users, 2);
    }

    #[test]
    fn at_most_a_hundred_variant_rows_and_the_rest_summed() {
        let events: Vec<EventRecord> = (0..150)
            .flat_map(|v| {
                (0..=v % 7).map(move |u| {
                    record(&format!("u{u}"), EventType::Conversion, Some("e"), Some(&format!("v{v:03}")))
                })
            })
            .collect();
        let summary = summarize(&events, Some("e"));
        assert!(summary.truncated);
        assert_eq!(summary.variants.len(), MAX_VARIANT_ROWS + 1);
        let listed: u64 =
            summary.variants.iter().filter(|(n, _)| *n != OTHER_ROW).map(|(_, v)| v.events).sum();
        assert_eq!(listed + summary.variants[OTHER_ROW].events, events.len() as u64, "nothing is lost");
        let smallest_listed =
            summary.variants.iter().filter(|(n, _)| *n != OTHER_ROW).map(|(_, v)| v.users).min();
        // 150 variants of 1..=7 users: the 50 cut are among the smallest.
        assert!(smallest_listed >= Some(3), "{smallest_listed:?}");
        let few = summarize(&events[..10], Some("e"));
        assert!(!few.truncated && !few.variants.contains_key(OTHER_ROW));
        assert!(serde_json::to_value(&few).unwrap().get("truncated").is_none());
    }

    #[test]
    fn rate_is_zero_without_users() {
        assert_eq!(Totals::default().conversion_rate(), 0.0);
    }
}
