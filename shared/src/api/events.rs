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
    API_KEY_HEADER, ApiError, ApiResult, Caller, KeyCarrier, Request, api_segments, authenticate,
    authenticate_key, expect_method, json_body, json_response, missing_key, not_found_route, query_params,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::campaign::CampaignFields;
use crate::domain::event::{AcceptedTimes, Event, EventAt, MAX_BATCH_EVENTS, validate_event};
use crate::repo::events::unstorable_fields;
use crate::repo::idempotency;

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["events"]) => {
            expect_method(request, &[Method::POST], "POST")?;
            let (caller, body) = caller_and_body(ctx, request).await?;
            Ok(granted(&caller, ingest_one(ctx, &caller, request, body).await))
        }
        Some(["events", "batch"]) => {
            expect_method(request, &[Method::POST], "POST")?;
            let (caller, body) = caller_and_body(ctx, request).await?;
            Ok(granted(&caller, ingest_batch(ctx, &caller, request, body).await))
        }
        _ => Err(not_found_route(request)),
    }
}

/// The body's field that may carry a publishable key.
pub const BODY_KEY_FIELD: &str = "apiKey";
/// The query parameter that may carry a publishable key (a beacon's URL).
pub const QUERY_KEY_PARAM: &str = "key";

/// The caller and the parsed body of an ingest request. A key in
/// `X-API-Key` is checked before the body is read, as on every route. A
/// browser that cannot set headers without a CORS preflight
/// (`navigator.sendBeacon`, a `text/plain` `fetch`) may instead send a
/// publishable key as `?key=` or as the body's `apiKey`; the latter needs
/// the body parsed first. The body's `Content-Type` is not checked: JSON
/// sent as `text/plain` is what such a browser sends.
/// A body that does not parse is the caller's error to read: it is
/// answered with the caller's CORS grant (see [`granted`]).
async fn caller_and_body(
    ctx: &AppContext,
    request: &Request,
) -> Result<(Caller, Result<Value, ApiError>), ApiError> {
    if request.headers().contains_key(API_KEY_HEADER) {
        let caller = authenticate(ctx, request).await?;
        return Ok((caller, json_body(request)));
    }
    if let Some(key) = query_params(request)?.get(QUERY_KEY_PARAM) {
        let caller = authenticate_key(ctx, request, Some((key, KeyCarrier::UrlOrBody))).await?;
        return Ok((caller, json_body(request)));
    }
    // Nothing a client could have put a key in is readable: no key.
    let Ok(body) = json_body(request) else { return Err(missing_key(ctx, request)) };
    let key = body.get(BODY_KEY_FIELD).and_then(Value::as_str);
    let caller = authenticate_key(ctx, request, key.map(|key| (key, KeyCarrier::UrlOrBody))).await?;
    Ok((caller, Ok(body)))
}

/// Whether this request's events are a known crawler's, to be dropped
/// (`domain::crawlers`; publishable keys only, unless they opted out).
fn from_known_crawler(caller: &Caller, request: &Request) -> bool {
    caller.filters_bots
        && request
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
            .is_some_and(crate::domain::crawlers::is_known_crawler)
}

/// Where a client names a request's retries as one (`POST /api/events*`).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Set on an answer replayed for a repeated `Idempotency-Key`.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The request's `Idempotency-Key`, if it sent one (1 to 128 characters).
fn idempotency_key(request: &Request) -> Result<Option<String>, ApiError> {
    let Some(raw) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else { return Ok(None) };
    let key = raw.to_str().map(str::trim).unwrap_or_default();
    let length = key.chars().count();
    if length == 0 || length > idempotency::MAX_KEY_CHARS {
        return Err(ApiError::validation(vec![FieldError::new(
            "Idempotency-Key",
            format!("must be 1 to {} visible ASCII characters", idempotency::MAX_KEY_CHARS),
        )]));
    }
    Ok(Some(key.to_owned()))
}

/// A request made with an idempotency key: its key and request digest.
struct Idempotent {
    key: String,
    digest: String,
}

/// The recorded first answer, if this key was used within a day: for the
/// same request, replayed; for another, refused.
async fn replay(
    ctx: &AppContext,
    tenant_id: &str,
    request: &Request,
) -> Result<Result<Option<Idempotent>, super::Response>, ApiError> {
    let Some(key) = idempotency_key(request)? else { return Ok(Ok(None)) };
    let digest = idempotency::request_digest(request.uri().path(), request.body());
    match idempotency::find(ctx.store.as_ref(), tenant_id, &key, Utc::now()).await? {
        Some(recorded) if recorded.request_digest != digest => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used in the last 24 hours for a different request; use a new key",
        )),
        Some(recorded) => {
            let mut response = http::Response::new(bytes::Bytes::from(recorded.body));
            *response.status_mut() = StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::ACCEPTED);
            let headers = response.headers_mut();
            headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            headers.insert(REPLAYED_HEADER, http::HeaderValue::from_static("true"));
            Ok(Err(response))
        }
        None => Ok(Ok(Some(Idempotent { key, digest }))),
    }
}

/// Records the first answer to an idempotent request. A failure to record
/// costs only the replay: a retry derives the same event ids.
async fn remember(
    ctx: &AppContext,
    tenant_id: &str,
    idempotent: Option<Idempotent>,
    response: &super::Response,
) {
    let Some(Idempotent { key, digest }) = idempotent else { return };
    let body = String::from_utf8_lossy(response.body()).into_owned();
    let recorded = idempotency::Recorded::new(digest, response.status().as_u16(), body, Utc::now());
    if let Err(err) = idempotency::record(ctx.store.as_ref(), tenant_id, &key, &recorded).await {
        tracing::warn!(error = %err, "could not record an idempotent answer; a retry will derive the same ids");
    }
}

/// Gives an event sent without an `eventId` the id its key derives.
fn with_derived_id(
    mut event: Event,
    body: &Value,
    tenant_id: &str,
    idempotent: &Option<Idempotent>,
    index: usize,
) -> Event {
    if let Some(idempotent) = idempotent
        && body.get("eventId").is_none_or(Value::is_null)
    {
        event.id = idempotency::derived_event_id(tenant_id, &idempotent.key, index);
    }
    event
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

/// The event timestamps accepted now, from a client whose clock said
/// `sentAt` when it sent them (see `AcceptedTimes::with_client_clock`).
fn accepted_times(ctx: &AppContext, body: &Value) -> Result<AcceptedTimes, ApiError> {
    AcceptedTimes::at(Utc::now())
        .with_max_age_days(ctx.max_event_age_days)
        .with_client_clock(body.get(SENT_AT_FIELD), SENT_AT_FIELD)
        .map_err(|error| ApiError::validation(vec![error]))
}

/// The client's clock when it sent the request.
pub const SENT_AT_FIELD: &str = "sentAt";

/// The answer, errors included, readable by a web page whose origin the
/// caller's publishable key allows.
fn granted(caller: &Caller, result: ApiResult) -> super::Response {
    let mut response = result.unwrap_or_else(ApiError::into_response);
    caller.grant_cors(&mut response);
    response
}

/// What both ingest routes go on from once the caller is known.
struct Started {
    body: Value,
    idempotent: Option<Idempotent>,
    accepted: AcceptedTimes,
}

/// The parsed body, the request's idempotency key and the timestamps
/// accepted from this client; or (`Err` inside) the first answer to a
/// repeated idempotency key, to send as it was.
async fn start(
    ctx: &AppContext,
    caller: &Caller,
    request: &Request,
    body: Result<Value, ApiError>,
) -> Result<Result<Started, super::Response>, ApiError> {
    let body = body?;
    let idempotent = match replay(ctx, &caller.tenant_id, request).await? {
        Ok(idempotent) => idempotent,
        Err(replayed) => return Ok(Err(replayed)),
    };
    let accepted = accepted_times(ctx, &body)?;
    Ok(Ok(Started { body, idempotent, accepted }))
}

async fn ingest_one(
    ctx: &AppContext,
    caller: &Caller,
    request: &Request,
    body: Result<Value, ApiError>,
) -> ApiResult {
    let Started { body, idempotent, accepted } = match start(ctx, caller, request, body).await? {
        Ok(started) => started,
        Err(replayed) => return Ok(replayed),
    };
    let event = validate_event(&caller.tenant_id, &body, accepted, EventAt::Body)
        .and_then(|event| storable(event, EventAt::Body))
        .map_err(ApiError::validation)?;
    let event = with_derived_id(event, &body, &caller.tenant_id, &idempotent, 0);
    let settings = super::settings::cached(ctx, &caller.tenant_id).await?;
    let bot = from_known_crawler(caller, request);
    if bot {
        crate::metrics::drop_bot_events(1);
    } else {
        enqueue(ctx, std::slice::from_ref(&event)).await?;
    }
    let campaign = CampaignFields::of(&event.properties, &settings.ignored_referrers);
    let answer = Accepted { event: &event, campaign, bot_events_dropped: bot.then_some(1) };
    let response = json_response(StatusCode::ACCEPTED, &answer);
    remember(ctx, &caller.tenant_id, idempotent, &response).await;
    Ok(response)
}

/// The answer to one event: the event as queued, and the campaign fields
/// its properties give with the tenant's settings of now. These are not
/// queued or stored: `properties` keep what the client sent, and the
/// fields are derived from them where they are used.
#[derive(Serialize)]
struct Accepted<'a> {
    #[serde(flatten)]
    event: &'a Event,
    campaign: CampaignFields,
    /// 1 when the event came from a known crawler and was not queued.
    #[serde(rename = "botEventsDropped", skip_serializing_if = "Option::is_none")]
    bot_events_dropped: Option<usize>,
}

#[derive(Serialize)]
struct IndexedError {
    index: usize,
    field: String,
    message: String,
}

async fn ingest_batch(
    ctx: &AppContext,
    caller: &Caller,
    request: &Request,
    body: Result<Value, ApiError>,
) -> ApiResult {
    let Started { body, idempotent, accepted } = match start(ctx, caller, request, body).await? {
        Ok(started) => started,
        Err(replayed) => return Ok(replayed),
    };
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
    let mut events = Vec::with_capacity(submitted);
    let mut invalid = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = EventAt::Batch(index);
        match validate_event(&caller.tenant_id, item, accepted, at).and_then(|event| storable(event, at)) {
            Ok(event) => events.push(with_derived_id(event, item, &caller.tenant_id, &idempotent, index)),
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
    if from_known_crawler(caller, request) {
        crate::metrics::drop_bot_events(events.len() as u64);
        let answer = json!({"accepted": 0, "ids": [], "botEventsDropped": events.len()});
        return Ok(json_response(StatusCode::ACCEPTED, &answer));
    }
    enqueue(ctx, &events).await?;
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let response = json_response(StatusCode::ACCEPTED, &json!({"accepted": events.len(), "ids": ids}));
    remember(ctx, &caller.tenant_id, idempotent, &response).await;
    Ok(response)
}
