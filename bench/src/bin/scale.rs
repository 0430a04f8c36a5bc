//! `make bench`'s scale model (`bench::scale`): the batch writer over a
//! simulated DynamoDB with its documented limits, in virtual time. Sweeps
//! the number of concurrent writers for batched and single-event traffic,
//! one hot tenant holding 90 % of the events, and prints the table
//! BENCHMARKS.md records; writes `target/bench/scale.json`.
//!
//! `SCALE_SECONDS` (default 10) sets each run's virtual seconds and
//! `SCALE_WRITERS` (default `1,4,16,64,256`) the sweep.

use bench::scale::{Limits, Scenario, Traffic, run};
use bench::write_report;

fn main() {
    let seconds = std::env::var("SCALE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let writers: Vec<usize> = std::env::var("SCALE_WRITERS")
        .unwrap_or_else(|_| "1,4,16,64,256".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    println!(
        "| traffic | writers | hot tenant events/s | all events/s | conflicts / 1,000 events | throttles / 1,000 events | write units / 1,000 events | redeliveries | summary: requests, read units | exact |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut outcomes = Vec::new();
    for traffic in [Traffic::Batched, Traffic::Single] {
        for &writers in &writers {
            let real = std::time::Instant::now();
            let outcome = run(Scenario { writers, traffic, seconds, limits: Limits::default() });
            println!(
                "| {traffic:?} | {writers} | {:.0} | {:.0} | {:.1} | {:.1} | {:.0} | {} | {}, {} | {} |",
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
            eprintln!(
                "  ({traffic:?}, {writers} writers: {:.1} s of real time)",
                real.elapsed().as_secs_f64()
            );
            outcomes.push(outcome);
        }
    }
    let path = write_report("scale", &outcomes);
    println!("\n{} runs of {seconds} virtual seconds; report: {}", outcomes.len(), path.display());
}
