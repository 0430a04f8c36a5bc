//! `GET /api/analytics/campaigns?groupBy&startDate&endDate&attribution&compare&interval&format&experimentId`
//! and drill-down filters named like the groupings (`channel=Paid Search&source_medium=google / cpc`):
//! the campaign report — users, new users, conversions, converted users and
//! revenue by the channel, source, medium, campaign, term or content of
//! each user's first touch (with `experimentId`, split by variant too), or
//! by the values of a custom dimension (`groupBy=property:<key>`), over
//! whole days of the tenant's time zone, from the daily rollups of
//! `repo::attribution` (cost in days and rows, not events).

use chrono::Utc;
use chrono_tz::Tz;
use http::StatusCode;

use super::settings;
use super::{
    ApiError, ApiResult, Request, authenticate, csv_response, json_response, query_params, wants_csv,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::attribution::{Day, GroupBy, SegmentKind, day_date, day_number_in};
use crate::domain::campaign_report::{
    CampaignReport, DayRange, PreviousPeriod, RowFilter, add_variants, daily_series, property_report,
    property_series, range_report, to_csv,
};
use crate::domain::event::MAX_TAG_CHARS;
use crate::domain::time_range::{parse_range_in, parse_tz};
use crate::repo::{attribution, experiments};

/// Days a report spans when no `startDate` is given: the last 30, today included.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest drill-down key: a `source / medium` of two 128-character fields.
pub const MAX_FILTER_CHARS: usize = 300;
/// Days one report may span (each is one query, twice with `compare`).
pub const MAX_DAYS: i64 = 366;
/// How `groupBy` names a custom dimension: `property:<key>`.
pub const PROPERTY_PREFIX: &str = "property:";

/// What the rows of a report are.
enum Grouping {
    /// A campaign field of each user's first touch.
    Field(GroupBy),
    /// The values of a custom dimension (its property key).
    Property(String),
}

/// Whether an option with one accepted value (`compare=previous`) is on;
/// any other value is an error naming it.
fn switched_on(value: Option<&str>, name: &str, on: &str, errors: &mut Vec<FieldError>) -> bool {
    match value {
        None => false,
        Some(value) if value == on => true,
        Some(_) => {
            errors.push(FieldError::new(name, format!("must be {on}")));
            false
        }
    }
}

/// Whether two zones are one: the same, or two names of UTC.
fn same_zone(a: Tz, b: Tz) -> bool {
    let utc =
        |zone: Tz| matches!(zone, Tz::UTC | Tz::Etc__UTC | Tz::Etc__UCT | Tz::Etc__Universal | Tz::Etc__Zulu);
    a == b || (utc(a) && utc(b))
}

pub async fn report(ctx: &AppContext, request: &Request) -> ApiResult {
    let caller = authenticate(ctx, request).await?;
    let params = query_params(request)?;
    let mut errors = Vec::new();
    let param = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let tenant_settings = settings::cached(ctx, &caller.tenant_id).await?;
    let zone = tenant_settings.zone();
    let grouping = match param("groupBy") {
        None => Grouping::Field(GroupBy::Channel),
        Some(raw) => match (GroupBy::parse(raw), raw.strip_prefix(PROPERTY_PREFIX)) {
            (Some(group), _) => Grouping::Field(group),
            (None, Some(key)) => {
                let declared = &tenant_settings.dimensions;
                if !declared.iter().any(|known| known == key) {
                    let declared = if declared.is_empty() { "none".to_owned() } else { declared.join(", ") };
                    errors.push(FieldError::new(
                        "groupBy",
                        format!(
                            "{key:?} is not a declared dimension (declared: {declared}; PUT /api/dimensions)"
                        ),
                    ));
                }
                Grouping::Property(key.to_owned())
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "groupBy",
                    format!("must be one of {}, or {PROPERTY_PREFIX}<dimension>", GroupBy::NAMES.join(", ")),
                ));
                Grouping::Field(GroupBy::Channel)
            }
        },
    };
    match param("attribution") {
        None | Some("first") => {}
        Some("last") => errors.push(FieldError::new(
            "attribution",
            "last-touch attribution is not available yet; first is (the touch of each user's first event with \
             campaign fields)",
        )),
        Some(_) => errors.push(FieldError::new("attribution", "must be first")),
    }
    let compare = switched_on(param("compare"), "compare", "previous", &mut errors);
    // The rollups count the days of the tenant's time zone: a `tz` may
    // only name it.
    match param("tz").map(|raw| parse_tz(Some(raw))) {
        None => {}
        Some(Ok(tz)) if same_zone(tz, zone) => {}
        Some(Ok(_)) => errors.push(FieldError::new(
            "tz",
            format!(
                "campaign reports count the days of the tenant's time zone, {}; change it with PUT \
                 /api/settings/timezone (it applies to events counted from then on)",
                zone.name()
            ),
        )),
        Some(Err(error)) => errors.push(error),
    }
    let experiment_id = param("experimentId");
    if experiment_id.is_some_and(|id| id.chars().count() > MAX_TAG_CHARS) {
        errors.push(FieldError::new("experimentId", format!("at most {MAX_TAG_CHARS} characters")));
    }
    if experiment_id.is_some() && matches!(grouping, Grouping::Property(_)) {
        errors.push(FieldError::new(
            "experimentId",
            "the campaign × variant cross-tab groups by campaign fields, not by a dimension",
        ));
    }
    let mut filter = RowFilter::default();
    for grouping in GroupBy::ALL {
        if let Some(key) = param(grouping.name()) {
            if key.chars().count() > MAX_FILTER_CHARS {
                errors
                    .push(FieldError::new(grouping.name(), format!("at most {MAX_FILTER_CHARS} characters")));
            }
            filter.0.push((grouping, key.to_owned()));
        }
    }
    let daily = switched_on(param("interval"), "interval", "day", &mut errors);
    let csv = wants_csv(request, &params, &mut errors);
    let range = parse_range_in(param("startDate"), param("endDate"), zone).unwrap_or_else(|mut e| {
        errors.append(&mut e);
        Default::default()
    });
    let last: Day = day_number_in(&range.end.unwrap_or_else(Utc::now), zone);
    let first: Day = range.start.map_or(last - (DEFAULT_DAYS - 1), |start| day_number_in(&start, zone));
    if errors.is_empty() && last - first + 1 > MAX_DAYS {
        errors.push(FieldError::new("startDate", format!("a report spans at most {MAX_DAYS} days")));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }

    let store = ctx.store.as_ref();
    let span = last - first + 1;
    let read_from = if compare { first - span } else { first };
    let days = attribution::row_days(store, &caller.tenant_id, read_from, last).await?;
    // With an experiment: its arms' cells, and its variants' names (an id
    // no experiment has shows the variants its tagged events have).
    let arms = match experiment_id {
        None => None,
        Some(id) => {
            let cells = attribution::segment_row_days(
                store,
                &caller.tenant_id,
                SegmentKind::Variant,
                id,
                read_from,
                last,
            )
            .await?;
            let experiment = experiments::get(store, &caller.tenant_id, id).await?;
            let names: Vec<String> =
                experiment.map(|e| e.variants.into_iter().map(|v| v.name).collect()).unwrap_or_default();
            Some((cells, names))
        }
    };
    // With a dimension: its values' cells.
    let values = match &grouping {
        Grouping::Field(_) => Vec::new(),
        Grouping::Property(key) => {
            attribution::segment_row_days(
                store,
                &caller.tenant_id,
                SegmentKind::Property,
                key,
                read_from,
                last,
            )
            .await?
        }
    };
    let report_of = |first: Day, last: Day| match &grouping {
        Grouping::Property(_) => property_report(&days, &values, &filter, first, last),
        Grouping::Field(group) => {
            let mut report = range_report(&days, *group, &filter, first, last);
            if let Some((cells, names)) = &arms {
                add_variants(&mut report, cells, names, *group, &filter, first, last);
            }
            report
        }
    };
    let current = report_of(first, last);
    let group_name = match &grouping {
        Grouping::Field(group) => group.name().to_owned(),
        Grouping::Property(key) => format!("{PROPERTY_PREFIX}{key}"),
    };
    if csv {
        let file_group = match &grouping {
            Grouping::Field(group) => group.name(),
            Grouping::Property(_) => "property",
        };
        let filename = format!("campaigns-{file_group}-{}-{}.csv", day_date(first), day_date(last));
        return Ok(csv_response(to_csv(&current), &filename));
    }
    let range = |first: Day, last: Day| DayRange { start_date: day_date(first), end_date: day_date(last) };
    let previous = compare.then(|| PreviousPeriod {
        range: range(first - span, first - 1),
        report: report_of(first - span, first - 1),
    });
    let series = daily.then(|| match &grouping {
        Grouping::Property(_) => property_series(&days, &values, &filter, &current, first, last),
        Grouping::Field(group) => daily_series(&days, *group, &filter, &current, first, last),
    });
    let body = CampaignReport {
        group_by: group_name,
        attribution: "first".to_owned(),
        timezone: zone.name().to_owned(),
        range: range(first, last),
        report: current,
        users_approximate: false,
        previous,
        series,
    };
    Ok(json_response(StatusCode::OK, &body))
}
