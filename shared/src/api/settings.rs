//! A tenant's settings: `GET|PUT /api/settings/ignored-referrers`, the
//! referrer domains ingest does not count as referrals (payment
//! providers, the tenant's own other domains), and `GET|PUT
//! /api/dimensions`, the custom dimensions the campaign rollups keep.
//! Served by the admin function beside `/api/keys`; only a `full` key
//! reaches them.

use chrono::Utc;
use http::{Method, StatusCode};
use serde_json::json;

use super::{
    ApiError, ApiResult, Request, api_segments, authenticate, expect_method, json_body, json_response,
};
use crate::context::AppContext;
use crate::domain::campaign::parse_ignored_referrers;
use crate::domain::dimensions::parse_dimensions;
use crate::repo::settings::{self, TenantSettings};

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["settings", "ignored-referrers"]) => {
            expect_method(request, &[Method::GET, Method::PUT], "GET, PUT")?;
            let caller = authenticate(ctx, request).await?;
            let settings = if request.method() == Method::PUT {
                let domains = parse_ignored_referrers(&json_body(request)?).map_err(ApiError::validation)?;
                let settings = settings::set_ignored_referrers(
                    ctx.store.as_ref(),
                    &caller.tenant_id,
                    &domains,
                    Utc::now(),
                )
                .await?;
                tracing::info!(tenant_id = %caller.tenant_id, domains = domains.len(), "ignored referrers set");
                ctx.settings_cache.put(caller.tenant_id.clone(), settings.clone());
                settings
            } else {
                settings::get(ctx.store.as_ref(), &caller.tenant_id).await?
            };
            Ok(json_response(StatusCode::OK, &ignored_referrers(&settings)))
        }
        Some(["dimensions"]) => {
            expect_method(request, &[Method::GET, Method::PUT], "GET, PUT")?;
            let caller = authenticate(ctx, request).await?;
            let settings = if request.method() == Method::PUT {
                let keys = parse_dimensions(&json_body(request)?).map_err(ApiError::validation)?;
                let settings =
                    settings::set_dimensions(ctx.store.as_ref(), &caller.tenant_id, &keys, Utc::now())
                        .await?;
                tracing::info!(tenant_id = %caller.tenant_id, dimensions = keys.len(), "dimensions set");
                ctx.settings_cache.put(caller.tenant_id.clone(), settings.clone());
                settings
            } else {
                settings::get(ctx.store.as_ref(), &caller.tenant_id).await?
            };
            Ok(json_response(StatusCode::OK, &dimensions(&settings)))
        }
        _ => Err(super::not_found_route(request)),
    }
}

fn ignored_referrers(settings: &TenantSettings) -> serde_json::Value {
    json!({
        "domains": settings.ignored_referrers,
        "updatedAt": settings.updated_at.as_ref().map(crate::domain::event::rfc3339::format),
    })
}

fn dimensions(settings: &TenantSettings) -> serde_json::Value {
    json!({
        "keys": settings.dimensions,
        "updatedAt": settings.updated_at.as_ref().map(crate::domain::event::rfc3339::format),
    })
}

/// A tenant's settings as ingest uses them: from the context's cache, so
/// that a process reads them at most once per cache lifetime (another
/// process's change shows within that long).
pub async fn cached(ctx: &AppContext, tenant_id: &str) -> Result<TenantSettings, ApiError> {
    if let Some(settings) = ctx.settings_cache.get(tenant_id) {
        return Ok(settings);
    }
    let settings = settings::get(ctx.store.as_ref(), tenant_id).await?;
    ctx.settings_cache.put(tenant_id.to_owned(), settings.clone());
    Ok(settings)
}
