//! The OpenAPI 3.1 document, generated from the Rust types with `utoipa`,
//! served at `GET /api/openapi.json`, and Swagger UI at `GET /api/docs`
//! (bundled into the binary: nothing is fetched at build or run time).
//!
//! Response and domain schemas derive from the very types the handlers
//! serialise. Operations are declared on the documentation-only functions
//! below, one per route, because routing is ours rather than a framework's.

#![allow(dead_code)] // the functions below exist for their `#[utoipa::path]` attributes

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{ApiResult, Request, api_segments, expect_method, json_response, not_found_route};
use crate::context::AppContext;
use crate::domain::event::{Event, EventType};
use crate::domain::experiment::{Experiment, Status, Variant};
use crate::domain::metric::{MetricDefinition, PartDefinition, PartKind};
use crate::domain::results::{
    Correction, Decision, Engine, ExperimentResults, MetricKind, MetricResult, MetricRole, MetricVariant,
    PowerResult, Risk, SrmResult, VariantResult, Verdict, VsControl,
};
use crate::domain::stats::GaussianPrior;
use crate::domain::summary::{Summary, VariantSummary};
use crate::domain::timeseries::{Bucket, BucketTotals, Interval};
use crate::queue::QueueDepth;

/// Every error: a machine code, a human message, and for validation
/// errors the list of problems.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(example = "validation_failed")]
    pub error: String,
    pub message: String,
    pub details: Option<Vec<ErrorDetail>>,
}

/// One invalid field; `index` names the event of a batch.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub index: Option<u64>,
    #[schema(example = "properties.variant")]
    pub field: String,
    pub message: String,
}

/// An event as a client sends it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventInput {
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: String,
    pub event_type: EventType,
    /// Up to 16 KiB of JSON; `experimentId` and `variant` (strings of 1–128
    /// characters) tag the event for an experiment.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
    /// RFC 3339; defaults to now; at most 24 hours ahead.
    pub timestamp: Option<String>,
    /// Idempotency key: the same id is counted once.
    #[schema(min_length = 1, max_length = 128)]
    pub event_id: Option<String>,
    /// The client's clock when it sent this (RFC 3339, within 7 days of
    /// ours): `timestamp` is moved by how far that clock is off.
    pub sent_at: Option<String>,
    /// A publishable (`ingest`) key, for browsers that cannot send
    /// `X-API-Key` without a CORS preflight; a `full` key here is 403.
    pub api_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchInput {
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<EventInput>,
    /// The client's clock when it sent the batch (RFC 3339, within 7 days
    /// of ours): every event's `timestamp` is moved by how far it is off.
    pub sent_at: Option<String>,
    /// A publishable (`ingest`) key, for browsers that cannot send
    /// `X-API-Key` without a CORS preflight; a `full` key here is 403.
    pub api_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchAccepted {
    pub accepted: u64,
    pub ids: Vec<String>,
    /// Present when the events came from a known crawler through a
    /// publishable key: none were queued (`accepted` is 0).
    pub bot_events_dropped: Option<u64>,
}

/// `["A","B"]` (equal weights) or `[{name, weight}]` (weights sum to 100;
/// `trafficSplit` is accepted for `weight`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum VariantsInput {
    Names(Vec<String>),
    Weighted(Vec<Variant>),
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentInput {
    pub name: String,
    pub description: Option<String>,
    pub variants: VariantsInput,
    /// DRAFT (default) or ACTIVE.
    pub status: Option<Status>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub control_variant: Option<String>,
    pub tracking_key: Option<String>,
    /// How results compare the variants unless a request names an engine
    /// (frequentist by default); a name alone (`"sequential"`) takes its
    /// default settings.
    pub engine: Option<Engine>,
    /// Up to 10, exactly one with role `goal`; none: the built-in metrics,
    /// decided on conversion (a CONVERSION event).
    pub metrics: Option<Vec<MetricInput>>,
}

/// A metric to define. `conversion`, `count` and `sum` name `eventType`
/// (and optionally `where`, property values the events must have; `sum`
/// adds up `valueProperty`, default `value`); `ratio` names `numerator`
/// and `denominator`, each a count or sum of a selection, per user.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricInput {
    /// `[a-z0-9_]`, 1 to 40 characters, unique in the experiment.
    pub id: String,
    /// The id unless given.
    pub name: Option<String>,
    pub kind: MetricKind,
    /// `secondary` unless given.
    pub role: Option<MetricRole>,
    /// Lower is better.
    pub inverse: Option<bool>,
    pub event_type: Option<EventType>,
    #[serde(rename = "where")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    pub value_property: Option<String>,
    pub numerator: Option<PartDefinition>,
    pub denominator: Option<PartDefinition>,
}

/// Any subset; variants only while DRAFT. Status moves: DRAFT→ACTIVE,
/// ACTIVE↔PAUSED, ACTIVE/PAUSED→COMPLETED.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<Status>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub variants: Option<VariantsInput>,
    pub control_variant: Option<String>,
    /// In any state (`null`: frequentist).
    pub engine: Option<Engine>,
    /// In any state; replaces the list (`null`: the built-in metrics). A
    /// metric kept (same id, same selection) keeps its sums; a new one
    /// counts from now, so once the experiment has counted events its
    /// results say it misses the earlier ones.
    pub metrics: Option<Vec<MetricInput>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub experiment_id: String,
    pub user_id: String,
    pub variant: String,
    /// GrowthBook hash (version 2) of the user in [0, 1).
    pub bucket: f64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeSeries {
    pub interval: Interval,
    /// The time zone of the days (`UTC` unless `tz` was given).
    pub tz: String,
    /// True in a zone with a half-hour offset (India, parts of Australia):
    /// an hour straddling midnight counts in the day it starts in.
    pub day_edges_approximate: bool,
    pub experiment_id: Option<String>,
    pub start_date: String,
    pub end_date: String,
    /// Each bucket's `variants` hold at most 100 series, the experiment's
    /// own first; with more, `truncated` is true and an `(other)` series
    /// holds what the listed ones do not.
    pub buckets: Vec<Bucket>,
    pub truncated: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
    pub version: String,
    /// This and the rest only for an administrator (admin credentials).
    pub backend: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub checks: Option<serde_json::Value>,
    pub queue: Option<QueueDepth>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantInput {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCreated {
    pub id: String,
    pub name: String,
    /// Shown once; only its SHA-256 is stored.
    pub api_key: String,
    pub key_id: String,
    pub created_at: Option<String>,
}

#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, description = "Healthy", body = Health),
              (status = 503, description = "Store or queue unreachable", body = Health)))]
fn health() {}

/// `202` to `POST /api/events`: the normalised event and its campaign fields.
#[derive(Serialize, ToSchema)]
pub struct AcceptedEvent {
    #[serde(flatten)]
    pub event: Event,
    /// Where the visit came from, derived from `properties` (UTM tags, the
    /// page URL's query and click ids, the referrer) with the tenant's
    /// ignored referrers.
    pub campaign: crate::domain::campaign::CampaignFields,
    /// 1 when the event came from a known crawler through a publishable
    /// key: it was not queued.
    #[serde(rename = "botEventsDropped")]
    pub bot_events_dropped: Option<u64>,
}

#[utoipa::path(post, path = "/api/events", tag = "ingest", request_body = EventInput,
    security(("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header,
            description = "1 to 128 characters: a repeat within 24 h returns the first answer and counts nothing"),
           ("key" = Option<String>, Query,
            description = "A publishable (ingest) key instead of X-API-Key, for navigator.sendBeacon; a full key is 403"),
           ("Content-Encoding" = Option<String>, Header,
            description = "gzip or identity; limits apply to the inflated body")),
    responses((status = 202, description = "Queued; counted within seconds", body = AcceptedEvent),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "A publishable key from an origin it does not list, or a full key outside X-API-Key", body = ErrorBody),
              (status = 413, body = ErrorBody),
              (status = 415, description = "A Content-Encoding other than gzip", body = ErrorBody),
              (status = 422, description = "Idempotency-Key used for another request", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn ingest_one() {}

#[utoipa::path(post, path = "/api/events/batch", tag = "ingest", request_body = BatchInput,
    security(("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header,
            description = "1 to 128 characters: a repeat within 24 h returns the first answer and counts nothing"),
           ("key" = Option<String>, Query,
            description = "A publishable (ingest) key instead of X-API-Key, for navigator.sendBeacon; a full key is 403"),
           ("Content-Encoding" = Option<String>, Header,
            description = "gzip or identity; limits apply to the inflated body")),
    responses((status = 202, description = "All queued", body = BatchAccepted),
              (status = 400, description = "Nothing queued; details list each invalid index", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "A publishable key from an origin it does not list, or a full key outside X-API-Key", body = ErrorBody),
              (status = 413, body = ErrorBody),
              (status = 415, description = "A Content-Encoding other than gzip", body = ErrorBody),
              (status = 422, description = "Idempotency-Key used for another request", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn ingest_batch() {}

#[utoipa::path(get, path = "/api/analytics/summary", tag = "analytics", security(("api_key" = [])),
    params(("startDate" = Option<String>, Query, description = "Day (2026-11-01) or RFC 3339, inclusive"),
           ("endDate" = Option<String>, Query, description = "Day (covers the whole day) or RFC 3339, inclusive"),
           ("experimentId" = Option<String>, Query),
           ("tz" = Option<String>, Query, description = "IANA time zone the dates are days of (default UTC), e.g. Europe/Paris")),
    responses((status = 200, body = Summary), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn summary() {}

#[utoipa::path(get, path = "/api/analytics/campaigns", tag = "analytics", security(("api_key" = [])),
    params(("groupBy" = Option<String>, Query,
            description = "channel (default), source, medium, campaign, term, content or source_medium; or property:<key>, a declared custom dimension (PUT /api/dimensions): a row per value, a user counting in each value their events had, totals each user once"),
           ("startDate" = Option<String>, Query, description = "First day, of the tenant's time zone (a day, or RFC 3339: its day there); default 29 days before endDate"),
           ("endDate" = Option<String>, Query, description = "Last day, included; default today in the tenant's time zone"),
           ("tz" = Option<String>, Query, description = "May only name the tenant's time zone (PUT /api/settings/timezone; UTC until set), whose days the rollups count; another is a 400"),
           ("attribution" = Option<String>, Query, description = "first (the only one yet)"),
           ("compare" = Option<String>, Query, description = "previous: also the period of the same length before"),
           ("interval" = Option<String>, Query, description = "day: also `series`, each row's users on each day"),
           ("experimentId" = Option<String>, Query,
            description = "Also `variants` on each row and the totals: the row's users with events tagged with each variant of this experiment (the campaign × variant cross-tab); not with groupBy=property:<key>"),
           ("channel" = Option<String>, Query, description = "Drill-down: only rows of this channel (a row key of groupBy=channel)"),
           ("source" = Option<String>, Query, description = "Drill-down: only this source"),
           ("medium" = Option<String>, Query, description = "Drill-down: only this medium"),
           ("campaign" = Option<String>, Query, description = "Drill-down: only this campaign"),
           ("term" = Option<String>, Query, description = "Drill-down: only this term"),
           ("content" = Option<String>, Query, description = "Drill-down: only this content"),
           ("source_medium" = Option<String>, Query, description = "Drill-down: only this `source / medium`"),
           ("format" = Option<String>, Query, description = "json (default) or csv")),
    responses((status = 200, description = "Rows by users, at most 100 plus (other); CSV with format=csv",
               body = crate::domain::campaign_report::CampaignReport),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn campaigns() {}

#[utoipa::path(get, path = "/api/analytics/timeseries", tag = "analytics", security(("api_key" = [])),
    params(("experimentId" = Option<String>, Query), ("startDate" = Option<String>, Query),
           ("endDate" = Option<String>, Query), ("interval" = Option<Interval>, Query),
           ("tz" = Option<String>, Query, description = "IANA time zone whose days the dates and daily buckets are (default UTC)")),
    responses((status = 200, body = TimeSeries), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn timeseries() {}

#[utoipa::path(get, path = "/api/experiments", tag = "experiments", security(("api_key" = [])),
    params(("status" = Option<Status>, Query), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Newest first; the next page's cursor is in X-Next-Cursor",
               body = Vec<Experiment>, headers(("X-Next-Cursor" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn list_experiments() {}

#[utoipa::path(post, path = "/api/experiments", tag = "experiments", request_body = ExperimentInput,
    security(("api_key" = [])),
    responses((status = 201, body = Experiment), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn create_experiment() {}

#[utoipa::path(get, path = "/api/experiments/{id}", tag = "experiments", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Experiment,
               headers(("ETag" = String, description = "The version read, for `If-Match` on a later PATCH"))),
              (status = 401, body = ErrorBody),
              (status = 404, description = "Missing, or another tenant's", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn get_experiment() {}

#[utoipa::path(patch, path = "/api/experiments/{id}", tag = "experiments", request_body = ExperimentPatch,
    security(("api_key" = [])),
    params(("id" = String, Path),
           ("If-Match" = Option<String>, Header,
            description = "Apply only if the experiment is still at this ETag (or `*`); else 412")),
    responses((status = 200, body = Experiment, headers(("ETag" = String, description = "The new version"))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "Move not allowed", body = ErrorBody),
              (status = 412, description = "The experiment changed since the If-Match version", body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn update_experiment() {}

#[utoipa::path(get, path = "/api/experiments/{id}/results", tag = "experiments", security(("api_key" = [])),
    params(("id" = String, Path),
           ("confidence" = Option<f64>, Query, minimum = 0.5, maximum = 0.999),
           ("mde" = Option<f64>, Query, description = "Minimum detectable relative effect", minimum = 0.001, maximum = 10.0),
           ("engine" = Option<String>, Query,
            description = "frequentist (default; a fixed-horizon t-test), sequential (always-valid confidence sequences) or bayesian (Gaussian prior on the relative lift)"),
           ("sequentialTuning" = Option<f64>, Query,
            description = "engine=sequential: the sample size, both arms, at which intervals are tightest (default 5000)",
            minimum = 10.0, maximum = 1000000000.0),
           ("priorMean" = Option<f64>, Query, description = "engine=bayesian: the prior's mean relative lift (with priorStdDev; flat prior without)",
            minimum = -10.0, maximum = 10.0),
           ("priorStdDev" = Option<f64>, Query, description = "engine=bayesian: the prior's standard deviation (with priorMean)",
            minimum = 0.001, maximum = 100.0),
           ("correction" = Option<String>, Query,
            description = "How p-values are adjusted across treatments: holm (default; family-wise error), bh (Benjamini-Hochberg; false discovery rate) or none"),
           ("format" = Option<String>, Query, description = "json (default) or csv"),
           ("table" = Option<String>, Query,
            description = "With CSV: variants (default; a row per variant, the goal) or metrics (a row per metric × variant)")),
    responses((status = 200, content(
                   (ExperimentResults = "application/json"),
                   (String = "text/csv", example = "variant,weight,users,..."))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn results() {}

#[utoipa::path(get, path = "/api/experiments/{id}/assign", tag = "experiments", security(("api_key" = [])),
    params(("id" = String, Path), ("userId" = String, Query)),
    responses((status = 200, body = Assignment), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "Not ACTIVE", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn assign() {}

#[utoipa::path(post, path = "/api/admin/tenants", tag = "admin", request_body = TenantInput,
    security(("admin_token" = [])),
    responses((status = 201, body = TenantCreated), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn create_tenant() {}

#[utoipa::path(post, path = "/api/admin/tenants/{id}/keys", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    responses((status = 201, description = "The new key; the old one stops working", body = TenantCreated),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn rotate_key() {}

#[utoipa::path(post, path = "/api/admin/tenants/{id}/rollups", tag = "admin", security(("admin_token" = [])),
    params(("id" = String, Path)),
    request_body(content = Object, description = "`{\"day\": \"YYYY-MM-DD\", \"after\"?: …}`, or `{}` for the tenant's first day with events"),
    responses((status = 200, description = "`{day, events, bucketsSet, next, after?}`: up to 20,000 of that day's stored events merged into the user sketches, and once the day is done its variant-name buckets set; pass `next` (as `day`) and `after` to the next call (no `next`: done)", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
fn rebuild_rollups() {}

#[utoipa::path(get, path = "/api/admin/dead-letters", tag = "admin", security(("admin_token" = [])),
    params(("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100)")),
    responses((status = 200, description = "`{count, deadLetters: [{id, reason, events, eventIds, body}]}`", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
fn list_dead_letters() {}

#[utoipa::path(post, path = "/api/admin/dead-letters/redrive", tag = "admin", security(("admin_token" = [])),
    params(("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 1000)")),
    responses((status = 200, description = "`{redriven}`: moved back into the queue; their events count once", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
fn redrive_dead_letters() {}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInput {
    /// `ingest`: publishable, may only send events (from `allowedOrigins`
    /// in a browser); `full`: secret, everything a tenant can do.
    pub scope: crate::domain::tenant::KeyScope,
    pub label: String,
    pub allowed_origins: Option<Vec<String>>,
    /// `ingest` keys only: `false` keeps the events their pages send from
    /// known crawlers (by `User-Agent`), which are dropped by default.
    pub filter_bots: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<crate::repo::tenants::ApiKeyInfo>,
}

#[utoipa::path(get, path = "/api/keys", tag = "keys", security(("api_key" = [])),
    responses((status = 200, description = "Every key of the tenant; never a key or its hash", body = KeyList),
              (status = 401, body = ErrorBody), (status = 403, description = "An ingest key", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn list_keys() {}

#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = KeyInput, security(("api_key" = [])),
    responses((status = 201, description = "The key's entry plus `key`, shown this once", body = crate::repo::tenants::ApiKeyInfo),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "An ingest key", body = ErrorBody),
              (status = 409, description = "At most 50 keys", body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn create_key() {}

#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted: it stops working at once"), (status = 401, body = ErrorBody),
              (status = 403, description = "An ingest key", body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "The tenant's last full key", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn delete_key() {}

/// `PUT /api/settings/ignored-referrers`: the list replaces the last one.
#[derive(Serialize, ToSchema)]
pub struct IgnoredReferrersInput {
    /// At most 100 host names (a URL's host is taken; `www.` dropped): a
    /// referrer from one of them, or a subdomain, is no referral, so a
    /// return from a payment provider does not start a new touch.
    pub domains: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredReferrers {
    /// Normalised: lowercase hosts, duplicates dropped.
    pub domains: Vec<String>,
    /// When the list last changed; `null` if never set.
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

#[utoipa::path(get, path = "/api/settings/ignored-referrers", tag = "settings", security(("api_key" = [])),
    responses((status = 200, description = "The referrer domains ingest ignores", body = IgnoredReferrers),
              (status = 401, body = ErrorBody), (status = 403, description = "An ingest key", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn get_ignored_referrers() {}

#[utoipa::path(put, path = "/api/settings/ignored-referrers", tag = "settings", request_body = IgnoredReferrersInput,
    security(("api_key" = [])),
    responses((status = 200, description = "The new list; events ingested from now on use it (other processes \
                                            within 30 seconds)", body = IgnoredReferrers),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "An ingest key", body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn set_ignored_referrers() {}

/// `PUT /api/settings/timezone`.
#[derive(Serialize, ToSchema)]
pub struct TimezoneInput {
    /// An IANA time zone name (`Europe/Paris`, `UTC`): the campaign
    /// rollups count the days of this zone for events counted from now on
    /// (the days counted before keep the zone they were counted in).
    pub timezone: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timezone {
    /// `UTC` until set.
    pub timezone: String,
    /// When a setting last changed; `null` if never set.
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

#[utoipa::path(get, path = "/api/settings/timezone", tag = "settings", security(("api_key" = [])),
    responses((status = 200, description = "The time zone whose days the campaign report counts", body = Timezone),
              (status = 401, body = ErrorBody), (status = 403, description = "An ingest key", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn get_timezone() {}

#[utoipa::path(put, path = "/api/settings/timezone", tag = "settings", request_body = TimezoneInput,
    security(("api_key" = [])),
    responses((status = 200, description = "The new zone; events counted from now on use it (other processes \
                                            within 30 seconds)", body = Timezone),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "An ingest key", body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn set_timezone() {}

/// `PUT /api/dimensions`: the list replaces the last one.
#[derive(Serialize, ToSchema)]
pub struct DimensionsInput {
    /// At most 5 property names (1 to 128 characters, case-sensitive):
    /// events counted from now on keep each one's value (trimmed,
    /// lowercased, at most 128 characters; numbers and booleans as text;
    /// `(not set)` without it) for `groupBy=property:<key>`.
    pub keys: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dimensions {
    pub keys: Vec<String>,
    /// When a setting last changed; `null` if never set.
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

#[utoipa::path(get, path = "/api/dimensions", tag = "settings", security(("api_key" = [])),
    responses((status = 200, description = "The tenant's custom dimensions", body = Dimensions),
              (status = 401, body = ErrorBody), (status = 403, description = "An ingest key", body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn get_dimensions() {}

#[utoipa::path(put, path = "/api/dimensions", tag = "settings", request_body = DimensionsInput,
    security(("api_key" = [])),
    responses((status = 200, description = "The new list; events counted from now on use it (other processes \
                                            within 30 seconds)", body = Dimensions),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "An ingest key", body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
fn set_dimensions() {}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "campaign-analytics", description = "Multi-tenant campaign analytics and A/B testing API."),
    paths(health, ingest_one, ingest_batch, summary, campaigns, timeseries, list_experiments, create_experiment,
          get_experiment, update_experiment, results, assign, list_keys, create_key, delete_key, create_tenant,
          rotate_key, rebuild_rollups, list_dead_letters, redrive_dead_letters, get_ignored_referrers,
          set_ignored_referrers, get_timezone, set_timezone, get_dimensions, set_dimensions),
    components(schemas(ErrorBody, ErrorDetail, Event, AcceptedEvent, EventType, EventInput, BatchInput, BatchAccepted, Experiment, Variant,
                       Status, ExperimentInput, ExperimentPatch, VariantsInput, Summary, VariantSummary,
                       ExperimentResults, Engine, GaussianPrior, Risk, Correction, Decision, Verdict, SrmResult, VariantResult, VsControl, PowerResult, MetricResult, MetricVariant, MetricKind, MetricRole, MetricDefinition, MetricInput, PartDefinition, PartKind, Assignment,
                       TimeSeries, Bucket, BucketTotals, Interval, Health, QueueDepth, TenantInput,
                       TenantCreated, KeyInput, KeyList, crate::repo::tenants::ApiKeyInfo,
                       crate::domain::tenant::KeyScope, IgnoredReferrersInput, IgnoredReferrers,
                       DimensionsInput, Dimensions, TimezoneInput, Timezone,
                       crate::domain::campaign::CampaignFields, crate::domain::campaign::Channel,
                       crate::domain::campaign_report::CampaignReport, crate::domain::campaign_report::RangeReport,
                       crate::domain::campaign_report::ReportRow, crate::domain::campaign_report::DayRange,
                       crate::domain::campaign_report::PreviousPeriod, crate::domain::campaign_report::SeriesDay,
                       crate::domain::campaign_report::VariantCell,
                       crate::domain::campaign::Touch)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// The document, serialised once per process.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_json().expect("the OpenAPI document serialises"))
}

/// `GET /api/openapi.json` and `GET /api/docs[/...]` (Swagger UI).
pub async fn handle(_ctx: &AppContext, request: &Request) -> ApiResult {
    let segments = api_segments(request.uri().path()).unwrap_or_default();
    expect_method(request, &[Method::GET, Method::HEAD], "GET")?;
    match segments.as_slice() {
        ["openapi.json"] => {
            let mut response = http::Response::new(Bytes::from_static(document_json().as_bytes()));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(response)
        }
        ["docs", rest @ ..] => swagger_ui(request, &rest.join("/")),
        _ => Err(not_found_route(request)),
    }
}

fn swagger_ui(request: &Request, tail: &str) -> ApiResult {
    // Swagger UI's index is relative-linked: make sure the page is at /api/docs/.
    if tail.is_empty() && !request.uri().path().ends_with('/') {
        let mut response = json_response(StatusCode::MOVED_PERMANENTLY, &serde_json::json!({}));
        response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/api/docs/"));
        return Ok(response);
    }
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let config =
        CONFIG.get_or_init(|| Arc::new(utoipa_swagger_ui::Config::from("/api/openapi.json"))).clone();
    let file = if tail.is_empty() { "index.html" } else { tail };
    match utoipa_swagger_ui::serve(file, config) {
        Ok(Some(file)) => {
            let mut response = http::Response::new(Bytes::from(file.bytes.into_owned()));
            if let Ok(value) = HeaderValue::from_str(&file.content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            Ok(response)
        }
        Ok(None) => Err(not_found_route(request)),
        Err(err) => {
            tracing::error!(error = %err, "serving Swagger UI failed");
            Err(super::ApiError::internal())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route_and_the_key_scheme() {
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in [
            "/api/health",
            "/api/events",
            "/api/events/batch",
            "/api/analytics/summary",
            "/api/analytics/timeseries",
            "/api/analytics/campaigns",
            "/api/experiments",
            "/api/experiments/{id}",
            "/api/experiments/{id}/results",
            "/api/experiments/{id}/assign",
            "/api/admin/tenants",
            "/api/admin/tenants/{id}/keys",
            "/api/admin/tenants/{id}/rollups",
            "/api/admin/dead-letters",
            "/api/admin/dead-letters/redrive",
            "/api/keys",
            "/api/keys/{id}",
            "/api/settings/ignored-referrers",
            "/api/settings/timezone",
            "/api/dimensions",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} is documented");
        }
        assert_eq!(doc["components"]["securitySchemes"]["api_key"]["name"], "X-API-Key");
        assert!(doc["components"]["schemas"]["ExperimentResults"].is_object());
    }
}
