//! Ingestion: `POST /api/events` and `POST /api/events/batch`.
//!
//! Events are validated, normalised and queued; the batch writer stores
//! and counts them. 202 means the events are durably queued, so they will
//! be counted (once) even if every process dies right after.

use chrono::Utc;
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    ApiError, ApiResult, Request, api_segments, authenticate, expect_method, json_body, json_response,
    not_found_route,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::event::{AcceptedTimes, Event, EventAt, MAX_BATCH_EVENTS, validate_event};
use crate::repo::events::unstorable_fields;

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["events"]) => {
            expect_method(request, &[Method::POST], "POST")?;
            ingest_one(ctx, request).await
        }
        Some(["events", "batch"]) => {
            expect_method(request, &[Method::POST], "POST")?;
            ingest_batch(ctx, request).await
        }
        _ => Err(not_found_route(request)),
    }
}

async fn enqueue(ctx: &AppContext, events: &[Event]) -> Result<(), ApiError> {
    ctx.outbox.send(events).await?;
    crate::metrics::count("ingest", &[("EventsAccepted", events.len() as u64)]);
    Ok(())
}

/// The event, if the production store can hold it (`repo::events::unstorable_fields`).
fn storable(event: Event, at: EventAt) -> Result<Event, Vec<FieldError>> {
    let refused = unstorable_fields(&event, at);
    if refused.is_empty() { Ok(event) } else { Err(refused) }
}

/// The event timestamps accepted now.
fn accepted_times(ctx: &AppContext) -> AcceptedTimes {
    AcceptedTimes::at(Utc::now()).with_max_age_days(ctx.max_event_age_days)
}

async fn ingest_one(ctx: &AppContext, request: &Request) -> ApiResult {
    let caller = authenticate(ctx, request).await?;
    let body = json_body(request)?;
    let event = validate_event(&caller.tenant_id, &body, accepted_times(ctx), EventAt::Body)
        .and_then(|event| storable(event, EventAt::Body))
        .map_err(ApiError::validation)?;
    enqueue(ctx, std::slice::from_ref(&event)).await?;
    Ok(json_response(StatusCode::ACCEPTED, &event))
}

#[derive(Serialize)]
struct IndexedError {
    index: usize,
    field: String,
    message: String,
}

async fn ingest_batch(ctx: &AppContext, request: &Request) -> ApiResult {
    let caller = authenticate(ctx, request).await?;
    let body = json_body(request)?;
    let Some(items) = body.get("events").and_then(Value::as_array) else {
        return Err(ApiError::validation(vec![FieldError::new(
            "events",
            "is required: a list of 1 to 1000 events",
        )]));
    };
    if items.is_empty() || items.len() > MAX_BATCH_EVENTS {
        return Err(ApiError::validation(vec![FieldError::new(
            "events",
            format!("must hold 1 to {MAX_BATCH_EVENTS} events, got {}", items.len()),
        )]));
    }
    let submitted = items.len();
    let accepted = accepted_times(ctx);
    let mut events = Vec::with_capacity(submitted);
    let mut invalid = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = EventAt::Batch(index);
        match validate_event(&caller.tenant_id, item, accepted, at).and_then(|event| storable(event, at)) {
            Ok(event) => events.push(event),
            Err(errors) => invalid.extend(errors.into_iter().map(|e| IndexedError {
                index,
                field: e.field,
                message: e.message,
            })),
        }
    }
    // The parsed body, a JSON tree several times the size of its events
    // (megabytes for 1,000 events), is not kept while the queue makes the
    // events durable, which is most of a request's time.
    drop(body);
    if !invalid.is_empty() {
        let indexes: std::collections::BTreeSet<usize> = invalid.iter().map(|e| e.index).collect();
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            format!(
                "{} of {} events are invalid (indexes {:?}); nothing was accepted",
                indexes.len(),
                submitted,
                indexes
            ),
        )
        .with_details(invalid));
    }
    enqueue(ctx, &events).await?;
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    Ok(json_response(StatusCode::ACCEPTED, &json!({"accepted": events.len(), "ids": ids})))
}
