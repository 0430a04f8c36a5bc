//! Results and time-series reads must not slow down as events accumulate:
//! they read counter and bucket items only. This benchmark stores an
//! experiment's events at two volumes (1 thousand and 100 thousand) in the
//! embedded store and times both reads at each; compare the two lines.
//!
//! `cargo bench -p shared --bench results_latency` (or `make bench`). Under
//! `cargo test` it runs once with small volumes, as a smoke test.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use shared::domain::counting::Scope;
use shared::domain::event::{Event, EventType};
use shared::domain::experiment::new_experiment;
use shared::domain::results::{Analysis, compute};
use shared::domain::summary::Totals;
use shared::repo::events::WriterMemory;
use shared::repo::{counters, events, experiments};
use shared::store::Store;
use shared::store::keys;
use shared::store::sqlite::SqliteStore;

const TENANT: &str = "bench-tenant";

fn is_benchmarking() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Stores `count` events of a 2-arm experiment spread over 14 days.
async fn populate(store: &SqliteStore, experiment_id: &str, count: usize) {
    let start = Utc::now() - TimeDelta::days(14);
    let batch: Vec<Event> = (0..count)
        .map(|i| {
            let variant = if i % 2 == 0 { "A" } else { "B" };
            Event {
                id: format!("e{i}"),
                tenant_id: TENANT.into(),
                user_id: format!("user-{}", i / 3),
                event_type: if i % 11 == 0 { EventType::Conversion } else { EventType::PageView },
                experiment_id: Some(experiment_id.into()),
                variant: Some(variant.into()),
                properties: Default::default(),
                timestamp: start + TimeDelta::seconds((i as i64 * 1_209_600) / count as i64),
            }
        })
        .collect();
    let memory = WriterMemory::default();
    for chunk in batch.chunks(20_000) {
        events::store_events(store, &memory, chunk.to_vec()).await.expect("events stored");
    }
}

fn results_and_timeseries(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let volumes: &[usize] = if is_benchmarking() { &[1_000, 100_000] } else { &[100, 1_000] };
    let mut group = c.benchmark_group("reads_vs_events_stored");
    group.measurement_time(Duration::from_secs(5));
    for &count in volumes {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("store.sqlite3")).unwrap();
        let experiment =
            new_experiment(&json!({"name": "bench", "variants": ["A", "B"], "status": "ACTIVE"}), Utc::now())
                .unwrap();
        runtime.block_on(async {
            experiments::create(&store, TENANT, &experiment).await.unwrap();
            populate(&store, &experiment.id, count).await;
        });
        group.bench_with_input(BenchmarkId::new("results", count), &count, |b, _| {
            b.to_async(&runtime).iter(|| async {
                let experiment = experiments::get(&store, TENANT, &experiment.id).await.unwrap().unwrap();
                let totals: HashMap<String, Totals> =
                    counters::experiment_variants(&store, TENANT, &experiment.id)
                        .await
                        .unwrap()
                        .into_iter()
                        .collect();
                compute(&experiment, &totals, &Analysis::default(), Some(14.0))
            })
        });
        group.bench_with_input(BenchmarkId::new("timeseries_14_days", count), &count, |b, _| {
            b.to_async(&runtime).iter(|| async {
                let low = keys::hour(&(Utc::now() - TimeDelta::days(15)));
                let high = keys::hour(&Utc::now());
                let mut points = 0;
                for variant in ["A", "B"] {
                    let scope = Scope::Variant(experiment.id.clone(), variant.into());
                    points +=
                        counters::hourly(&store as &dyn Store, TENANT, &scope, low.clone(), high.clone())
                            .await
                            .unwrap()
                            .len();
                }
                points
            })
        });
    }
    group.finish();
}

criterion_group!(benches, results_and_timeseries);
criterion_main!(benches);
