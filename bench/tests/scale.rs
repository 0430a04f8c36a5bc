//! The scale model's own checks: its table keeps the store port's
//! contract, a run counts every event exactly once however often writers
//! conflict, and a run repeats exactly.

use bench::scale::{Limits, ModelStore, Scenario, Traffic, run};
use shared::store::Layout;

#[test]
fn the_model_store_meets_the_store_contract() {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(
        async {
            let store = ModelStore::new(Limits::default(), Layout::default());
            shared::store::contract::run_all(&store).await;
        },
    );
}

#[test]
fn concurrent_writers_count_every_event_once_and_a_run_repeats_exactly() {
    let scenario = Scenario {
        writers: 8,
        traffic: Traffic::Single,
        seconds: 2,
        returning_users: false,
        limits: Limits::default(),
        layout: Layout::default(),
    };
    let first = run(scenario.clone());
    assert!(first.exact, "{first:?}");
    assert!(first.tally.conflicts > 0, "eight writers on one tenant's counters conflict: {first:?}");
    assert!(first.events_per_second > 0.0);
    let again = run(scenario);
    assert_eq!(
        (again.events_per_second, again.tally.conflicts, again.tally.write_units),
        (first.events_per_second, first.tally.conflicts, first.tally.write_units),
        "deterministic"
    );
}

#[test]
fn a_partition_past_its_write_units_is_throttled_and_still_counted_once() {
    let limits = Limits { partition_wcu: 50.0, ..Limits::default() };
    let outcome = run(Scenario {
        writers: 2,
        traffic: Traffic::Single,
        seconds: 2,
        returning_users: false,
        limits,
        layout: Layout::default(),
    });
    assert!(outcome.tally.throttles > 0, "{outcome:?}");
    assert!(outcome.exact, "{outcome:?}");
}

#[test]
fn writers_on_shards_of_their_own_stop_conflicting_and_count_every_event_once() {
    let on = |layout| {
        let limits = Limits::default();
        run(Scenario {
            writers: 16,
            traffic: Traffic::Batched,
            seconds: 3,
            returning_users: false,
            limits,
            layout,
        })
    };
    let one = on(Layout::default());
    let sharded = on(Layout::new(32, 64, 8, 4));
    assert!(one.exact && sharded.exact, "{one:?} {sharded:?}");
    // Ratios, not timings: virtual time is the model's own. (New users:
    // what conflicts on shards is mostly sketch merges, which a tenant's
    // writers share until they race; BENCHMARKS.md has the figures.)
    assert!(
        sharded.conflicts_per_1000_events * 5.0 < one.conflicts_per_1000_events,
        "{} vs {}",
        sharded.conflicts_per_1000_events,
        one.conflicts_per_1000_events
    );
    assert!(sharded.events_per_second > 5.0 * one.events_per_second, "{sharded:?} {one:?}");
    // The all-time summary still reads every shard of a counter in one
    // query: two requests.
    assert_eq!(sharded.summary_requests, 2);
}

/// The model's single-event calls are as large as the deployment's: the
/// `BatchSize` parameter's default in `infra/template.yaml`.
#[test]
fn single_event_calls_are_the_templates_batch_size() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml"))
        .expect("the template");
    let default = template
        .lines()
        .skip_while(|line| *line != "  BatchSize:")
        .skip(1)
        .take_while(|line| line.starts_with("    "))
        .find_map(|line| line.trim().strip_prefix("Default: "))
        .expect("BatchSize has a default");
    assert_eq!(default.parse::<usize>().unwrap(), bench::scale::TEMPLATE_BATCH_SIZE);
    assert_eq!(Traffic::Single.events_per_call(), bench::scale::TEMPLATE_BATCH_SIZE);
}

/// A call of several tenants' messages is written tenant by tenant: as
/// few transactions (each paying its tenant's counter and bucket items)
/// as the same events sent already grouped.
#[test]
fn a_call_of_interleaved_tenants_costs_what_the_same_events_grouped_do() {
    use shared::domain::event::{Event, EventType};
    let event = |n: usize| Event {
        id: format!("e{n}"),
        tenant_id: format!("tenant-{}", n % 3),
        user_id: format!("u{}", n % 50),
        event_type: if n.is_multiple_of(7) { EventType::Conversion } else { EventType::PageView },
        experiment_id: Some("exp".into()),
        variant: Some(["A", "B"][n % 50 % 2].into()),
        properties: Default::default(),
        timestamp: "2026-12-01T10:00:00Z".parse().unwrap(),
    };
    let cost = |events: Vec<Event>| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(async {
                let store = ModelStore::new(Limits::default(), Layout::default());
                let memory = shared::repo::events::WriterMemory::default();
                let report = shared::repo::events::store_events(&store, &memory, events).await.unwrap();
                (report.stored, report.transactions, store.tally().write_units)
            })
    };
    let interleaved: Vec<Event> = (0..600).map(event).collect();
    let mut grouped = interleaved.clone();
    grouped.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    let (stored, transactions, units) = cost(interleaved);
    assert_eq!(stored, 600);
    assert_eq!((stored, transactions, units), cost(grouped));
}
