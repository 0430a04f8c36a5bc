//! The demo tenant and experiment seeded into an empty local stack, so a
//! new user has something to look at. The seed's README promised the key
//! `test-api-key-12345`; we keep it for the demo tenant only.

use chrono::{Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, json};

use crate::context::AppContext;
use crate::domain::event::{Event, EventType};
use crate::domain::experiment::new_experiment;
use crate::repo::settings::{self, ListSetting};
use crate::repo::{experiments, tenants};

pub const DEMO_API_KEY: &str = "test-api-key-12345";
pub const DEMO_TENANT_ID: &str = "demo-tenant";
pub const DEMO_USERS: usize = 2000;
/// The demo tenant's custom dimension: each demo user's device.
pub const DEMO_DIMENSION: &str = "device";

#[derive(Debug, thiserror::Error)]
#[error("seeding the demo data failed: {0}")]
pub struct SeedError(String);

fn failed(err: impl std::fmt::Display) -> SeedError {
    SeedError(err.to_string())
}

/// Seeds the demo tenant, an active A/B experiment and two weeks of events
/// (queued like any other events). Does nothing if the demo tenant exists.
pub async fn seed(ctx: &AppContext) -> Result<bool, SeedError> {
    let store = ctx.store.as_ref();
    if tenants::get(store, DEMO_TENANT_ID).await.map_err(failed)?.is_some() {
        return Ok(false);
    }
    let now = Utc::now();
    tenants::create_with_id(store, DEMO_TENANT_ID, "Demo tenant", DEMO_API_KEY, "demo-key", now)
        .await
        .map_err(failed)?;
    let started = now - Duration::days(14);
    let experiment = new_experiment(
        &json!({
            "name": "Homepage call-to-action",
            "description": "Does a green 'Start free trial' button beat the grey 'Sign up' one?",
            "variants": [{"name": "control", "weight": 50}, {"name": "green-button", "weight": 50}],
            "status": "ACTIVE",
            "startDate": crate::domain::event::rfc3339::format(&started),
        }),
        now,
    )
    .map_err(|errors| failed(format!("{errors:?}")))?;
    experiments::create(store, DEMO_TENANT_ID, &experiment).await.map_err(failed)?;
    // Before the events, so the batch writer keeps their devices.
    settings::set_list(store, DEMO_TENANT_ID, ListSetting::Dimensions, &[DEMO_DIMENSION.to_owned()], now)
        .await
        .map_err(failed)?;

    let events = demo_events(&experiment.id, started, now);
    ctx.outbox.send(&events).await.map_err(failed)?;
    tracing::info!(events = events.len(), "demo data seeded");
    Ok(true)
}

/// Deterministic traffic: control converts about 10% of users, the green
/// button about 13%; users arrive from campaigns, search, social and
/// referrals, on a phone, a laptop or a tablet (`device`), and conversions
/// carry a `value` (revenue).
fn demo_events(experiment_id: &str, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(20_261_129);
    let span = (to - from).num_seconds().max(1);
    let mut events = Vec::new();
    // Campaign fields draw from their own generator, so the experiment's
    // traffic stays what it was before they were added.
    let mut arrivals = StdRng::seed_from_u64(20_261_203);
    // And devices from theirs.
    let mut devices = StdRng::seed_from_u64(20_261_204);
    let device = std::cell::Cell::new("mobile");
    let mut push = |user: &str,
                    kind: EventType,
                    variant: &str,
                    at: chrono::DateTime<Utc>,
                    extra: &[(&str, serde_json::Value)]| {
        let mut properties = Map::new();
        properties.insert(DEMO_DIMENSION.into(), json!(device.get()));
        properties.insert("experimentId".into(), json!(experiment_id));
        properties.insert("variant".into(), json!(variant));
        for (key, value) in extra {
            properties.insert((*key).into(), value.clone());
        }
        events.push(Event {
            id: format!("demo-{}", events.len()),
            tenant_id: DEMO_TENANT_ID.into(),
            user_id: user.to_owned(),
            event_type: kind,
            experiment_id: Some(experiment_id.to_owned()),
            variant: Some(variant.to_owned()),
            properties,
            timestamp: at,
        });
    };
    for user in 0..DEMO_USERS {
        let user_id = format!("demo-user-{user:04}");
        let (variant, rate) = if user % 2 == 0 { ("control", 0.10) } else { ("green-button", 0.13) };
        let mut at = from + Duration::seconds(rng.random_range(0..span));
        let landing = landing_page(&mut arrivals);
        device.set(match devices.random_range(0..10) {
            0..6 => "mobile",
            6..9 => "desktop",
            _ => "tablet",
        });
        for view in 0..rng.random_range(1..=3) {
            let page = if view == 0 {
                landing.clone()
            } else {
                vec![("url", json!("https://shop.example/pricing"))]
            };
            push(&user_id, EventType::PageView, variant, at.min(to), &page);
            at += Duration::seconds(rng.random_range(5..120));
        }
        if rng.random_bool(0.4) {
            push(&user_id, EventType::Click, variant, at.min(to), &[]);
            at += Duration::seconds(rng.random_range(5..300));
        }
        if rng.random_bool(rate) {
            let plan = if arrivals.random_bool(0.3) { 99 } else { 49 };
            push(&user_id, EventType::Conversion, variant, at.min(to), &[("value", json!(plan))]);
        }
    }
    events
}

/// Where a demo user's first page view came from, as a web page reports
/// it (`url` with UTM tags or a click id, `referrer`), for the campaign
/// report: a mix of direct, search, paid search, social, email and referral.
fn landing_page(rng: &mut StdRng) -> Vec<(&'static str, serde_json::Value)> {
    let url = |query: &str| ("url", json!(format!("https://shop.example/{query}")));
    let referrer = |from: &str| ("referrer", json!(from));
    match rng.random_range(0..100) {
        0..25 => vec![url("")],
        25..45 => vec![url(""), referrer("https://www.google.com/")],
        45..50 => vec![url(""), referrer("https://www.bing.com/")],
        50..62 => vec![url("?utm_source=google&utm_medium=cpc&utm_campaign=black-friday&gclid=demo")],
        62..68 => vec![url("?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=shop")],
        68..78 => vec![url("?utm_source=newsletter&utm_medium=email&utm_campaign=november-digest")],
        78..86 => vec![url("?utm_source=facebook&utm_medium=paid_social&utm_campaign=black-friday")],
        86..93 => vec![url(""), referrer("https://t.co/abc")],
        _ => vec![url(""), referrer("https://blog.example.org/best-shops")],
    }
}
