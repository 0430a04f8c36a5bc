//! Every sample event in `events/` runs through its function's handler,
//! exactly as the Lambda runtime would deliver it.

use std::path::PathBuf;

use chrono::Utc;
use lambda_http::Body;
use serde_json::{Value, json};
use shared::api::Function;
use shared::context::{AdminAuth, AppContext, open_embedded};
use shared::domain::experiment::{Status, new_experiment};
use shared::queue::sqlite::QueueConfig;
use shared::repo::{counters, experiments};

fn sample(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn context(dir: &std::path::Path) -> AppContext {
    let ctx = open_embedded(dir, QueueConfig::default(), Some("sample-admin-token".into())).unwrap();
    shared::demo::seed(&ctx).await.unwrap();
    let mut experiment =
        new_experiment(&json!({"name": "Sample", "variants": ["A", "B"], "status": "ACTIVE"}), Utc::now())
            .unwrap();
    experiment.id = "exp-sample".into();
    experiment.status = Status::Active;
    experiments::create(ctx.store.as_ref(), shared::demo::DEMO_TENANT_ID, &experiment).await.unwrap();
    ctx
}

async fn invoke(ctx: &AppContext, function: Function, json: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(json).expect("a valid API Gateway event");
    let response = shared::lambda::respond(ctx, function, request).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        Body::Empty => Value::Null,
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap(),
        _ => Value::Null,
    };
    (status, body)
}

#[tokio::test]
async fn every_http_sample_is_served_by_its_function() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path()).await;

    let (status, body) = invoke(&ctx, Function::Health, &sample("health.json")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, body) = invoke(&ctx, Function::Ingest, &sample("ingest-event.json")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["id"], "sample-event-1");
    assert_eq!(body["tenantId"], shared::demo::DEMO_TENANT_ID);

    let (status, body) = invoke(&ctx, Function::Ingest, &sample("ingest-batch.json")).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(2)), "{body}");

    let (status, body) = invoke(&ctx, Function::Summary, &sample("summary.json")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["totalEvents"].is_u64());

    let (status, body) = invoke(&ctx, Function::Experiments, &sample("experiments-list.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 2, "the demo experiment and the sample one");

    let (status, body) = invoke(&ctx, Function::Experiments, &sample("experiments-create.json")).await;
    assert_eq!((status, body["name"].as_str()), (201, Some("Checkout copy")), "{body}");

    let (status, body) = invoke(&ctx, Function::Experiments, &sample("experiments-get.json")).await;
    assert_eq!((status, body["id"].as_str()), (200, Some("exp-sample")), "{body}");

    let (status, body) = invoke(&ctx, Function::Experiments, &sample("experiments-patch.json")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("PAUSED")), "{body}");

    // Admin on AWS: API Gateway authorized the SigV4 signature (`AWS_IAM`).
    let mut ctx = ctx;
    ctx.admin = AdminAuth::Iam;
    let (status, body) = invoke(&ctx, Function::Admin, &sample("admin-create-tenant.json")).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["apiKey"].as_str().unwrap().len() >= 32);

    // A route of another function is not served here.
    let (status, _) = invoke(&ctx, Function::Health, &sample("experiments-list.json")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn iam_admin_routes_refuse_requests_api_gateway_did_not_authorize() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = context(dir.path()).await;
    ctx.admin = AdminAuth::Iam;
    let mut event: Value = serde_json::from_str(&sample("admin-create-tenant.json")).unwrap();
    event["requestContext"]["identity"]["userArn"] = Value::Null;
    let (status, body) = invoke(&ctx, Function::Admin, &event.to_string()).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")));

    // Nor does the bearer token open them when IAM is the configured scheme.
    event["headers"]["Authorization"] = json!("Bearer sample-admin-token");
    event["multiValueHeaders"]["Authorization"] = json!(["Bearer sample-admin-token"]);
    let (status, _) = invoke(&ctx, Function::Admin, &event.to_string()).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_key_that_api_gateway_did_not_match_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path()).await;
    let mut event: Value = serde_json::from_str(&sample("experiments-list.json")).unwrap();
    event["requestContext"]["identity"]["apiKeyId"] = json!("some-other-key-id");
    let (status, body) = invoke(&ctx, Function::Experiments, &event.to_string()).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn the_sqs_sample_is_written_and_its_poison_message_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path()).await;
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&sample("batch-writer-sqs.json")).unwrap();
    let response = shared::lambda::write_batch(&ctx, event.clone()).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
    // Delivered again: nothing is counted twice.
    shared::lambda::write_batch(&ctx, event).await;
    let summary = counters::summary(ctx.store.as_ref(), shared::demo::DEMO_TENANT_ID, Some("exp-sample"))
        .await
        .unwrap();
    assert_eq!((summary.total_events, summary.unique_users), (2, 1));
    assert_eq!(summary.variants["A"].converted_users, 1);
}
