//! The request economy on moto, bounded: what 1,000 batched events cost.

use std::time::Duration;

use chrono::Utc;

use bench::economy::ingest_and_drain;
use shared::aws::{self, QueueSettings, testing};
use shared::call_counter::CallCounter;
use shared::repo::{counters, tenants};

/// 1,000 events, in one batch request, through ingest (SQS) and the
/// batch writer (DynamoDB), counting the requests each side makes.
#[tokio::test]
async fn a_thousand_events_cost_a_few_dozen_requests() {
    let resources = testing::fresh_resources(QueueSettings {
        visibility_timeout: Duration::from_secs(30),
        max_receives: 3,
    })
    .await;
    let counter = CallCounter::new();
    let ctx = aws::open_counted(&resources, None, Some(&counter)).await.unwrap();
    let key = "economy-key-0123456789";
    tenants::create_with_id(ctx.store.as_ref(), "t-economy", "Economy", key, "k", Utc::now()).await.unwrap();

    let economy = ingest_and_drain(&ctx, &counter, key, 1000, 1000).await;

    let summary = counters::summary(ctx.store.as_ref(), "t-economy", None).await.unwrap();
    assert_eq!(summary.total_events, 1000, "every event counted once");
    assert!(economy.sqs_sends <= 2, "SQS send calls per 1,000 batched events: {economy:?}");
    // 25 transactions before first-touch attribution; each new user's
    // attribution item and the campaign rows about double them (README).
    assert!(economy.dynamodb_write_requests <= 60, "DynamoDB write requests per 1,000 events: {economy:?}");
    // Each event is written once with its marker, in a transaction.
    assert!(economy.dynamodb_transactional_items >= 2000, "{economy:?}");
    assert_eq!(economy.dynamodb_standard_items, 0, "{economy:?}");
}
