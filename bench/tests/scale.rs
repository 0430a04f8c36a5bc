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
    // Ratios, not timings: virtual time is the model's own.
    assert!(
        sharded.conflicts_per_1000_events * 10.0 < one.conflicts_per_1000_events,
        "{} vs {}",
        sharded.conflicts_per_1000_events,
        one.conflicts_per_1000_events
    );
    assert!(sharded.events_per_second > 5.0 * one.events_per_second, "{sharded:?} {one:?}");
    // The all-time summary still reads every shard of a counter in one
    // query: two requests.
    assert_eq!(sharded.summary_requests, 2);
}
