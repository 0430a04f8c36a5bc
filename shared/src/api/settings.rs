//! A tenant's settings: `GET|PUT /api/settings/ignored-referrers`, the
//! referrer domains ingest does not count as referrals (payment
//! providers, the tenant's own other domains); `GET|PUT
//! /api/settings/timezone`, the time zone whose days the campaign rollups
//! count; and `GET|PUT /api/dimensions`, the custom dimensions they keep.
//! Served by the admin function beside `/api/keys`; only a `full` key
//! reaches them.

use chrono::Utc;
use chrono_tz::Tz;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    ApiError, ApiResult, Request, api_segments, authenticate, expect_method, json_body, json_response,
};
use crate::context::AppContext;
use crate::domain::FieldError;
use crate::domain::campaign::parse_ignored_referrers;
use crate::domain::dimensions::parse_dimensions;
use crate::domain::time_range::parse_tz;
use crate::repo::settings::{self, ListSetting, TenantSettings};

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["settings", "ignored-referrers"]) => {
            let change = |body: &Value| parse_ignored_referrers(body).map(Change::IgnoredReferrers);
            setting(ctx, request, change, |s| json!({"domains": s.ignored_referrers})).await
        }
        Some(["settings", "timezone"]) => {
            let view = |s: &TenantSettings| json!({"timezone": s.zone().name()});
            setting(ctx, request, parse_timezone, view).await
        }
        Some(["dimensions"]) => {
            let change = |body: &Value| parse_dimensions(body).map(Change::Dimensions);
            setting(ctx, request, change, |s| json!({"keys": s.dimensions})).await
        }
        _ => Err(super::not_found_route(request)),
    }
}

/// What a `PUT` of a setting changes.
enum Change {
    IgnoredReferrers(Vec<String>),
    Dimensions(Vec<String>),
    Timezone(Tz),
}

/// A `PUT /api/settings/timezone` body, `{"timezone": "Europe/Paris"}`.
fn parse_timezone(body: &Value) -> Result<Change, Vec<FieldError>> {
    let invalid = |message: &str| vec![FieldError::new("timezone", message)];
    match body.get("timezone").and_then(Value::as_str).filter(|name| !name.is_empty()) {
        None => Err(invalid("is required: an IANA time zone name, such as Europe/Paris or UTC")),
        Some(name) => parse_tz(Some(name)).map(Change::Timezone).map_err(|error| invalid(&error.message)),
    }
}

/// `GET` or `PUT` one setting: a `PUT` body (checked by `parse`) replaces
/// it; both answer `view` of the settings, with `updatedAt`.
async fn setting(
    ctx: &AppContext,
    request: &Request,
    parse: impl Fn(&Value) -> Result<Change, Vec<FieldError>>,
    view: impl Fn(&TenantSettings) -> Value,
) -> ApiResult {
    expect_method(request, &[Method::GET, Method::PUT], "GET, PUT")?;
    let caller = authenticate(ctx, request).await?;
    let (store, tenant_id, now) = (ctx.store.as_ref(), caller.tenant_id.as_str(), Utc::now());
    let settings = if request.method() == Method::PUT {
        let settings = match parse(&json_body(request)?).map_err(ApiError::validation)? {
            Change::IgnoredReferrers(list) => {
                settings::set_list(store, tenant_id, ListSetting::IgnoredReferrers, &list, now).await?
            }
            Change::Dimensions(list) => {
                settings::set_list(store, tenant_id, ListSetting::Dimensions, &list, now).await?
            }
            Change::Timezone(zone) => settings::set_timezone(store, tenant_id, zone, now).await?,
        };
        tracing::info!(tenant_id, path = request.uri().path(), "setting replaced");
        ctx.settings_cache.put(caller.tenant_id.clone(), settings.clone());
        settings
    } else {
        settings::get(store, tenant_id).await?
    };
    let mut body = view(&settings);
    body["updatedAt"] = json!(settings.updated_at.as_ref().map(crate::domain::event::rfc3339::format));
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
