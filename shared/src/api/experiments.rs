//! Experiments: create, list, read and update.
//!
//! Ids are scoped by tenant in the store's keys, so another tenant's
//! experiment is simply not found: 404, exactly like a missing one.

use std::collections::HashMap;

use chrono::Utc;
use http::{HeaderValue, Method, StatusCode, header};

use super::{
    ApiError, ApiResult, Caller, Request, api_segments, authenticate, csv_response, expect_method, json_body,
    json_response, not_found_route, query_params, wants_csv,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::arm_sums::ArmSums;
use crate::domain::assignment;
use crate::domain::event::MAX_USER_ID_CHARS;
use crate::domain::experiment::{Experiment, PatchError, Status, apply_patch, new_experiment};
use crate::domain::metric;
use crate::domain::results::{
    Analysis, Correction, DEFAULT_CONFIDENCE, DEFAULT_MDE, Engine, compute_with_sums, metrics_csv, to_csv,
};
use crate::domain::stats::{
    DEFAULT_SEQUENTIAL_TUNING, GaussianPrior, PRIOR_MEANS, PRIOR_STD_DEVS, SEQUENTIAL_TUNINGS,
};
use crate::domain::summary::Totals;
use crate::repo::{counters, experiments};
use crate::store::{StoreError, keys};

pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 100;
/// Concurrent PATCHes of one experiment are retried this often.
const MAX_UPDATE_ATTEMPTS: usize = 5;

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["experiments"]) => {
            expect_method(request, &[Method::GET, Method::POST], "GET, POST")?;
            let caller = authenticate(ctx, request).await?;
            if request.method() == Method::POST {
                create(ctx, &caller, request).await
            } else {
                list(ctx, &caller, request).await
            }
        }
        Some(["experiments", id]) => {
            expect_method(request, &[Method::GET, Method::PATCH], "GET, PATCH")?;
            let caller = authenticate(ctx, request).await?;
            if request.method() == Method::PATCH {
                update(ctx, &caller, id, request).await
            } else {
                let experiment = find(ctx, &caller, id).await?;
                Ok(experiment_response(StatusCode::OK, &experiment))
            }
        }
        Some(["experiments", id, "results"]) => {
            expect_method(request, &[Method::GET], "GET")?;
            let caller = authenticate(ctx, request).await?;
            results(ctx, &caller, id, request).await
        }
        Some(["experiments", id, "assign"]) => {
            expect_method(request, &[Method::GET], "GET")?;
            let caller = authenticate(ctx, request).await?;
            assign(ctx, &caller, id, request).await
        }
        _ => Err(not_found_route(request)),
    }
}

/// A number query parameter within bounds, or its default.
fn bounded(
    params: &std::collections::HashMap<String, String>,
    name: &str,
    default: f64,
    range: std::ops::RangeInclusive<f64>,
    errors: &mut Vec<FieldError>,
) -> f64 {
    match params.get(name) {
        None => default,
        Some(raw) => match raw.parse::<f64>() {
            Ok(value) if range.contains(&value) => value,
            _ => {
                errors.push(FieldError::new(
                    name,
                    format!("must be a number from {} to {}", range.start(), range.end()),
                ));
                default
            }
        },
    }
}

/// The engine `?engine=` names (the experiment's own when none), with its
/// settings: `sequentialTuning` for the sequential one, `priorMean` and
/// `priorStdDev` (both or neither; a flat prior without) for the
/// Bayesian one. A setting of another engine than the one named is an
/// error, not ignored.
fn engine(
    params: &std::collections::HashMap<String, String>,
    errors: &mut Vec<FieldError>,
) -> Option<Engine> {
    let prior_named = params.contains_key("priorMean") || params.contains_key("priorStdDev");
    let tuning_named = params.contains_key("sequentialTuning");
    let engine = match params.get("engine").map(String::as_str) {
        None => None,
        Some("frequentist") => Some(Engine::Frequentist),
        Some("sequential") => Some(Engine::Sequential {
            tuning: bounded(
                params,
                "sequentialTuning",
                DEFAULT_SEQUENTIAL_TUNING,
                SEQUENTIAL_TUNINGS,
                errors,
            ),
        }),
        Some("bayesian") => {
            let prior = prior_named.then(|| GaussianPrior {
                mean: bounded(params, "priorMean", 0.0, PRIOR_MEANS, errors),
                std_dev: bounded(params, "priorStdDev", 1.0, PRIOR_STD_DEVS, errors),
            });
            if prior_named && !(params.contains_key("priorMean") && params.contains_key("priorStdDev")) {
                errors.push(FieldError::new("priorStdDev", "priorMean and priorStdDev go together"));
            }
            Some(Engine::Bayesian { prior })
        }
        Some(_) => {
            errors.push(FieldError::new("engine", "must be frequentist, sequential or bayesian"));
            None
        }
    };
    if tuning_named && !matches!(engine, Some(Engine::Sequential { .. })) {
        errors.push(FieldError::new("sequentialTuning", "applies with engine=sequential only"));
    }
    if prior_named && !matches!(engine, Some(Engine::Bayesian { .. })) {
        errors
            .push(FieldError::new("priorMean", "priorMean and priorStdDev apply with engine=bayesian only"));
    }
    engine
}

async fn results(ctx: &AppContext, caller: &Caller, id: &str, request: &Request) -> ApiResult {
    let params = query_params(request)?;
    let mut errors = Vec::new();
    let confidence = bounded(&params, "confidence", DEFAULT_CONFIDENCE, 0.5..=0.999, &mut errors);
    let mde = bounded(&params, "mde", DEFAULT_MDE, 0.001..=10.0, &mut errors);
    let engine = engine(&params, &mut errors);
    let correction = match params.get("correction") {
        None => Correction::Holm,
        Some(raw) => Correction::parse(raw).unwrap_or_else(|| {
            errors.push(FieldError::new("correction", "must be holm, bh or none"));
            Correction::Holm
        }),
    };
    let wants_csv = wants_csv(request, &params, &mut errors);
    let metrics_table = match params.get("table").map(String::as_str) {
        None | Some("variants") => false,
        Some("metrics") => true,
        Some(_) => {
            errors.push(FieldError::new("table", "must be variants or metrics"));
            false
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let experiment = find(ctx, caller, id).await?;
    let arms = counters::experiment_arms(ctx.store.as_ref(), &caller.tenant_id, id).await?;
    let sums: HashMap<String, ArmSums> = arms.iter().map(|(name, _, sums)| (name.clone(), *sums)).collect();
    let totals: HashMap<String, Totals> = arms.into_iter().map(|(name, totals, _)| (name, totals)).collect();
    let metric_sums = match experiment.metrics.is_empty() {
        true => HashMap::new(),
        false => counters::experiment_metric_sums(ctx.store.as_ref(), &caller.tenant_id, id).await?,
    };
    let started = experiment.start_date.unwrap_or(experiment.created_at);
    let until = experiment.end_date.filter(|end| *end < Utc::now()).unwrap_or_else(Utc::now);
    let days_running = Some(((until - started).num_seconds() as f64 / 86_400.0).max(1.0 / 24.0));
    let engine = engine.unwrap_or(experiment.engine);
    let analysis = Analysis { confidence, mde, engine, correction };
    let computed = compute_with_sums(&experiment, &totals, &sums, &metric_sums, &analysis, days_running);
    if wants_csv {
        let table = if metrics_table { "metrics" } else { "results" };
        let filename = format!("experiment-{}-{table}.csv", keys::part(id));
        let csv = if metrics_table { metrics_csv(&computed) } else { to_csv(&computed) };
        return Ok(csv_response(csv, &filename));
    }
    Ok(json_response(StatusCode::OK, &computed))
}

async fn assign(ctx: &AppContext, caller: &Caller, id: &str, request: &Request) -> ApiResult {
    let params = query_params(request)?;
    let user_id = params.get("userId").cloned().unwrap_or_default();
    if user_id.is_empty() || user_id.chars().count() > MAX_USER_ID_CHARS {
        return Err(ApiError::validation(vec![FieldError::new(
            "userId",
            format!("is required: a string of 1 to {MAX_USER_ID_CHARS} characters"),
        )]));
    }
    let experiment = find(ctx, caller, id).await?;
    if experiment.status != Status::Active {
        return Err(ApiError::conflict(format!(
            "only ACTIVE experiments assign variants; this one is {}",
            experiment.status.as_str()
        )));
    }
    let bucket = assignment::bucket(&experiment.tracking_key, &user_id);
    let variant = assignment::choose(&experiment.variants, bucket)
        .map(|v| v.name.clone())
        .ok_or_else(ApiError::internal)?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"experimentId": experiment.id, "userId": user_id, "variant": variant, "bucket": bucket}),
    ))
}

/// The caller's experiment, or 404.
pub async fn find(ctx: &AppContext, caller: &Caller, id: &str) -> Result<Experiment, ApiError> {
    experiments::get(ctx.store.as_ref(), &caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("experiment {id} not found")))
}

async fn create(ctx: &AppContext, caller: &Caller, request: &Request) -> ApiResult {
    let body = json_body(request)?;
    let experiment = new_experiment(&body, Utc::now()).map_err(ApiError::validation)?;
    experiments::create(ctx.store.as_ref(), &caller.tenant_id, &experiment).await?;
    Ok(experiment_response(StatusCode::CREATED, &experiment))
}

async fn list(ctx: &AppContext, caller: &Caller, request: &Request) -> ApiResult {
    let params = query_params(request)?;
    let mut errors = Vec::new();
    let status = params.get("status").filter(|s| !s.is_empty()).and_then(|raw| {
        let status = Status::parse(&raw.to_ascii_uppercase());
        if status.is_none() {
            errors.push(FieldError::new("status", "must be one of DRAFT, ACTIVE, PAUSED, COMPLETED"));
        }
        status
    });
    let limit = match params.get("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => match raw.parse::<usize>() {
            Ok(limit) if (1..=MAX_PAGE).contains(&limit) => limit,
            _ => {
                errors.push(FieldError::new("limit", format!("must be a whole number from 1 to {MAX_PAGE}")));
                DEFAULT_PAGE
            }
        },
    };
    let cursor = params.get("cursor").filter(|c| !c.is_empty()).cloned();
    if cursor.as_ref().is_some_and(|c| c.len() > 128) {
        errors.push(FieldError::new("cursor", "is not a cursor this API returned"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (page, next) =
        experiments::list(ctx.store.as_ref(), &caller.tenant_id, status, limit, cursor).await?;
    let mut response = json_response(StatusCode::OK, &page);
    if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(NEXT_CURSOR_HEADER, next);
    }
    Ok(response)
}

/// An experiment's entity tag: its version, which every update bumps.
fn etag(experiment: &Experiment) -> String {
    format!("\"v{}\"", experiment.version)
}

/// One experiment as JSON, with its `ETag` for a later `If-Match`.
fn experiment_response(status: StatusCode, experiment: &Experiment) -> super::Response {
    let mut response = json_response(status, experiment);
    if let Ok(tag) = HeaderValue::from_str(&etag(experiment)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// The `If-Match` precondition of a request: `None` without the header,
/// else whether it matches `current` (`*`, or a list of strong tags; weak
/// tags never match, as RFC 9110's strong comparison says).
fn if_match_holds(request: &Request, current: &Experiment) -> Option<bool> {
    let values: Vec<&HeaderValue> = request.headers().get_all(header::IF_MATCH).iter().collect();
    if values.is_empty() {
        return None;
    }
    let ours = etag(current);
    let holds = values.iter().filter_map(|value| value.to_str().ok()).flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag == ours
    });
    Some(holds)
}

async fn update(ctx: &AppContext, caller: &Caller, id: &str, request: &Request) -> ApiResult {
    let body = json_body(request)?;
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let current = find(ctx, caller, id).await?;
        let conditional = match if_match_holds(request, &current) {
            Some(false) => {
                return Err(ApiError::precondition_failed(format!(
                    "the experiment changed since that version (If-Match); it is now {}: read it again",
                    etag(&current)
                )));
            }
            Some(true) => true,
            None => false,
        };
        let mut next = apply_patch(&current, &body, Utc::now()).map_err(|err| match err {
            PatchError::Invalid(errors) => ApiError::validation(errors),
            PatchError::Conflict(message) => ApiError::conflict(message),
        })?;
        // A metric new to an experiment nothing was counted for yet covers
        // it from its start.
        if body.get("metrics").is_some() && next.metrics.iter().any(|m| !m.from_start) {
            let arms = counters::experiment_variants(ctx.store.as_ref(), &caller.tenant_id, id).await?;
            if arms.iter().all(|(_, totals)| totals.events == 0) {
                metric::carry_over(&current.metrics, &mut next.metrics, false);
            }
        }
        match experiments::update(ctx.store.as_ref(), &caller.tenant_id, &next).await {
            Ok(()) => return Ok(experiment_response(StatusCode::OK, &next)),
            // Someone else updated it meanwhile. With If-Match the client
            // asked to change the version it read, which is gone: 412.
            // Without, re-read and re-apply (last writer wins, as before).
            Err(StoreError::ConditionFailed { .. }) if conditional => {
                return Err(ApiError::precondition_failed(
                    "the experiment changed while this update was applied (If-Match); read it again",
                ));
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::conflict("the experiment is being updated concurrently; try again"))
}
