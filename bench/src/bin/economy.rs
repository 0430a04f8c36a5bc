//! Request economy on AWS: 10,000 events through the ingest handler (in
//! batches of 1,000, and 200 more one per request) and the batch writer,
//! against moto at `MOTO_ENDPOINT`, with every SDK request counted by an
//! interceptor. Reports requests per 1,000 events and the cost per million
//! events at the list prices below. Writes `target/bench/economy.json`.

use std::time::Duration;

use bench::economy::{RequestEconomy, ingest_and_drain};
use bench::write_report;
use chrono::Utc;
use serde::Serialize;
use shared::aws::{self, QueueSettings, testing};
use shared::call_counter::CallCounter;
use shared::repo::tenants;

/// AWS list prices, us-east-1, in USD (see README, "What a million events cost").
mod price {
    pub const API_GATEWAY_REST_PER_MILLION: f64 = 3.50;
    pub const LAMBDA_REQUESTS_PER_MILLION: f64 = 0.20;
    pub const SQS_REQUESTS_PER_MILLION: f64 = 0.40;
    pub const DYNAMODB_WRU_PER_MILLION: f64 = 0.625;
    pub const DYNAMODB_RRU_PER_MILLION: f64 = 0.125;
}

#[derive(Serialize)]
struct PerThousand {
    sqs_sends: f64,
    dynamodb_write_requests: f64,
    dynamodb_write_request_units: f64,
    dynamodb_read_request_units: f64,
    /// Requests only: API Gateway, Lambda invocations, SQS, DynamoDB units
    /// (Lambda duration and storage are in the README's table).
    request_cost_per_million_events_usd: f64,
}

fn per_thousand(economy: &RequestEconomy) -> PerThousand {
    let scale = 1000.0 / economy.events as f64;
    let wru = (2 * economy.dynamodb_transactional_items + economy.dynamodb_standard_items) as f64 * scale;
    let rru = economy.dynamodb_items_read as f64 * scale;
    let api_requests = economy.ingest_requests as f64 * scale;
    let sqs = (economy.sqs_sends
        + economy.writer_calls.iter().filter(|(k, _)| k.starts_with("SQS")).map(|(_, n)| n).sum::<u64>())
        as f64
        * scale;
    let per_million = |count_per_thousand: f64, price: f64| count_per_thousand * 1000.0 * price / 1e6;
    PerThousand {
        sqs_sends: economy.sqs_sends as f64 * scale,
        dynamodb_write_requests: economy.dynamodb_write_requests as f64 * scale,
        dynamodb_write_request_units: wru,
        dynamodb_read_request_units: rru,
        request_cost_per_million_events_usd: per_million(api_requests, price::API_GATEWAY_REST_PER_MILLION)
            + per_million(api_requests, price::LAMBDA_REQUESTS_PER_MILLION)
            + per_million(sqs, price::SQS_REQUESTS_PER_MILLION)
            + per_million(wru, price::DYNAMODB_WRU_PER_MILLION)
            + per_million(rru, price::DYNAMODB_RRU_PER_MILLION),
    }
}

#[derive(Serialize)]
struct Report {
    batched: RequestEconomy,
    batched_per_1000: PerThousand,
    single: RequestEconomy,
    single_per_1000: PerThousand,
}

#[tokio::main]
async fn main() {
    // Fresh tables and queues on moto at MOTO_ENDPOINT (`make bench` starts it).
    let resources = testing::fresh_resources(QueueSettings {
        visibility_timeout: Duration::from_secs(60),
        max_receives: 5,
    })
    .await;
    let endpoint = testing::endpoint();
    let counter = CallCounter::new();
    let ctx = aws::open_counted(&resources, None, Some(&counter)).await.expect("context on moto");
    let key = "economy-bench-key-0123456789";
    tenants::create_with_id(ctx.store.as_ref(), "economy", "Economy", key, "k", Utc::now())
        .await
        .expect("tenant");

    println!("10,000 events in batches of 1,000 through ingest and the batch writer (moto at {endpoint})...");
    let batched = ingest_and_drain(&ctx, &counter, key, 10_000, 1_000).await;
    // Fewer: moto needs a transaction per ten single-event messages.
    println!("200 more, one event per request...");
    let single = ingest_and_drain(&ctx, &counter, key, 200, 1).await;
    let report = Report {
        batched_per_1000: per_thousand(&batched),
        single_per_1000: per_thousand(&single),
        batched,
        single,
    };

    println!("\n| per 1,000 events | batched (1,000 per request) | one per request | target |");
    println!("|---|---|---|---|");
    let (b, s) = (&report.batched_per_1000, &report.single_per_1000);
    println!("| SQS send calls | {:.1} | {:.1} | ≤ 2 (batched) |", b.sqs_sends, s.sqs_sends);
    println!(
        "| DynamoDB write requests | {:.1} | {:.1} | ≤ 50 |",
        b.dynamodb_write_requests, s.dynamodb_write_requests
    );
    println!(
        "| DynamoDB write request units | {:.0} | {:.0} | |",
        b.dynamodb_write_request_units, s.dynamodb_write_request_units
    );
    println!(
        "| DynamoDB read request units | {:.0} | {:.0} | |",
        b.dynamodb_read_request_units, s.dynamodb_read_request_units
    );
    println!(
        "| request cost per million events | ${:.2} | ${:.2} | |",
        b.request_cost_per_million_events_usd, s.request_cost_per_million_events_usd
    );
    println!("batch writer calls for the batched run: {:?}", report.batched.writer_calls);
    let path = write_report("economy", &report);
    println!("written to {}", path.display());
}
