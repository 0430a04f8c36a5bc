//! The listener: `/api/*` goes to the shared handlers (after throttling and
//! the body limit, as API Gateway would apply them); `/sdk.js` is the
//! browser SDK's script; everything else is the dashboard's static files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{Html, IntoResponse, Response};
use http::header;
use shared::api::{self, ApiError, MAX_BODY_BYTES};
use shared::context::AppContext;
use shared::limiter::ClientAddr;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};
use tracing::Instrument;

use crate::Config;
use crate::throttle::Throttle;

struct AppState {
    ctx: Arc<AppContext>,
    /// The context's limiter, kept here to forget idle buckets.
    throttle: Arc<Throttle>,
    dashboard: ServeDir<ServeFile>,
    dashboard_built: bool,
    /// The SDK's script-tag build, if built.
    sdk: Option<ServeFile>,
}

/// Where a site's `<script src>` loads the browser SDK from.
pub const SDK_PATH: &str = "/sdk.js";

pub fn router(ctx: Arc<AppContext>, throttle: Arc<Throttle>, config: &Config) -> Router {
    let dashboard_dir = &config.dashboard_dir;
    let state = Arc::new(AppState {
        ctx,
        throttle,
        dashboard: ServeDir::new(dashboard_dir).fallback(ServeFile::new(dashboard_dir.join("index.html"))),
        dashboard_built: Path::new(dashboard_dir).join("index.html").exists(),
        sdk: Some(config.sdk_dir.join("sdk.js")).filter(|file| file.exists()).map(ServeFile::new),
    });
    let janitor = Arc::downgrade(&state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match janitor.upgrade() {
                Some(state) => state.throttle.forget_idle(),
                None => return,
            }
        }
    });
    Router::new().fallback(entry).with_state(state)
}

fn to_axum(response: api::Response) -> Response {
    response.map(Body::from)
}

async fn entry(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let path = request.uri().path();
    if path == SDK_PATH {
        return sdk_script(&state, request).await;
    }
    if api::api_segments(path).is_none() {
        return dashboard(&state, request).await;
    }
    // Answers made here, before the handlers, carry the CORS grant too, so
    // a dashboard on another origin can read a 429 or 413.
    let origin = request.headers().get(header::ORIGIN).cloned();
    let refuse = |mut response: api::Response| {
        state.ctx.cors.decorate(origin.as_ref(), &mut response);
        to_axum(response)
    };
    // Throttling happens in the handlers, once the caller is known
    // (`shared::limiter`): they need the client's address.
    let client = request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return refuse(too_large());
    }
    let (mut parts, body) = request.into_parts();
    if let Some(client) = client {
        parts.extensions.insert(ClientAddr(client));
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return refuse(too_large());
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %parts.method,
        path = %parts.uri.path(),
        tenant_id = tracing::field::Empty,
    );
    let mut response =
        api::handle(&state.ctx, http::Request::from_parts(parts, bytes)).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "request served"));
    if let Ok(value) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    to_axum(response)
}

/// 413, closing the connection: the rest of the body is never read, so the
/// connection cannot carry another request.
fn too_large() -> api::Response {
    let mut response = ApiError::payload_too_large(MAX_BODY_BYTES).into_response();
    response.headers_mut().insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// The SDK for any site's page (a public script: any origin may load it),
/// cached for five minutes, so a fix reaches pages soon.
async fn sdk_script(state: &AppState, request: Request) -> Response {
    let Some(sdk) = &state.sdk else {
        let mut missing =
            ApiError::not_found("the browser SDK has not been built: run `make run` (or `make sdk`)")
                .into_response();
        missing
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, http::HeaderValue::from_static("*"));
        return to_axum(missing);
    };
    match sdk.clone().oneshot(request).await {
        Ok(response) => {
            let mut response = response.map(Body::new);
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=300"));
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, http::HeaderValue::from_static("*"));
            response
        }
        Err(err) => match err {},
    }
}

async fn dashboard(state: &AppState, request: Request) -> Response {
    if !state.dashboard_built {
        return Html(
            "<!doctype html><title>campaign-analytics</title>\
             <h1>campaign-analytics</h1><p>The API is at <a href=\"/api/health\">/api</a>. \
             The dashboard has not been built: run <code>make run</code>.</p>",
        )
        .into_response();
    }
    match state.dashboard.clone().oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(err) => match err {},
    }
}
