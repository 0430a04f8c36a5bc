//! `GET /api/analytics/summary?startDate&endDate&experimentId`.
//!
//! Without a date range the answer comes from the running counters (cost
//! independent of the number of events); with one, from the events in the
//! range, exactly.

use http::{Method, StatusCode};

use super::{
    ApiError, ApiResult, Request, api_segments, authenticate, expect_method, json_response, not_found_route,
    query_params,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::event::MAX_TAG_CHARS;
use crate::domain::time_range::parse_range;
use crate::repo::{counters, events};

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["analytics", "summary"]) => {
            expect_method(request, &[Method::GET], "GET")?;
            summary(ctx, request).await
        }
        _ => Err(not_found_route(request)),
    }
}

async fn summary(ctx: &AppContext, request: &Request) -> ApiResult {
    let caller = authenticate(ctx, request).await?;
    let params = query_params(request)?;
    let range =
        parse_range(params.get("startDate").map(String::as_str), params.get("endDate").map(String::as_str))
            .map_err(ApiError::validation)?;
    let experiment = params.get("experimentId").map(String::as_str).filter(|e| !e.is_empty());
    if experiment.is_some_and(|e| e.chars().count() > MAX_TAG_CHARS) {
        return Err(ApiError::validation(vec![FieldError::new(
            "experimentId",
            format!("must be at most {MAX_TAG_CHARS} characters"),
        )]));
    }
    let store = ctx.store.as_ref();
    let summary = if range.is_unbounded() {
        counters::summary(store, &caller.tenant_id, experiment).await?
    } else {
        events::summarize_range(store, &caller.tenant_id, &range, experiment).await?
    };
    Ok(json_response(StatusCode::OK, &summary))
}
