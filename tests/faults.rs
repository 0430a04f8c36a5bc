//! Fault injection on the AWS backend, each test on a private moto server
//! it can freeze: an unresponsive backend is a prompt 503 with
//! `Retry-After` (never a 500 or a hang) and nothing acknowledged is lost
//! once it answers again; a poison message is dead-lettered without
//! holding up the events behind it.

use std::time::{Duration, Instant};

use blackbox::{Emulator, Options, Stack};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn batch(index: usize) -> Value {
    let events: Vec<Value> = (0..100)
        .map(|i| {
            json!({"eventId": format!("b{index}-e{i}"), "userId": format!("u{}", (index * 100 + i) % 170),
                   "eventType": if i % 5 == 0 { "CONVERSION" } else { "PAGE_VIEW" },
                   "properties": {"experimentId": "exp", "variant": if i % 2 == 0 { "A" } else { "B" }}})
        })
        .collect();
    json!({ "events": events })
}

#[tokio::test]
async fn an_unresponsive_backend_is_a_prompt_503_and_nothing_acknowledged_is_lost() {
    let emulator = Emulator::start().await;
    let stack = Stack::start_with(Options::default().on_emulator(&emulator)).await;
    let (_, key) = stack.tenant("acme").await;
    for index in 0..3 {
        assert_eq!(stack.post("/api/events/batch", &key, batch(index)).await.status, StatusCode::ACCEPTED);
    }

    emulator.freeze();
    // The SDK's timeouts bound every call; a client waiting a minute sees an answer.
    let patient = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let send = |index: usize| {
        patient.post(format!("{}/api/events/batch", stack.base)).header("X-API-Key", &key).json(&batch(index))
    };
    let refused = stack.raw(send(3)).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", refused.body);
    assert_eq!(refused.error_code(), "unavailable");
    let retry_after: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let summary = stack
        .raw(patient.get(format!("{}/api/analytics/summary", stack.base)).header("X-API-Key", &key))
        .await;
    assert_eq!(summary.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", summary.body);
    let health =
        stack.raw(patient.get(format!("{}/api/health", stack.base)).bearer_auth(blackbox::ADMIN_TOKEN)).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("degraded"))
    );

    emulator.thaw();
    // The client retries the refused batch, as Retry-After invites it to.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = stack.raw(send(3)).await;
        if reply.status == StatusCode::ACCEPTED {
            break;
        }
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", reply.body);
        assert!(Instant::now() < deadline, "the backend is back but ingest still refuses");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stack.post("/api/events/batch", &key, batch(4)).await.status, StatusCode::ACCEPTED);

    let summary = stack.wait_for_events(&key, "/api/analytics/summary?experimentId=exp", 500).await;
    let conversions: u64 =
        summary["variants"].as_object().unwrap().values().map(|v| v["conversions"].as_u64().unwrap()).sum();
    assert_eq!(conversions, 100, "every acknowledged event counted exactly once");
    assert_eq!(summary["uniqueUsers"], 170);
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_without_blocking_the_rest() {
    let emulator = Emulator::start().await;
    let queue = format!("poison-{}", std::process::id());
    let stack = Stack::start_with(
        Options::default()
            .on_emulator(&emulator)
            .env("QUEUE_NAME", &queue)
            .env("QUEUE_MAX_RECEIVES", 2)
            .env("QUEUE_VISIBILITY_TIMEOUT_SECS", 1),
    )
    .await;
    let (_, key) = stack.tenant("acme").await;

    // Something that is not a batch of events gets onto the queue.
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .endpoint_url(&emulator.endpoint)
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "test"))
        .build();
    let sqs = aws_sdk_sqs::Client::from_conf(config);
    let url = sqs.get_queue_url().queue_name(&queue).send().await.unwrap().queue_url.unwrap();
    sqs.send_message().queue_url(&url).message_body("this is not a batch of events").send().await.unwrap();
    for index in 0..3 {
        assert_eq!(stack.post("/api/events/batch", &key, batch(index)).await.status, StatusCode::ACCEPTED);
    }

    stack.wait_for_events(&key, "/api/analytics/summary", 300).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = stack.health().await;
        if health.body["queue"]["deadLetters"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the poison message never reached the DLQ: {:?}", health.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(stack.get("/api/analytics/summary", &key).await.body["totalEvents"], 300);
}

/// The store stops answering for longer than a message's deliveries last
/// (QUEUE_MAX_RECEIVES × the visibility timeout) while the queue works:
/// the batch writer hands its batches back as new messages instead of
/// letting them run out of deliveries, so once the store answers again
/// every acknowledged event is counted, once, with nothing dead-lettered
/// and no manual step.
#[tokio::test]
async fn a_store_outage_longer_than_the_delivery_limit_loses_nothing() {
    let queue_emulator = Emulator::start().await;
    let store_emulator = Emulator::start().await;
    let stack = Stack::start_with(
        Options::default()
            .on_emulator(&queue_emulator)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &store_emulator.endpoint)
            .env("QUEUE_MAX_RECEIVES", 2)
            .env("QUEUE_VISIBILITY_TIMEOUT_SECS", 1),
    )
    .await;
    let (_, key) = stack.tenant("acme").await;
    assert_eq!(stack.post("/api/events/batch", &key, batch(0)).await.status, StatusCode::ACCEPTED);
    stack.wait_for_events(&key, "/api/analytics/summary", 100).await;

    store_emulator.freeze();
    // Ingest needs only the queue (and the key, which this process has seen).
    for index in 1..3 {
        let reply = stack.post("/api/events/batch", &key, batch(index)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    // The store, and only the store, is down: reads say so.
    let patient = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let summary = stack
        .raw(patient.get(format!("{}/api/analytics/summary", stack.base)).header("X-API-Key", &key))
        .await;
    assert_eq!(summary.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", summary.body);
    tokio::time::sleep(Duration::from_secs(8)).await;
    store_emulator.thaw();

    let summary = stack.wait_for_events(&key, "/api/analytics/summary?experimentId=exp", 300).await;
    assert_eq!(summary["uniqueUsers"], 170);
    let health = stack.health().await;
    assert_eq!(health.body["queue"]["deadLetters"], 0, "{:?}", health.body);
}

/// Dead letters are listed with their reasons and, after a fix, moved back
/// with `campaign-local dlq redrive`: their events count once, even when a
/// letter is there twice or is redriven again.
#[tokio::test]
async fn dead_letters_are_listed_and_redriven_by_the_cli_and_count_once() {
    let emulator = Emulator::start().await;
    let dlq = format!("redrive-{}-dlq", std::process::id());
    let stack = Stack::start_with(Options::default().on_emulator(&emulator).env("DLQ_NAME", &dlq)).await;
    let (tenant, key) = stack.tenant("acme").await;

    // Two events set aside earlier (say, by a writer that could not store
    // them before a fix), one of them twice.
    let sqs = sqs_client(&emulator.endpoint);
    let url = sqs.get_queue_url().queue_name(&dlq).send().await.unwrap().queue_url.unwrap();
    let event = |id: &str, user: &str| {
        json!({"id": id, "tenantId": tenant, "userId": user, "eventType": "CONVERSION",
               "experimentId": "exp", "variant": "A", "properties": {}, "timestamp": "2026-11-30T12:00:00Z"})
    };
    for body in [
        json!({"events": [event("late-1", "u1")]}),
        json!({"events": [event("late-2", "u2")]}),
        json!({"events": [event("late-1", "u1")]}),
    ] {
        let reason = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value("refused by the store (before the fix)")
            .build()
            .unwrap();
        sqs.send_message()
            .queue_url(&url)
            .message_body(body.to_string())
            .message_attributes("reason", reason)
            .send()
            .await
            .unwrap();
    }

    let cli = |command: &str| {
        let output = std::process::Command::new(blackbox::binary())
            .args(["dlq", command])
            .env("ADMIN_URL", format!("{}/api", stack.base))
            .env("ADMIN_TOKEN", blackbox::ADMIN_TOKEN)
            .env_remove("ADMIN_AUTH")
            .output()
            .expect("campaign-local runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).expect("the answer is printed as JSON")
    };
    let listed = cli("list");
    assert_eq!(listed["count"], 3, "{listed}");
    let letters = listed["deadLetters"].as_array().unwrap();
    assert_eq!(letters.len(), 3);
    assert!(
        letters.iter().all(|l| l["reason"] == "refused by the store (before the fix)" && l["events"] == 1)
    );

    assert_eq!(cli("redrive")["redriven"], 3);
    let summary = stack.wait_for_events(&key, "/api/analytics/summary?experimentId=exp", 2).await;
    assert_eq!(summary["variants"]["A"]["conversions"], 2, "late-1 counted once");
    assert_eq!(cli("list")["count"], 0);
    assert_eq!(cli("redrive")["redriven"], 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.get("/api/analytics/summary", &key).await.body["totalEvents"], 2);
}

fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}
