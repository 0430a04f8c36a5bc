//! `GET /api/analytics/summary?startDate&endDate&experimentId&tz` and
//! `GET /api/analytics/timeseries`; `tz` (an IANA zone name) says which
//! days dates name and series' days are.
//!
//! Without a date range the answer comes from the running counters (cost
//! independent of the number of events); with one, from the rollups of the
//! range (`repo::rollups`: cost in hours and days, not events), users
//! estimated from sketches.

use std::collections::BTreeMap;

use chrono::Utc;
use http::{Method, StatusCode};
use serde_json::json;

use super::{
    ApiError, ApiResult, Request, api_segments, authenticate, expect_method, json_response, not_found_route,
    query_params,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::counting::Scope;
use crate::domain::event::{MAX_TAG_CHARS, rfc3339};
use crate::domain::summary::{MAX_VARIANT_ROWS, OTHER_ROW, Summary};
use crate::domain::time_range::{parse_range_in, parse_tz};
use crate::domain::timeseries::{Calendar, Interval, MAX_BUCKETS, assemble, bucket_count, parse_hour};
use crate::repo::{counters, experiments, rollups};
use crate::store::keys;

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["analytics", "summary"]) => {
            expect_method(request, &[Method::GET], "GET")?;
            summary(ctx, request).await
        }
        Some(["analytics", "campaigns"]) => {
            expect_method(request, &[Method::GET], "GET")?;
            super::campaigns::report(ctx, request).await
        }
        Some(["analytics", "timeseries"]) => {
            expect_method(request, &[Method::GET], "GET")?;
            timeseries(ctx, request).await
        }
        _ => Err(not_found_route(request)),
    }
}

/// `GET /api/analytics/timeseries?experimentId&startDate&endDate&interval=day|hour&tz`:
/// per-bucket events, conversions, new users and new converted users, for
/// the tenant or one experiment and each of its variants.
async fn timeseries(ctx: &AppContext, request: &Request) -> ApiResult {
    let caller = authenticate(ctx, request).await?;
    let params = query_params(request)?;
    let mut errors = Vec::new();
    let interval = match params.get("interval").map(String::as_str) {
        None | Some("") => Interval::Day,
        Some(raw) => Interval::parse(raw).unwrap_or_else(|| {
            errors.push(FieldError::new("interval", "must be day or hour"));
            Interval::Day
        }),
    };
    let tz = parse_tz(params.get("tz").map(String::as_str)).unwrap_or_else(|error| {
        errors.push(error);
        chrono_tz::Tz::UTC
    });
    let range = match parse_range_in(
        params.get("startDate").map(String::as_str),
        params.get("endDate").map(String::as_str),
        tz,
    ) {
        Ok(range) => range,
        Err(mut range_errors) => {
            errors.append(&mut range_errors);
            Default::default()
        }
    };
    let experiment_id = params.get("experimentId").filter(|e| !e.is_empty()).cloned();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let store = ctx.store.as_ref();
    let tenant = &caller.tenant_id;
    let scope = match &experiment_id {
        Some(experiment) => Scope::Experiment(experiment.clone()),
        None => Scope::Tenant,
    };
    let experiment = match &experiment_id {
        Some(id) => experiments::get(store, tenant, id).await?,
        None => None,
    };
    // Open ends default to the experiment's dates, else to the data, else to now.
    let span = counters::hour_span(store, tenant, &scope).await?;
    let now = Utc::now();
    let start = range
        .start
        .or(experiment.as_ref().and_then(|e| e.start_date))
        .or_else(|| span.as_ref().and_then(|(first, _)| parse_hour(first)))
        .unwrap_or(now);
    let end = range.end.unwrap_or(now).max(start);
    // A view whose start was not asked for shows at most the latest
    // MAX_BUCKETS buckets, however old the data: a default view always answers.
    let calendar = Calendar { interval, tz };
    let start = if range.start.is_none() { start.max(calendar.earliest_start(end)) } else { start };
    if bucket_count(calendar, start, end) > MAX_BUCKETS {
        return Err(ApiError::validation(vec![FieldError::new(
            "startDate",
            format!("the range spans more than {MAX_BUCKETS} buckets; narrow it or use a longer interval"),
        )]));
    }
    let (low, high) = (keys::hour(&calendar.floor(start)), keys::hour(&end));
    let overall = counters::hourly(store, tenant, &scope, low.clone(), high.clone()).await?;
    let mut variants = BTreeMap::new();
    let mut truncated = false;
    if let Some(id) = &experiment_id {
        let defined: Vec<String> =
            experiment.iter().flat_map(|e| e.variants.iter().map(|v| v.name.clone())).collect();
        let mut seen: Vec<(String, u64)> = counters::experiment_variants(store, tenant, id)
            .await?
            .into_iter()
            .filter(|(name, _)| !defined.contains(name))
            .map(|(name, totals)| (name, totals.users))
            .collect();
        // The defined variants, then the undefined ones with most users, up
        // to MAX_VARIANT_ROWS series; the rest are one `(other)` series.
        seen.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
        let room = MAX_VARIANT_ROWS.saturating_sub(defined.len());
        truncated = seen.len() > room;
        let names = defined.into_iter().chain(seen.into_iter().take(room).map(|(name, _)| name));
        for name in names {
            let series_scope = Scope::Variant(id.clone(), name.clone());
            variants.insert(
                name,
                counters::hourly(store, tenant, &series_scope, low.clone(), high.clone()).await?,
            );
        }
    }
    let mut buckets = assemble(calendar, start, end, &overall, &variants);
    if truncated {
        for bucket in &mut buckets {
            let other = bucket.other_than_variants();
            bucket.variants.insert(OTHER_ROW.to_owned(), other);
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "interval": interval,
            "tz": tz.name(),
            // In a zone with a half-hour offset, an hour straddling
            // midnight counts in the day it starts in.
            "dayEdgesApproximate": !calendar.aligned_to_hours(start, end),
            "experimentId": experiment_id,
            "startDate": rfc3339::format(&calendar.floor(start)),
            "endDate": rfc3339::format(&end),
            "buckets": buckets,
            "truncated": truncated,
        }),
    ))
}

async fn summary(ctx: &AppContext, request: &Request) -> ApiResult {
    let caller = authenticate(ctx, request).await?;
    let params = query_params(request)?;
    let tz =
        parse_tz(params.get("tz").map(String::as_str)).map_err(|error| ApiError::validation(vec![error]))?;
    let range = parse_range_in(
        params.get("startDate").map(String::as_str),
        params.get("endDate").map(String::as_str),
        tz,
    )
    .map_err(ApiError::validation)?;
    let experiment = params.get("experimentId").map(String::as_str).filter(|e| !e.is_empty());
    if experiment.is_some_and(|e| e.chars().count() > MAX_TAG_CHARS) {
        return Err(ApiError::validation(vec![FieldError::new(
            "experimentId",
            format!("must be at most {MAX_TAG_CHARS} characters"),
        )]));
    }
    let store = ctx.store.as_ref();
    let tenant = &caller.tenant_id;
    if range.is_unbounded() {
        return Ok(json_response(StatusCode::OK, &counters::summary(store, tenant, experiment).await?));
    }
    // An open end is the data's first or last hour (none: nothing to count).
    let scope = match experiment {
        Some(experiment) => Scope::Experiment(experiment.to_owned()),
        None => Scope::Tenant,
    };
    let span = counters::hour_span(store, tenant, &scope).await?;
    let data = span.as_ref().and_then(|(first, last)| {
        let end_of_last =
            parse_hour(last)? + chrono::TimeDelta::hours(1) - chrono::TimeDelta::microseconds(1);
        Some((parse_hour(first)?, end_of_last))
    });
    let asked = data
        .map(|(first, last)| (range.start.unwrap_or(first).max(first), range.end.unwrap_or(last).min(last)));
    let summary = match asked {
        Some((start, end)) if start <= end => {
            rollups::summary_between(store, &ctx.sketch_unions, tenant, experiment, start, end).await?
        }
        _ => Summary { users_approximate: true, ..Summary::default() },
    };
    Ok(json_response(StatusCode::OK, &summary))
}
