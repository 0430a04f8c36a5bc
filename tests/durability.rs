//! Nothing acknowledged is lost or double-counted: across clean restarts,
//! and across `kill -9` at arbitrary moments during ingestion.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use blackbox::{Lcg, Stack};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn batch(round: usize, index: usize, size: usize) -> Value {
    let mut rng = Lcg::new((round * 1000 + index) as u64);
    let events: Vec<Value> = (0..size)
        .map(|i| {
            let variant = ["A", "B"][rng.below(2) as usize];
            let kind = if rng.below(8) == 0 { "CONVERSION" } else { "PAGE_VIEW" };
            json!({"eventId": format!("r{round}-b{index}-e{i}"), "userId": format!("u{}", rng.below(3000)),
                   "eventType": kind, "properties": {"experimentId": "exp", "variant": variant}})
        })
        .collect();
    json!({"events": events})
}

#[tokio::test]
async fn a_clean_restart_keeps_every_event_and_experiment() {
    let mut stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let experiment =
        stack.post("/api/experiments", &key, json!({"name": "kept", "variants": ["A", "B"]})).await;
    for index in 0..5 {
        let reply = stack.post("/api/events/batch", &key, batch(0, index, 100)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    // Stop right away: whatever was not yet written stays queued.
    let status = stack.terminate();
    assert!(status.success(), "SIGTERM exits cleanly: {status:?}");
    stack.restart();
    let before = stack.wait_for_events(&key, "/api/analytics/summary", 500).await;
    let id = experiment.body["id"].as_str().unwrap();
    assert_eq!(stack.get(&format!("/api/experiments/{id}"), &key).await.body, experiment.body);

    stack.terminate();
    stack.restart();
    let after = stack.wait_for_events(&key, "/api/analytics/summary", 500).await;
    assert_eq!(before, after);
}

/// Sends `batches` batches with a few requests in flight, retrying each
/// until it is acknowledged. Returns once all are acknowledged.
async fn send_until_acknowledged(
    base: String,
    key: String,
    round: usize,
    batches: usize,
    batch_size: usize,
    acked: Arc<AtomicUsize>,
) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (client, base, key, next, acked) =
            (client.clone(), base.clone(), key.clone(), next.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= batches {
                    return;
                }
                let body = batch(round, index, batch_size);
                loop {
                    let sent = client
                        .post(format!("{base}/api/events/batch"))
                        .header("X-API-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == StatusCode::ACCEPTED => break,
                        Ok(response) => panic!("unexpected {}", response.status()),
                        // The stack is down: a client retries the same batch.
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                acked.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
}

/// 100,000 events (embedded; moto is too slow for that many transactions,
/// so 2,400 there), the stack SIGKILLed three times while they flow.
#[tokio::test]
async fn kill_9_during_ingestion_then_client_retries_gives_exact_counts() {
    let mut stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let (batches, batch_size) = if blackbox::aws_backend() { (12, 200) } else { (100, 1000) };
    let acked = Arc::new(AtomicUsize::new(0));
    let sender = tokio::spawn(send_until_acknowledged(
        stack.base.clone(),
        key.clone(),
        1,
        batches,
        batch_size,
        acked.clone(),
    ));

    // Kill the stack three times while batches are flowing and being written.
    let kills = if blackbox::aws_backend() { [2, 5, 8] } else { [20, 50, 80] };
    for kill_after in kills {
        while acked.load(Ordering::SeqCst) < kill_after {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let pid = stack.pid();
        std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
        stack.kill9();
        // Same data directory and port: the retrying client carries on.
        stack.restart();
    }
    sender.await.unwrap();
    assert_eq!(acked.load(Ordering::SeqCst), batches);

    let expected = (batches * batch_size) as u64;
    let summary = stack.wait_for_events(&key, "/api/analytics/summary?experimentId=exp", expected).await;
    // Recount what was sent: every batch exactly once.
    let mut users = std::collections::HashSet::new();
    let mut conversions = 0;
    for index in 0..batches {
        for event in batch(1, index, batch_size)["events"].as_array().unwrap() {
            users.insert(event["userId"].as_str().unwrap().to_owned());
            conversions += u64::from(event["eventType"] == "CONVERSION");
        }
    }
    assert_eq!(summary["uniqueUsers"], users.len());
    let counted: u64 =
        summary["variants"].as_object().unwrap().values().map(|v| v["conversions"].as_u64().unwrap()).sum();
    assert_eq!(counted, conversions);
    // Nothing is left behind in the queue or its dead-letter area.
    let health = stack.health().await;
    assert_eq!(health.body["queue"]["deadLetters"], 0);
}
