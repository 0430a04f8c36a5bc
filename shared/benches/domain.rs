//! Microbenchmarks of the pure domain code on the ingest and read paths:
//! validating and normalising one event, deriving its campaign fields, planning the exactly-once writes of
//! 10,000 events (aggregation into counter, bucket and membership items),
//! and the statistics of a 3-arm experiment.
//!
//! `cargo bench -p shared --bench domain` (part of `make bench`). Under
//! `cargo test` each runs once, as a smoke test.

use std::collections::HashMap;
use std::hint::black_box;

use chrono::{TimeDelta, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use shared::domain::campaign::CampaignFields;
use shared::domain::event::{AcceptedTimes, Event, EventAt, EventType, validate_event};
use shared::domain::experiment::new_experiment;
use shared::domain::results::{Analysis, compute};
use shared::domain::summary::Totals;
use shared::repo::attribution;
use shared::repo::counting::{self, FirstSight};

fn validation(c: &mut Criterion) {
    let now = Utc::now();
    let body = json!({
        "eventId": "0f8fad5b-d9cb-469f-a165-70867728950e", "userId": "user-42", "eventType": "CONVERSION",
        "timestamp": (now - TimeDelta::minutes(3)).to_rfc3339(),
        "properties": {"experimentId": "exp-checkout", "variant": "B", "page": "/checkout", "value": 49.9},
    });
    let mut group = c.benchmark_group("validate_event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one event", |b| {
        b.iter(|| {
            validate_event("tenant", black_box(&body), AcceptedTimes::at(now), EventAt::Body).expect("valid")
        })
    });
    group.finish();
}

/// Deriving an event's campaign fields at ingest, for the four kinds of
/// page views the load generator sends: a tagged landing URL, a search
/// engine's referral, a social network's, and a move within the site.
fn campaign_fields(c: &mut Criterion) {
    let kinds = [
        (
            "tagged link",
            json!({"url": "https://shop.example/landing?utm_source=google&utm_medium=cpc&utm_campaign=campaign-7", "referrer": "https://google.example/"}),
        ),
        ("search", json!({"url": "https://shop.example/p/12", "referrer": "https://www.google.com/search"})),
        ("social", json!({"url": "https://shop.example/p/12", "referrer": "https://news.ycombinator.com/"})),
        (
            "within the site",
            json!({"url": "https://shop.example/p/12", "referrer": "https://shop.example/cart"}),
        ),
    ];
    let ignored = vec!["paypal.com".to_owned()];
    let mut group = c.benchmark_group("campaign_fields");
    group.throughput(Throughput::Elements(1));
    for (kind, properties) in &kinds {
        let properties = properties.as_object().expect("an object");
        group.bench_function(*kind, |b| b.iter(|| CampaignFields::of(black_box(properties), &ignored)));
    }
    group.finish();
}

fn events(count: usize) -> Vec<Event> {
    let start = Utc::now() - TimeDelta::days(2);
    (0..count)
        .map(|i| Event {
            id: format!("e{i}"),
            tenant_id: "tenant".into(),
            user_id: format!("user-{}", i % 4_000),
            event_type: if i % 10 == 0 { EventType::Conversion } else { EventType::PageView },
            experiment_id: Some("exp".into()),
            variant: Some(["A", "B", "C"][i % 3].into()),
            properties: Default::default(),
            timestamp: start + TimeDelta::seconds(i as i64 * 17),
        })
        .collect()
}

fn aggregation(c: &mut Criterion) {
    let batch = events(10_000);
    // Every user new to every scope: the most work a plan does.
    let absent: foldhash::HashMap<_, _> = counting::membership_keys(&batch)
        .into_iter()
        .map(|(key, at)| (key, FirstSight { at, stored: None }))
        .collect();
    // And every user new to attribution.
    let mut slots = attribution::Slots::default();
    let mut slot_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for event in &batch {
        let slot = *slot_of.entry(&event.user_id).or_insert_with(|| {
            slots.users.push(attribution::UserSlot {
                key: shared::store::keys::attribution(&event.tenant_id, &event.user_id),
                digest: attribution::user_digest(&event.tenant_id, &event.user_id),
                version: None,
                state: Default::default(),
                settings: Default::default(),
            });
            slots.users.len() - 1
        });
        slots.of_event.push(Some(slot));
    }
    let mut group = c.benchmark_group("plan_writes");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.sample_size(20);
    group.bench_function("10k events", |b| {
        b.iter(|| counting::plan(black_box(&batch), &absent, &slots, 100, 1))
    });
    group.finish();
}

fn statistics(c: &mut Criterion) {
    let experiment =
        new_experiment(&json!({"name": "3 arms", "variants": ["A", "B", "C"]}), Utc::now()).expect("valid");
    let totals: HashMap<String, Totals> = [("A", 10_000, 1_000), ("B", 10_050, 1_090), ("C", 9_950, 1_030)]
        .into_iter()
        .map(|(name, users, converted)| {
            let totals =
                Totals { events: users * 4, users, conversions: converted, converted_users: converted };
            (name.to_owned(), totals)
        })
        .collect();
    c.bench_function("results_3_arms", |b| {
        b.iter(|| compute(black_box(&experiment), black_box(&totals), &Analysis::default(), Some(7.0)))
    });
}

criterion_group!(benches, validation, campaign_fields, aggregation, statistics);
criterion_main!(benches);
