//! A tenant's own keys: `POST /api/keys` (shown once), `GET /api/keys`,
//! `DELETE /api/keys/:id`. Only a `full` key reaches these routes
//! ([`super::authenticate`] refuses `ingest` keys outside ingestion).

use chrono::Utc;
use http::{Method, StatusCode};
use serde_json::json;

use super::{
    ApiError, ApiResult, Caller, Request, api_segments, authenticate, expect_method, json_body,
    json_response, not_found_route,
};
use crate::context::AppContext;
use crate::domain::tenant::{MAX_KEYS, generate_api_key, validate_new_key};
use crate::repo::tenants::{self, KeyDeletion};

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["keys"]) => {
            expect_method(request, &[Method::GET, Method::POST], "GET, POST")?;
            let caller = authenticate(ctx, request).await?;
            if request.method() == Method::POST {
                create(ctx, &caller, request).await
            } else {
                list(ctx, &caller).await
            }
        }
        Some(["keys", id]) => {
            expect_method(request, &[Method::DELETE], "DELETE")?;
            let caller = authenticate(ctx, request).await?;
            delete(ctx, &caller, id).await
        }
        _ => Err(not_found_route(request)),
    }
}

async fn tenant(ctx: &AppContext, caller: &Caller) -> Result<crate::domain::tenant::Tenant, ApiError> {
    tenants::get(ctx.store.as_ref(), &caller.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid API key"))
}

async fn create(ctx: &AppContext, caller: &Caller, request: &Request) -> ApiResult {
    let body = json_body(request)?;
    let new = validate_new_key(&body).map_err(ApiError::validation)?;
    let tenant = tenant(ctx, caller).await?;
    if tenants::list_keys(ctx.store.as_ref(), &tenant).await?.len() >= MAX_KEYS {
        return Err(ApiError::conflict(format!("a tenant holds at most {MAX_KEYS} keys; delete one first")));
    }
    let api_key = generate_api_key();
    let gateway_key_id = ctx.key_gateway.register(&tenant.id, &api_key).await?;
    let info =
        match tenants::add_key(ctx.store.as_ref(), &tenant.id, &api_key, &gateway_key_id, &new, Utc::now())
            .await
        {
            Ok(info) => info,
            Err(err) => {
                if let Err(revoke) = ctx.key_gateway.revoke(&gateway_key_id).await {
                    tracing::warn!(error = %revoke, "could not withdraw an unused gateway key");
                }
                return Err(err.into());
            }
        };
    tracing::info!(tenant_id = %tenant.id, key = %info.id, scope = ?info.scope, "API key created");
    let mut shown = serde_json::to_value(&info).unwrap_or_default();
    shown["key"] = json!(api_key);
    Ok(json_response(StatusCode::CREATED, &shown))
}

async fn list(ctx: &AppContext, caller: &Caller) -> ApiResult {
    let tenant = tenant(ctx, caller).await?;
    let keys = tenants::list_keys(ctx.store.as_ref(), &tenant).await?;
    Ok(json_response(StatusCode::OK, &json!({ "keys": keys })))
}

async fn delete(ctx: &AppContext, caller: &Caller, id: &str) -> ApiResult {
    let tenant = tenant(ctx, caller).await?;
    match tenants::delete_key(ctx.store.as_ref(), &tenant, id).await? {
        KeyDeletion::Deleted(info) => {
            ctx.key_cache.forget_tenant(&tenant.id);
            if let Err(err) = ctx.key_gateway.revoke(&info.gateway_key_id).await {
                tracing::warn!(error = %err, "could not withdraw a deleted key from the gateway");
            }
            tracing::info!(tenant_id = %tenant.id, key = %info.id, "API key deleted");
            let mut response = http::Response::new(bytes::Bytes::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        KeyDeletion::NotFound => Err(ApiError::not_found(format!("key {id} not found"))),
        KeyDeletion::LastFullKey => Err(ApiError::conflict(
            "this is the tenant's last full key: create another full key before deleting it",
        )),
    }
}
