//! Date ranges as users write them: a day (`2026-11-01`) or a date-time.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};

use super::FieldError;

/// The years a date input may name. chrono parses signed years of any
/// width (`+262142-12-31`), whose arithmetic overflows; no analytics
/// question needs them, and every key and bucket format has four digits.
pub const MIN_YEAR: i32 = 1970;
pub const MAX_YEAR: i32 = 9999;

/// Whether an instant lies in the years date inputs may name.
pub fn in_supported_years(instant: &DateTime<Utc>) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&instant.year())
}

/// An inclusive range of instants; either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub fn is_unbounded(&self) -> bool {
        self.start.is_none() && self.end.is_none()
    }

    pub fn contains(&self, instant: &DateTime<Utc>) -> bool {
        self.start.is_none_or(|start| *instant >= start) && self.end.is_none_or(|end| *instant <= end)
    }
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// Parses one end. A bare date means the start of that UTC day for
/// `startDate` and its last microsecond for `endDate`, so an end date covers
/// the whole day.
fn parse_edge(field: &str, raw: &str, edge: Edge) -> Result<DateTime<Utc>, FieldError> {
    let out_of_years =
        || FieldError::new(field, format!("must lie in the years {MIN_YEAR} to {MAX_YEAR} (UTC)"));
    if let Ok(instant) = DateTime::parse_from_rfc3339(raw) {
        let instant = instant.with_timezone(&Utc);
        return if in_supported_years(&instant) { Ok(instant) } else { Err(out_of_years()) };
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        if !(MIN_YEAR..=MAX_YEAR).contains(&day.year()) {
            return Err(out_of_years());
        }
        let start = day.and_time(NaiveTime::MIN).and_utc();
        return match edge {
            Edge::Start => Ok(start),
            // The day's last microsecond; checked, though within the
            // supported years it cannot overflow.
            Edge::End => start
                .checked_add_signed(TimeDelta::days(1) - TimeDelta::microseconds(1))
                .ok_or_else(out_of_years),
        };
    }
    Err(FieldError::new(field, "must be a date (2026-11-01) or an RFC 3339 date-time (2026-11-01T10:00:00Z)"))
}

/// Parses `startDate`/`endDate` query parameters.
pub fn parse_range(start: Option<&str>, end: Option<&str>) -> Result<TimeRange, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut edge = |field: &str, raw: Option<&str>, which: Edge| {
        raw.filter(|r| !r.is_empty())
            .and_then(|raw| parse_edge(field, raw, which).map_err(|e| errors.push(e)).ok())
    };
    let range =
        TimeRange { start: edge("startDate", start, Edge::Start), end: edge("endDate", end, Edge::End) };
    if let (Some(start), Some(end)) = (range.start, range.end)
        && start > end
    {
        errors.push(FieldError::new("startDate", "must not be after endDate"));
    }
    if errors.is_empty() { Ok(range) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_date_covers_its_whole_day() {
        let range = parse_range(Some("2026-11-01"), Some("2026-11-01")).unwrap();
        assert!(range.contains(&"2026-11-01T00:00:00Z".parse().unwrap()));
        assert!(range.contains(&"2026-11-01T23:59:59.999Z".parse().unwrap()));
        assert!(!range.contains(&"2026-11-02T00:00:00Z".parse().unwrap()));
        assert!(!range.contains(&"2026-10-31T23:59:59Z".parse().unwrap()));
    }

    #[test]
    fn accepts_date_times_and_open_ends() {
        let range = parse_range(Some("2026-11-01T10:00:00+02:00"), None).unwrap();
        assert_eq!(range.start, Some("2026-11-01T08:00:00Z".parse().unwrap()));
        assert_eq!(range.end, None);
        assert!(parse_range(None, None).unwrap().is_unbounded());
    }

    #[test]
    fn refuses_years_outside_1970_to_9999() {
        for raw in ["+262142-12-31", "-0001-01-01", "1969-12-31", "10000-01-01", "+262142-12-31T00:00:00Z"] {
            for (start, end) in [(Some(raw), None), (None, Some(raw))] {
                let errors = parse_range(start, end).unwrap_err();
                assert_eq!(errors.len(), 1, "{raw}: {errors:?}");
            }
        }
        let errors = parse_range(Some("+262142-12-31"), None).unwrap_err();
        assert!(errors[0].message.contains("1970 to 9999"), "{errors:?}");
        // chrono's RFC 3339 parser takes only four-digit years, but an
        // offset can push one over an edge.
        assert!(parse_range(Some("1970-01-01T00:30:00+01:00"), None).is_err());
        let edges = parse_range(Some("1970-01-01"), Some("9999-12-31")).unwrap();
        assert_eq!(edges.end, Some("9999-12-31T23:59:59.999999Z".parse().unwrap()));
    }

    #[test]
    fn refuses_garbage_and_inverted_ranges() {
        let errors = parse_range(Some("soon"), Some("2026-13-01")).unwrap_err();
        assert_eq!(errors.len(), 2);
        let inverted = parse_range(Some("2026-11-02"), Some("2026-11-01")).unwrap_err();
        assert_eq!(inverted[0].field, "startDate");
    }
}
