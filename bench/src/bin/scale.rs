//! `make bench`'s scale model (`bench::scale`): the batch writer over a
//! simulated DynamoDB with its documented limits, in virtual time. Sweeps
//! the number of concurrent writers for batched and single-event traffic,
//! new users (a cold start) and returning ones (steady state), one hot
//! tenant holding 90 % of the events, and prints the table
//! BENCHMARKS.md records; writes `target/bench/scale.json`.
//!
//! `SCALE_SECONDS` (default 10) sets each run's virtual seconds,
//! `SCALE_USERS` (`new`, `returning`; default both) the users,
//! `SCALE_WRITERS` (default `1,4,16,64,256`) the sweep, and
//! `SCALE_LAYOUTS` (default `1x1x1x1,128x128x16x8`) the layouts it runs
//! on, each `<event shards>x<aggregate shards>x<sketch shards>x<bucket
//! partitions>` (`1x1x1x1`: the layout before shards).

use bench::scale::{Limits, Scenario, Traffic, run};
use bench::write_report;
use shared::store::Layout;

fn main() {
    let seconds = std::env::var("SCALE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let writers: Vec<usize> = std::env::var("SCALE_WRITERS")
        .unwrap_or_else(|_| "1,4,16,64,256".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let layouts: Vec<Layout> = std::env::var("SCALE_LAYOUTS")
        .unwrap_or_else(|_| "1x1x1x1,128x128x16x8".into())
        .split(',')
        .filter_map(|layout| {
            let counts: Vec<u16> = layout.trim().split('x').filter_map(|n| n.parse().ok()).collect();
            match counts[..] {
                [events, aggregates, sketches, buckets] => {
                    Some(Layout::new(events, aggregates, sketches, buckets))
                }
                _ => None,
            }
        })
        .collect();
    println!(
        "| layout (M×N×K×B) | users | traffic | writers | hot tenant events/s | all events/s | conflicts / 1,000 events | throttles / 1,000 events | write units / 1,000 events | redeliveries | summary: requests, read units | exact |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut outcomes = Vec::new();
    let users: Vec<bool> = match std::env::var("SCALE_USERS").as_deref() {
        Ok("new") => vec![false],
        Ok("returning") => vec![true],
        _ => vec![false, true],
    };
    let runs = layouts.iter().flat_map(|&layout| {
        users.clone().into_iter().flat_map(move |returning_users| {
            [Traffic::Batched, Traffic::Single].map(|traffic| (layout, returning_users, traffic))
        })
    });
    for (layout, returning_users, traffic) in runs {
        for &writers in &writers {
            let real = std::time::Instant::now();
            let limits = Limits::default();
            let outcome = run(Scenario { writers, traffic, seconds, returning_users, limits, layout });
            let users = if returning_users { "returning" } else { "new" };
            println!(
                "| {}×{}×{}×{} | {users} | {traffic:?} | {writers} | {:.0} | {:.0} | {:.1} | {:.1} | {:.0} | {} | {}, {} | {} |",
                layout.event_shards,
                layout.aggregate_shards,
                layout.sketch_shards,
                layout.bucket_partitions,
                outcome.hot_events_per_second,
                outcome.events_per_second,
                outcome.conflicts_per_1000_events,
                outcome.throttles_per_1000_events,
                outcome.write_units_per_1000_events,
                outcome.redeliveries,
                outcome.summary_requests,
                outcome.summary_read_units,
                outcome.exact,
            );
            let by_kind: Vec<String> = outcome
                .write_units_per_1000_events_by_kind
                .iter()
                .map(|(kind, units)| format!("{kind} {units:.0}"))
                .collect();
            eprintln!(
                "  ({traffic:?}, {writers} writers: {:.1} s of real time; write units / 1,000 events: {})",
                real.elapsed().as_secs_f64(),
                by_kind.join(", ")
            );
            outcomes.push(outcome);
        }
    }
    let path = write_report("scale", &outcomes);
    println!("\n{} runs of {seconds} virtual seconds; report: {}", outcomes.len(), path.display());
}
