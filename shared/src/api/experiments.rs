//! Experiments: create, list, read and update.
//!
//! Ids are scoped by tenant in the store's keys, so another tenant's
//! experiment is simply not found: 404, exactly like a missing one.

use chrono::Utc;
use http::{HeaderValue, Method, StatusCode};

use super::{
    ApiError, ApiResult, Caller, Request, api_segments, authenticate, expect_method, json_body,
    json_response, not_found_route, query_params,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::experiment::{Experiment, PatchError, Status, apply_patch, new_experiment};
use crate::repo::experiments;
use crate::store::StoreError;

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
                Ok(json_response(StatusCode::OK, &experiment))
            }
        }
        _ => Err(not_found_route(request)),
    }
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
    Ok(json_response(StatusCode::CREATED, &experiment))
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

async fn update(ctx: &AppContext, caller: &Caller, id: &str, request: &Request) -> ApiResult {
    let body = json_body(request)?;
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let current = find(ctx, caller, id).await?;
        let next = apply_patch(&current, &body, Utc::now()).map_err(|err| match err {
            PatchError::Invalid(errors) => ApiError::validation(errors),
            PatchError::Conflict(message) => ApiError::conflict(message),
        })?;
        match experiments::update(ctx.store.as_ref(), &caller.tenant_id, &next).await {
            Ok(()) => return Ok(json_response(StatusCode::OK, &next)),
            // Someone else updated it meanwhile: re-read and re-apply.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::conflict("the experiment is being updated concurrently; try again"))
}
