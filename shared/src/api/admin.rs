//! Tenant onboarding: `POST /api/admin/tenants`, key rotation with
//! `POST /api/admin/tenants/:id/keys`, rollups rebuilt from stored events
//! with `POST /api/admin/tenants/:id/rollups`, and dead letters, behind
//! `Authorization: Bearer <ADMIN_TOKEN>` locally, or API Gateway's
//! `AWS_IAM` authorization on AWS (`ADMIN_AUTH=iam`).
//!
//! The new key is in the response body once and never stored in clear. It
//! is registered with the key gateway (API Gateway's usage plan on AWS)
//! before the store learns it, so a stored key is always usable; a failed
//! store write withdraws it again.

use chrono::Utc;
use http::{Method, StatusCode, header};
use serde_json::json;

use super::{
    ApiError, ApiResult, IamCaller, Request, api_segments, expect_method, json_body, json_response,
    not_found_route,
};
use crate::context::{AdminAuth, AppContext};
use crate::domain::FieldError;
use crate::domain::tenant::{generate_api_key, secrets_match, validate_tenant_name};
use crate::repo::{rollup_rebuild, tenants};

pub async fn handle(ctx: &AppContext, request: &Request) -> ApiResult {
    super::limit(ctx, crate::limiter::Subject::Admin(crate::limiter::client_addr(request)))?;
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
        Some(["admin", "tenants", id, "rollups"]) => {
            expect_method(request, &[Method::POST], "POST")?;
            authorize(ctx, request)?;
            rebuild_rollups(ctx, request, id).await
        }
        Some(["admin", "dead-letters"]) => {
            expect_method(request, &[Method::GET], "GET")?;
            authorize(ctx, request)?;
            list_dead_letters(ctx, request).await
        }
        Some(["admin", "dead-letters", "redrive"]) => {
            expect_method(request, &[Method::POST], "POST")?;
            authorize(ctx, request)?;
            redrive_dead_letters(ctx, request).await
        }
        _ => Err(not_found_route(request)),
    }
}

/// Most dead letters one listing or redrive handles (`?limit=`).
const MAX_DEAD_LETTERS: usize = 1000;

fn dead_letter_limit(request: &Request, default: usize) -> Result<usize, ApiError> {
    let params = super::query_params(request)?;
    match params.get("limit") {
        None => Ok(default),
        Some(raw) => {
            raw.parse::<usize>().ok().filter(|n| (1..=MAX_DEAD_LETTERS).contains(n)).ok_or_else(|| {
                ApiError::validation(vec![crate::domain::FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_DEAD_LETTERS}"),
                )])
            })
        }
    }
}

/// `GET /api/admin/dead-letters?limit=100`: what the batch writer could not
/// store, with why (the count covers them all; the list at most `limit`).
async fn list_dead_letters(ctx: &AppContext, request: &Request) -> ApiResult {
    let limit = dead_letter_limit(request, 100)?;
    let (depth, letters) = tokio::try_join!(ctx.queue.depth(), ctx.queue.dead_letters(limit))?;
    let letters: Vec<serde_json::Value> = letters
        .into_iter()
        .map(|letter| {
            let events = crate::messages::unpack(&letter.body).ok();
            json!({
                "id": letter.id,
                "reason": letter.reason,
                "events": events.as_ref().map(Vec::len),
                "eventIds": events.map(|events| events.into_iter().map(|e| e.id).collect::<Vec<_>>()),
                "body": letter.body,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"count": depth.dead_letters, "deadLetters": letters})))
}

/// `POST /api/admin/dead-letters/redrive?limit=1000`: moves dead letters
/// back into the queue (after a fix); their events count once.
async fn redrive_dead_letters(ctx: &AppContext, request: &Request) -> ApiResult {
    let limit = dead_letter_limit(request, MAX_DEAD_LETTERS)?;
    let moved = ctx.queue.redrive(limit).await?;
    tracing::info!(moved, "dead letters redriven");
    Ok(json_response(StatusCode::OK, &json!({"redriven": moved})))
}

/// Only an administrator opens these routes; tenant keys do not.
pub(super) fn authorize(ctx: &AppContext, request: &Request) -> Result<(), ApiError> {
    match &ctx.admin {
        AdminAuth::Iam => match request.extensions().get::<IamCaller>() {
            Some(IamCaller(caller)) => {
                tracing::info!(%caller, "admin request authorized by IAM");
                Ok(())
            }
            None => Err(ApiError::unauthorized(
                "admin routes require AWS IAM (SigV4) authorization through API Gateway",
            )),
        },
        AdminAuth::BearerToken(expected) => {
            let presented = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match presented {
                Some(token) if secrets_match(token, expected) => Ok(()),
                _ => Err(ApiError::unauthorized("missing or invalid admin bearer token")),
            }
        }
        AdminAuth::Disabled => {
            Err(ApiError::unauthorized("admin routes are disabled: no ADMIN_TOKEN is configured"))
        }
    }
}

/// Best-effort removal of a gateway key that the store does not (or no
/// longer) references. Failure leaves a key the handlers refuse anyway (its
/// hash resolves to no tenant), so it is logged, not returned.
async fn withdraw_key(ctx: &AppContext, key_id: &str) {
    if let Err(err) = ctx.key_gateway.revoke(key_id).await {
        tracing::warn!(%key_id, error = %err, "could not withdraw an unused gateway key");
    }
}

async fn create_tenant(ctx: &AppContext, request: &Request) -> ApiResult {
    let body = json_body(request)?;
    let name = validate_tenant_name(&body).map_err(ApiError::validation)?;
    let api_key = generate_api_key();
    let tenant_id = uuid::Uuid::now_v7().to_string();
    let key_id = ctx.key_gateway.register(&tenant_id, &api_key).await?;
    let created =
        tenants::create_with_id(ctx.store.as_ref(), &tenant_id, &name, &api_key, &key_id, Utc::now()).await;
    let tenant = match created {
        Ok(tenant) => tenant,
        Err(err) => {
            withdraw_key(ctx, &key_id).await;
            return Err(err.into());
        }
    };
    tracing::info!(tenant_id = %tenant.id, %key_id, "tenant created");
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"id": tenant.id, "name": tenant.name, "apiKey": api_key, "keyId": key_id,
                "createdAt": crate::domain::event::rfc3339::format(&tenant.created_at)}),
    ))
}

async fn rotate_key(ctx: &AppContext, tenant_id: &str) -> ApiResult {
    let not_found = || ApiError::not_found(format!("tenant {tenant_id} not found"));
    let Some(current) = tenants::get(ctx.store.as_ref(), tenant_id).await? else {
        return Err(not_found());
    };
    let api_key = generate_api_key();
    let key_id = ctx.key_gateway.register(tenant_id, &api_key).await?;
    let tenant = match tenants::rotate_key(ctx.store.as_ref(), tenant_id, &api_key, &key_id).await {
        Ok(Some(tenant)) => tenant,
        outcome => {
            withdraw_key(ctx, &key_id).await;
            return Err(outcome.err().map_or_else(not_found, ApiError::from));
        }
    };
    ctx.key_cache.forget_tenant(&tenant.id);
    withdraw_key(ctx, &current.key_id).await;
    tracing::info!(tenant_id = %tenant.id, %key_id, "API key rotated");
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"id": tenant.id, "name": tenant.name, "apiKey": api_key, "keyId": key_id}),
    ))
}

/// `POST /api/admin/tenants/:id/rollups` with `{"day": "YYYY-MM-DD"}` (or
/// `{}` for the first day with events; and `after` when the previous
/// answer had one): rebuilds that day's rollups from the stored events
/// ([`rollup_rebuild`]), a bounded part of the day per call, and says
/// where to go on (`next`, and `after` within a day).
/// For data stored before the rollups range reads need existed; safe to
/// repeat, and beside the running batch writer.
async fn rebuild_rollups(ctx: &AppContext, request: &Request, tenant_id: &str) -> ApiResult {
    let body = json_body(request)?;
    if !body.is_object() {
        return Err(ApiError::validation(vec![FieldError::new("body", "must be a JSON object")]));
    }
    let day = match body.get("day") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => {
            Some(value.as_str().and_then(|day| day.parse::<chrono::NaiveDate>().ok()).ok_or_else(|| {
                ApiError::validation(vec![FieldError::new("day", "must be a date, YYYY-MM-DD")])
            })?)
        }
    };
    let after = match body.get("after") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(after)) if day.is_some() && after.len() <= 1024 => Some(after.clone()),
        Some(_) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "after",
                "must be the `after` of the previous answer, sent with its `next` as `day`",
            )]));
        }
    };
    if tenants::get(ctx.store.as_ref(), tenant_id).await?.is_none() {
        return Err(ApiError::not_found(format!("tenant {tenant_id} not found")));
    }
    let store = ctx.store.as_ref();
    let budget = rollup_rebuild::EVENTS_PER_CALL;
    let rebuilt =
        rollup_rebuild::rebuild_day(store, &ctx.writer_memory.sketches, tenant_id, (day, after), budget)
            .await?;
    tracing::info!(tenant_id, day = ?rebuilt.day, events = rebuilt.events, "rollups rebuilt");
    Ok(json_response(StatusCode::OK, &rebuilt))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use bytes::Bytes;

    use super::*;
    use crate::context::open_embedded;
    use crate::gateway::{GatewayError, KeyGateway};
    use crate::queue::sqlite::QueueConfig;

    /// Records what the handlers ask of the gateway; optionally refuses.
    #[derive(Default)]
    struct RecordingGateway {
        registered: Mutex<Vec<String>>,
        revoked: Mutex<Vec<String>>,
        down: bool,
    }

    #[async_trait]
    impl KeyGateway for RecordingGateway {
        async fn register(&self, _tenant_id: &str, _api_key: &str) -> Result<String, GatewayError> {
            if self.down {
                return Err(GatewayError::Unavailable("down".into()));
            }
            let mut registered = self.registered.lock().unwrap();
            let key_id = format!("gw-{}", registered.len() + 1);
            registered.push(key_id.clone());
            Ok(key_id)
        }

        async fn revoke(&self, key_id: &str) -> Result<(), GatewayError> {
            self.revoked.lock().unwrap().push(key_id.to_owned());
            Ok(())
        }
    }

    fn post(path: &str, body: &str) -> Request {
        http::Request::post(path)
            .header(header::AUTHORIZATION, "Bearer admin")
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    fn context(dir: &std::path::Path, gateway: Arc<RecordingGateway>) -> AppContext {
        let mut ctx = open_embedded(dir, QueueConfig::default(), Some("admin".into())).unwrap();
        ctx.key_gateway = gateway;
        ctx
    }

    fn json(response: &crate::api::Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[tokio::test]
    async fn keys_are_registered_with_the_gateway_and_the_old_one_withdrawn_on_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Arc::new(RecordingGateway::default());
        let ctx = context(dir.path(), gateway.clone());

        let created = handle(&ctx, &post("/api/admin/tenants", r#"{"name":"Acme"}"#)).await.unwrap();
        let created = json(&created);
        assert_eq!(created["keyId"], "gw-1", "the tenant holds the gateway's id for its key");
        let id = created["id"].as_str().unwrap();
        let tenant = tenants::get(ctx.store.as_ref(), id).await.unwrap().unwrap();
        assert_eq!(tenant.key_id, "gw-1");

        let rotated = handle(&ctx, &post(&format!("/api/admin/tenants/{id}/keys"), "")).await.unwrap();
        assert_eq!(json(&rotated)["keyId"], "gw-2");
        assert_eq!(*gateway.revoked.lock().unwrap(), ["gw-1"]);

        let missing = handle(&ctx, &post("/api/admin/tenants/nobody/keys", "")).await.unwrap_err();
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(gateway.registered.lock().unwrap().len(), 2, "no key minted for a missing tenant");
    }

    #[tokio::test]
    async fn an_unreachable_gateway_is_503_with_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Arc::new(RecordingGateway { down: true, ..Default::default() });
        let ctx = context(dir.path(), gateway);

        let refused = handle(&ctx, &post("/api/admin/tenants", r#"{"name":"Acme"}"#)).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.retry_after, Some(1));
    }
}
