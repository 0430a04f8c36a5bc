//! HTTP handlers: plain async functions from request to response.
//!
//! The Lambda entry points (through `lambda_http`) and the local stack
//! (through axum) both call [`handle`] with an `http::Request`, so what runs
//! on AWS is exactly what the tests exercise locally. Each Lambda serves one
//! [`Function`]; the local stack serves them all behind one listener.

pub mod admin;
pub mod campaigns;
pub mod cors;
pub mod encoding;
pub mod error;
pub mod events;
pub mod experiments;
pub mod health;
pub mod keys;
pub mod openapi;
pub mod settings;
pub mod summary;

use std::collections::HashMap;

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde_json::Value;

use crate::context::AppContext;
use crate::domain::tenant::hash_api_key;
use crate::limiter::{Subject, client_addr};
use crate::repo::tenants;
use crate::store::LayoutUse;
pub use error::ApiError;

pub type Request = http::Request<Bytes>;
pub type Response = http::Response<Bytes>;
pub type ApiResult = Result<Response, ApiError>;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub const API_KEY_HEADER: &str = "x-api-key";

pub use crate::config::Function;

/// Path segments after `/api`, or `None` for paths outside the API.
pub fn api_segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/api")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    Some(rest.split('/').filter(|s| !s.is_empty()).collect())
}

/// Which function serves a path (by its first segment after `/api`).
pub fn function_for(path: &str) -> Option<Function> {
    let segments = api_segments(path)?;
    match segments.first().copied() {
        Some("events") => Some(Function::Ingest),
        Some("analytics") => Some(Function::Summary),
        Some("experiments") => Some(Function::Experiments),
        // The health function also serves the API's own documentation.
        Some("health" | "openapi.json" | "docs") => Some(Function::Health),
        // A tenant's own keys are served beside the admin routes: that
        // function registers keys with the gateway (API Gateway on AWS).
        // Its settings too (dimensions are one): the function that writes
        // tenant items.
        Some("admin" | "keys" | "settings" | "dimensions") => Some(Function::Admin),
        _ => None,
    }
}

/// Serves any API request (the local stack's entry point).
pub async fn handle(ctx: &AppContext, request: Request) -> Response {
    match function_for(request.uri().path()) {
        Some(function) => handle_function(ctx, function, request).await,
        None => ApiError::not_found(format!("no route for {}", request.uri().path())).into_response(),
    }
}

/// Serves a request addressed to one function (a Lambda's entry point);
/// paths of other functions are 404 here. CORS preflights are answered
/// before authentication (browsers send them without the API key), and
/// every answer carries the CORS grant when the caller's origin is allowed.
pub async fn handle_function(ctx: &AppContext, function: Function, request: Request) -> Response {
    if function_for(request.uri().path()) == Some(function) && cors::CorsPolicy::is_preflight(&request) {
        // Ingestion is open to any web page (a publishable key decides, on
        // the request itself, which origins it serves); the rest only to
        // the configured dashboard origins.
        return match function {
            Function::Ingest => cors::CorsPolicy::preflight_for_ingest(&request),
            _ => ctx.cors.preflight(&request),
        };
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = route(ctx, function, request).await;
    ctx.cors.decorate(origin.as_ref(), &mut response);
    response
}

async fn route(ctx: &AppContext, function: Function, request: Request) -> Response {
    let request = match encoding::decoded(request, MAX_BODY_BYTES) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    if request.body().len() > MAX_BODY_BYTES {
        return ApiError::payload_too_large(MAX_BODY_BYTES).into_response();
    }
    if function_for(request.uri().path()) != Some(function) {
        return ApiError::not_found(format!("no route for {}", request.uri().path())).into_response();
    }
    let result = match function {
        Function::Ingest => events::handle(ctx, &request).await,
        Function::Summary => summary::handle(ctx, &request).await,
        Function::Experiments => experiments::handle(ctx, &request).await,
        Function::Health => health::handle(ctx, &request).await,
        Function::Admin => match api_segments(request.uri().path()).as_ref().and_then(|s| s.first().copied())
        {
            Some("keys") => keys::handle(ctx, &request).await,
            Some("settings" | "dimensions") => settings::handle(ctx, &request).await,
            _ => admin::handle(ctx, &request).await,
        },
    };
    result.unwrap_or_else(ApiError::into_response)
}

pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = http::Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Whether a report is asked for as CSV: `format=csv`, or no `format` and
/// an `Accept` naming `text/csv`. Any other `format` but `json` is an error.
pub fn wants_csv(
    request: &Request,
    params: &HashMap<String, String>,
    errors: &mut Vec<crate::domain::FieldError>,
) -> bool {
    match params.get("format").map(String::as_str) {
        None => request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv")),
        Some("csv") => true,
        Some("json") => false,
        Some(_) => {
            errors.push(crate::domain::FieldError::new("format", "must be json or csv"));
            false
        }
    }
}

/// A CSV download named `filename` (already safe to quote).
pub fn csv_response(csv: String, filename: &str) -> Response {
    let mut response = http::Response::new(Bytes::from(csv));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

pub fn not_found_route(request: &Request) -> ApiError {
    ApiError::not_found(format!("no route for {} {}", request.method(), request.uri().path()))
}

/// Checks the method of a matched path, answering 405 with `Allow` otherwise.
pub fn expect_method(request: &Request, allowed: &[Method], allow: &'static str) -> Result<(), ApiError> {
    if allowed.contains(request.method()) { Ok(()) } else { Err(ApiError::method_not_allowed(allow)) }
}

/// Parses the body as JSON.
pub fn json_body(request: &Request) -> Result<Value, ApiError> {
    if request.body().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(request.body()).map_err(ApiError::invalid_json)
}

/// Query parameters; a repeated parameter keeps its last value.
pub fn query_params(request: &Request) -> Result<HashMap<String, String>, ApiError> {
    let raw = request.uri().query().unwrap_or("");
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .map(|pairs| pairs.into_iter().collect())
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", err.to_string()))
}

/// The API key id API Gateway matched (`requestContext.identity.apiKeyId`),
/// put into request extensions by the Lambda adapter when present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayKeyId(pub String);

/// The IAM principal API Gateway authenticated with SigV4
/// (`requestContext.identity.userArn`), put into request extensions by the
/// Lambda adapter on routes with `AWS_IAM` authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamCaller(pub String);

/// The authenticated caller of a tenant endpoint.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant_id: String,
    pub scope: crate::domain::tenant::KeyScope,
    /// The request's `Origin`, when its key allows it (an `ingest` key's
    /// `allowedOrigins`): the answer grants that origin CORS.
    pub granted_origin: Option<HeaderValue>,
    /// Whether events from known crawlers are dropped: a publishable key's
    /// choice (on unless it opted out); never for a `full` key.
    pub filters_bots: bool,
}

impl Caller {
    /// Grants the caller's origin CORS on an answer (see `granted_origin`).
    pub fn grant_cors(&self, response: &mut Response) {
        if let Some(origin) = &self.granted_origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(cors::EXPOSED_HEADERS),
            );
            headers.append(header::VARY, HeaderValue::from_static("origin"));
        }
    }
}

/// What a key's scope allows of this request: a `full` key everything (and
/// no grant of its own); an `ingest` key only the ingest routes, and from a
/// browser only from the origins it lists, which its answer then grants.
fn ingest_key_grant(
    owner: &tenants::KeyOwner,
    function: Option<Function>,
    request: &Request,
) -> Result<Option<HeaderValue>, ApiError> {
    if owner.scope == crate::domain::tenant::KeyScope::Full {
        return Ok(None);
    }
    if function != Some(Function::Ingest) {
        return Err(ApiError::forbidden("this is an ingest key: it may only send events"));
    }
    let Some(origin) = request.headers().get(header::ORIGIN) else { return Ok(None) };
    let allowed = origin
        .to_str()
        .ok()
        .and_then(crate::domain::tenant::parse_origin)
        .is_some_and(|origin| owner.allowed_origins.contains(&origin));
    if !allowed {
        return Err(ApiError::forbidden("this key may not be used from this origin"));
    }
    Ok(Some(origin.clone()))
}

/// Takes a token from the context's limiter (none on AWS: API Gateway's).
pub fn limit(ctx: &AppContext, subject: Subject<'_>) -> Result<(), ApiError> {
    match &ctx.limiter {
        Some(limiter) => limiter.check(subject).map_err(ApiError::throttled),
        None => Ok(()),
    }
}

/// Records the first use of a key each UTC day (the `lastUsedDay` of
/// `GET /api/keys`): one conditional write per key, day and process, since
/// the cached owner then carries the day. Best effort: a failed write is
/// logged and not retried until the cache entry expires.
async fn note_key_use(ctx: &AppContext, key_hash: &str, owner: &mut tenants::KeyOwner) {
    let today = Utc::now().date_naive().format("%Y-%m-%d").to_string();
    if owner.last_used_day.as_deref() == Some(today.as_str()) {
        return;
    }
    if let Err(err) = tenants::record_key_use(ctx.store.as_ref(), key_hash, &today).await {
        tracing::warn!(error = %err, tenant_id = %owner.tenant_id, "could not record the key's use today");
    }
    owner.last_used_day = Some(today);
    ctx.key_cache.put(key_hash.to_owned(), owner.clone());
}

/// The answer to a request that carries no key: 401, or 429 once its
/// address has made too many such requests.
pub fn missing_key(ctx: &AppContext, request: &Request) -> ApiError {
    match limit(ctx, Subject::Unauthenticated(client_addr(request))) {
        Ok(()) => ApiError::unauthorized("missing X-API-Key header"),
        Err(throttled) => throttled,
    }
}

/// Where a request carried its API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCarrier {
    /// `X-API-Key`: any key.
    Header,
    /// `?key=` or the body's `apiKey`, for browsers that cannot set a
    /// header without a CORS preflight (`sendBeacon`): publishable keys only.
    UrlOrBody,
}

/// Resolves `X-API-Key` to a tenant. A missing, malformed or unknown key is
/// 401 — the same answer whichever, so keys cannot be probed.
pub async fn authenticate(ctx: &AppContext, request: &Request) -> Result<Caller, ApiError> {
    let key = request.headers().get(API_KEY_HEADER).map(|raw| raw.to_str().unwrap_or_default());
    authenticate_key(ctx, request, key.map(|key| (key, KeyCarrier::Header))).await
}

/// Resolves a key presented by `carrier` to a tenant, as [`authenticate`]
/// does; a `full` key outside the header is refused (403), since URLs and
/// bodies end up in logs and page sources.
pub async fn authenticate_key(
    ctx: &AppContext,
    request: &Request,
    presented: Option<(&str, KeyCarrier)>,
) -> Result<Caller, ApiError> {
    let anonymous = || limit(ctx, Subject::Unauthenticated(client_addr(request)));
    let Some((raw, carrier)) = presented else { return Err(missing_key(ctx, request)) };
    let Some(key) = Some(raw.trim()).filter(|k| !k.is_empty() && k.len() <= 256) else {
        anonymous()?;
        return Err(ApiError::unauthorized("invalid API key"));
    };
    let key_hash = hash_api_key(key);
    let owner = match ctx.key_cache.get(&key_hash) {
        Some(owner) => Some(owner),
        None => {
            let owner = tenants::find_by_key_hash(ctx.store.as_ref(), &key_hash).await?;
            if let Some(owner) = &owner {
                ctx.key_cache.put(key_hash.clone(), owner.clone());
            }
            owner
        }
    };
    match owner {
        Some(mut owner) => {
            // Behind API Gateway, the gateway has already matched the key:
            // it must be the very key this tenant holds.
            if let Some(GatewayKeyId(gateway_key)) = request.extensions().get::<GatewayKeyId>()
                && *gateway_key != owner.key_id
            {
                tracing::warn!(tenant_id = %owner.tenant_id, "API Gateway key id does not match the tenant's key");
                return Err(ApiError::unauthorized("invalid API key"));
            }
            note_key_use(ctx, &key_hash, &mut owner).await;
            tracing::Span::current().record("tenant_id", owner.tenant_id.as_str());
            let function = function_for(request.uri().path());
            if let Some(function) = function {
                limit(ctx, Subject::Tenant(&owner.tenant_id, function))?;
            }
            // The functions that read sharded items query as many shards
            // as were ever written to (after authentication, so that a
            // refused request costs no read).
            if matches!(function, Some(Function::Summary | Function::Experiments)) {
                ctx.store.settle_layout(LayoutUse::Read).await?;
            }
            if carrier != KeyCarrier::Header && owner.scope != crate::domain::tenant::KeyScope::Ingest {
                return Err(ApiError::forbidden(
                    "a full key may only be sent in the X-API-Key header: URLs and bodies end up in logs and \
                     page sources; use a publishable ingest key there",
                ));
            }
            let granted_origin = ingest_key_grant(&owner, function, request)?;
            let filters_bots = owner.filter_bots;
            Ok(Caller { tenant_id: owner.tenant_id, scope: owner.scope, granted_origin, filters_bots })
        }
        // Made-up keys share the unauthenticated limit of their address;
        // only a refusal takes its token, so a tenant's first request
        // after a flood of them still passes.
        None => {
            anonymous()?;
            Err(ApiError::unauthorized("invalid API key"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_first_segment() {
        assert_eq!(function_for("/api/events"), Some(Function::Ingest));
        assert_eq!(function_for("/api/events/batch"), Some(Function::Ingest));
        assert_eq!(function_for("/api/analytics/summary"), Some(Function::Summary));
        assert_eq!(function_for("/api/experiments/x/results"), Some(Function::Experiments));
        assert_eq!(function_for("/api/health/"), Some(Function::Health));
        assert_eq!(function_for("/api/admin/tenants"), Some(Function::Admin));
        assert_eq!(function_for("/api/keys/k1"), Some(Function::Admin));
        assert_eq!(function_for("/api/settings/ignored-referrers"), Some(Function::Admin));
        assert_eq!(function_for("/api/dimensions"), Some(Function::Admin));
        assert_eq!(function_for("/apix/health"), None);
        assert_eq!(function_for("/api/nothing"), None);
        assert_eq!(function_for("/"), None);
    }
}
