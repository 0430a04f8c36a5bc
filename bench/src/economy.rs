//! The request-economy harness: events through the ingest handler and the
//! batch writer on the AWS backend, every SDK request counted on the way
//! (`shared::call_counter`). The `economy` benchmark and the
//! `tests/economy.rs` bound read it.

use std::collections::BTreeMap;

use shared::call_counter::{CallCounter, DYNAMODB_WRITES, SQS_SENDS};

/// What ingesting a number of events cost, counted on each side.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RequestEconomy {
    pub events: u64,
    pub ingest_requests: u64,
    /// Requests the ingest function made (SQS sends, and the key lookup).
    pub ingest_calls: BTreeMap<String, u64>,
    /// Requests the batch writer made (on AWS, receiving and deleting is
    /// done by Lambda's event source mapping instead).
    pub writer_calls: BTreeMap<String, u64>,
    pub sqs_sends: u64,
    pub dynamodb_write_requests: u64,
    pub dynamodb_transactional_items: u64,
    pub dynamodb_standard_items: u64,
    pub dynamodb_items_read: u64,
}

fn flatten(counts: BTreeMap<(String, String), u64>) -> BTreeMap<String, u64> {
    counts.into_iter().map(|((service, op), n)| (format!("{service}.{op}"), n)).collect()
}

/// Sends `events` events for the tenant holding `api_key` through the ingest
/// handler, `batch_size` per request (1 = single-event `POST /api/events`),
/// then drains the queue through the batch writer, counting every SDK
/// request on the way. `ctx` must be built with [`shared::aws::open_counted`]
/// and `counter`.
pub async fn ingest_and_drain(
    ctx: &shared::context::AppContext,
    counter: &CallCounter,
    api_key: &str,
    events: u64,
    batch_size: usize,
) -> RequestEconomy {
    use shared::api::{self, Function};
    let event = |n: u64| {
        // Ids differ between runs of different batch sizes: a repeat would be a duplicate.
        serde_json::json!({"eventId": format!("economy-{batch_size}-{n}"), "userId": format!("user-{}", n % 400),
            "eventType": if n.is_multiple_of(10) { "CONVERSION" } else { "PAGE_VIEW" },
            "properties": {"experimentId": "economy", "variant": if n.is_multiple_of(2) { "A" } else { "B" }}})
    };
    // The writer records the shard layout once per deployment, and reads
    // it again once a minute: not what events cost, so done before counting.
    ctx.store.settle_layout(shared::store::LayoutUse::Write).await.expect("the layout settles");
    counter.reset();
    let mut requests = 0;
    let mut next = 0;
    while next < events {
        let upto = (next + batch_size as u64).min(events);
        let (path, body) = if batch_size == 1 {
            ("/api/events", event(next))
        } else {
            (
                "/api/events/batch",
                serde_json::json!({ "events": (next..upto).map(event).collect::<Vec<_>>() }),
            )
        };
        let request = http::Request::post(path)
            .header(api::API_KEY_HEADER, api_key)
            .body(bytes::Bytes::from(serde_json::to_vec(&body).expect("JSON")))
            .expect("request");
        let response = api::handle_function(ctx, Function::Ingest, request).await;
        assert_eq!(response.status(), http::StatusCode::ACCEPTED, "ingest refused a measured request");
        requests += 1;
        next = upto;
    }
    let sqs_sends = counter.count("SQS", SQS_SENDS);
    let ingest_calls = flatten(counter.snapshot());

    counter.reset();
    loop {
        let outcome = shared::batch_writer::drain_once(
            ctx.store.as_ref(),
            &ctx.writer_memory,
            ctx.queue.as_ref(),
            10,
            std::time::Duration::ZERO,
        )
        .await
        .expect("queue reachable");
        if outcome.done.is_empty() && outcome.failed.is_empty() {
            break;
        }
    }
    let items = counter.items();
    RequestEconomy {
        events,
        ingest_requests: requests,
        ingest_calls,
        sqs_sends,
        dynamodb_write_requests: counter.count("DynamoDB", DYNAMODB_WRITES),
        dynamodb_transactional_items: items.transactional,
        dynamodb_standard_items: items.standard,
        dynamodb_items_read: items.read,
        writer_calls: flatten(counter.snapshot()),
    }
}
