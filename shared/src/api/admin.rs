//! Tenant onboarding: `POST /api/admin/tenants` and key rotation with
//! `POST /api/admin/tenants/:id/keys`, behind `Authorization: Bearer <ADMIN_TOKEN>`.
//!
//! The new key is in the response body once and never stored in clear.

use chrono::Utc;
use http::{Method, StatusCode, header};
use serde_json::json;

use super::{
    ApiError, ApiResult, Request, api_segments, expect_method, json_body, json_response, not_found_route,
};
use crate::context::AppContext;
use crate::domain::tenant::{generate_api_key, secrets_match, validate_tenant_name};
use crate::repo::tenants;

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    match api_segments(request.uri().path()).as_deref() {
        Some(["admin", "tenants"]) => {
            expect_method(request, &[Method::POST], "POST")?;
            authorize(ctx, request)?;
            create_tenant(ctx, request).await
        }
        Some(["admin", "tenants", id, "keys"]) => {
            expect_method(request, &[Method::POST], "POST")?;
            authorize(ctx, request)?;
            rotate_key(ctx, id).await
        }
        _ => Err(not_found_route(request)),
    }
}

/// Only the configured admin token opens these routes; tenant keys do not.
fn authorize(ctx: &AppContext, request: &Request) -> Result<(), ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match (presented, ctx.admin_token.as_deref()) {
        (Some(token), Some(expected)) if secrets_match(token, expected) => Ok(()),
        (_, None) => Err(ApiError::unauthorized("admin routes are disabled: no ADMIN_TOKEN is configured")),
        _ => Err(ApiError::unauthorized("missing or invalid admin bearer token")),
    }
}

async fn create_tenant(ctx: &AppContext, request: &Request) -> ApiResult {
    let body = json_body(request)?;
    let name = validate_tenant_name(&body).map_err(ApiError::validation)?;
    let api_key = generate_api_key();
    let key_id = uuid::Uuid::new_v4().to_string();
    let tenant = tenants::create(ctx.store.as_ref(), &name, &api_key, &key_id, Utc::now()).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created");
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"id": tenant.id, "name": tenant.name, "apiKey": api_key, "keyId": key_id,
                "createdAt": crate::domain::event::rfc3339::format(&tenant.created_at)}),
    ))
}

async fn rotate_key(ctx: &AppContext, tenant_id: &str) -> ApiResult {
    let api_key = generate_api_key();
    let key_id = uuid::Uuid::new_v4().to_string();
    let Some(tenant) = tenants::rotate_key(ctx.store.as_ref(), tenant_id, &api_key, &key_id).await? else {
        return Err(ApiError::not_found(format!("tenant {tenant_id} not found")));
    };
    ctx.key_cache.forget_tenant(&tenant.id);
    tracing::info!(tenant_id = %tenant.id, "API key rotated");
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"id": tenant.id, "name": tenant.name, "apiKey": api_key, "keyId": key_id}),
    ))
}
