//! Date ranges as users write them: a day (`2026-11-01`) or a date-time,
//! days read in a time zone (`tz`, an IANA name; UTC by default).

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

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

/// The `tz` query parameter: an IANA time zone name; UTC when absent.
pub fn parse_tz(raw: Option<&str>) -> Result<Tz, FieldError> {
    match raw.filter(|raw| !raw.is_empty()) {
        None => Ok(Tz::UTC),
        Some(raw) => raw.parse::<Tz>().map_err(|_| {
            FieldError::new("tz", "must be an IANA time zone name, such as Europe/Paris or America/New_York")
        }),
    }
}

/// The first instant of `day` in `tz`: its midnight, or where a daylight
/// saving gap at midnight ends (the day then starts at 01:00).
pub fn start_of_day(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        LocalResult::None => {
            // Midnight read with the offset in force before the gap is the
            // instant the gap ends.
            let before = tz.offset_from_utc_datetime(&(midnight - TimeDelta::days(1))).fix();
            (midnight - TimeDelta::seconds(i64::from(before.local_minus_utc()))).and_utc()
        }
    }
}

/// The day of `tz` an instant falls on.
pub fn day_in(tz: Tz, instant: &DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&tz).date_naive()
}

/// Parses one end. A bare date means the start of that day in `tz` for
/// `startDate` and its last microsecond for `endDate`, so an end date covers
/// the whole day.
fn parse_edge(field: &str, raw: &str, edge: Edge, tz: Tz) -> Result<DateTime<Utc>, FieldError> {
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
        return match edge {
            Edge::Start => Ok(start_of_day(tz, day)),
            // The day's last microsecond: the next day's start, less one.
            Edge::End => day
                .succ_opt()
                .map(|next| start_of_day(tz, next) - TimeDelta::microseconds(1))
                .ok_or_else(out_of_years),
        };
    }
    Err(FieldError::new(field, "must be a date (2026-11-01) or an RFC 3339 date-time (2026-11-01T10:00:00Z)"))
}

/// Parses `startDate`/`endDate` query parameters.
pub fn parse_range(start: Option<&str>, end: Option<&str>) -> Result<TimeRange, Vec<FieldError>> {
    parse_range_in(start, end, Tz::UTC)
}

/// Parses `startDate`/`endDate` query parameters, their bare dates being
/// days in `tz`.
pub fn parse_range_in(start: Option<&str>, end: Option<&str>, tz: Tz) -> Result<TimeRange, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut edge = |field: &str, raw: Option<&str>, which: Edge| {
        raw.filter(|r| !r.is_empty())
            .and_then(|raw| parse_edge(field, raw, which, tz).map_err(|e| errors.push(e)).ok())
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
    fn dates_are_days_of_the_time_zone_asked_for() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let range = |start: &str, end: &str, tz: &str| {
            let tz = parse_tz(Some(tz)).unwrap();
            let range = parse_range_in(Some(start), Some(end), tz).unwrap();
            (range.start.unwrap(), range.end.unwrap())
        };
        // Standard time in New York (UTC−5) from 2026-11-01 02:00.
        assert_eq!(
            range("2026-11-03", "2026-11-05", "America/New_York"),
            (at("2026-11-03T05:00:00Z"), at("2026-11-06T04:59:59.999999Z"))
        );
        // India is UTC+5:30: days start at 18:30 UTC.
        assert_eq!(
            range("2026-11-03", "2026-11-03", "Asia/Kolkata"),
            (at("2026-11-02T18:30:00Z"), at("2026-11-03T18:29:59.999999Z"))
        );
        // The day clocks go back in Paris has 25 hours; forward, 23.
        let (start, end) = range("2026-10-25", "2026-10-25", "Europe/Paris");
        assert_eq!(end - start + TimeDelta::microseconds(1), TimeDelta::hours(25));
        let (start, end) = range("2026-03-29", "2026-03-29", "Europe/Paris");
        assert_eq!(end - start + TimeDelta::microseconds(1), TimeDelta::hours(23));
        // Where the gap is at midnight (Santiago, 2026-09-06), the day starts at 01:00.
        let (start, _) = range("2026-09-06", "2026-09-06", "America/Santiago");
        assert_eq!(start, at("2026-09-06T04:00:00Z"));
        assert_eq!(day_in(parse_tz(Some("America/Santiago")).unwrap(), &start).to_string(), "2026-09-06");
        // Date-times name their own offset; UTC without `tz`.
        assert_eq!(range("2026-11-03T10:00:00Z", "2026-11-03", "Asia/Tokyo").0, at("2026-11-03T10:00:00Z"));
        assert_eq!(parse_tz(None).unwrap(), Tz::UTC);
        assert_eq!(parse_tz(Some("")).unwrap(), Tz::UTC);
        for bad in ["Mars/Olympus", "utc+2", "../etc/passwd"] {
            assert_eq!(parse_tz(Some(bad)).unwrap_err().field, "tz", "{bad}");
        }
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
