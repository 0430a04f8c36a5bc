//! `GET /api/health`: liveness plus a cheap check of the store and queue.
//! Without admin credentials it says only the status and the version; an
//! administrator also sees the backend, each check and the queue's depth
//! (with the dead letters' count).

use http::{Method, StatusCode};
use serde_json::json;

use super::{ApiResult, Request, api_segments, expect_method, json_response, not_found_route};
use crate::context::AppContext;
use crate::store::keys;

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["health"]) => {}
        Some(["openapi.json" | "docs", ..]) => return super::openapi::handle(ctx, request).await,
        _ => return Err(not_found_route(request)),
    }
    expect_method(request, &[Method::GET, Method::HEAD], "GET")?;
    let store = ctx.store.get(&keys::tenant("health-check")).await;
    let queue = ctx.queue.depth().await;
    let healthy = store.is_ok() && queue.is_ok();
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "backend": ctx.backend,
        "checks": {
            "store": if store.is_ok() { "ok" } else { "unavailable" },
            "queue": match &queue { Ok(_) => "ok", Err(_) => "unavailable" },
        },
        "queue": queue.ok(),
        // Since this process started (see `metrics::drop_bot_events`).
        "metrics": {"botEventsDropped": crate::metrics::bot_events_dropped()},
    });
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    // Anyone may ask whether the platform is up; how it is built and what
    // its queues hold is for an administrator.
    if super::admin::authorize(ctx, request).is_err() {
        let brief = json!({"status": body["status"], "version": body["version"]});
        return Ok(json_response(status, &brief));
    }
    Ok(json_response(status, &body))
}
