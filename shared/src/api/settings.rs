//! A tenant's settings: `GET|PUT /api/settings/ignored-referrers`, the
//! referrer domains ingest does not count as referrals (payment
//! providers, the tenant's own other domains), and `GET|PUT
//! /api/dimensions`, the custom dimensions the campaign rollups keep.
//! Served by the admin function beside `/api/keys`; only a `full` key
//! reaches them.

use chrono::Utc;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    ApiError, ApiResult, Request, api_segments, authenticate, expect_method, json_body, json_response,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::campaign::parse_ignored_referrers;
use crate::domain::dimensions::parse_dimensions;
use crate::repo::settings::{self, ListSetting, TenantSettings};

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["settings", "ignored-referrers"]) => {
            list_setting(ctx, request, ListSetting::IgnoredReferrers, parse_ignored_referrers, "domains")
                .await
        }
        Some(["dimensions"]) => {
            list_setting(ctx, request, ListSetting::Dimensions, parse_dimensions, "keys").await
        }
        _ => Err(super::not_found_route(request)),
    }
}

/// `GET` or `PUT` one list setting: a `PUT` body's list (`{<field>: [...]}`,
/// checked by `parse`) replaces it; both answer `{<field>, updatedAt}`.
async fn list_setting(
    ctx: &AppContext,
    request: &Request,
    setting: ListSetting,
    parse: fn(&Value) -> Result<Vec<String>, Vec<FieldError>>,
    field: &str,
) -> ApiResult {
    expect_method(request, &[Method::GET, Method::PUT], "GET, PUT")?;
    let caller = authenticate(ctx, request).await?;
    let settings = if request.method() == Method::PUT {
        let list = parse(&json_body(request)?).map_err(ApiError::validation)?;
        let settings =
            settings::set_list(ctx.store.as_ref(), &caller.tenant_id, setting, &list, Utc::now()).await?;
        tracing::info!(tenant_id = %caller.tenant_id, ?setting, entries = list.len(), "setting replaced");
        ctx.settings_cache.put(caller.tenant_id.clone(), settings.clone());
        settings
    } else {
        settings::get(ctx.store.as_ref(), &caller.tenant_id).await?
    };
    let body = json!({
        field: settings.list(setting),
        "updatedAt": settings.updated_at.as_ref().map(crate::domain::event::rfc3339::format),
    });
    Ok(json_response(StatusCode::OK, &body))
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
