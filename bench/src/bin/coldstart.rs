//! Cold start of each Lambda function binary, measured against a minimal
//! Lambda Runtime API stub: the time from `exec` to the first
//! `GET /2018-06-01/runtime/invocation/next` (init: tracing, SDK
//! configuration, clients) and to the first posted response, side by side
//! with a hello-world `lambda_runtime` function built in the same run.
//!
//! The functions run with `BACKEND=aws`, queue URLs given (as the SAM
//! template gives them, so init makes no network call) and an endpoint that
//! refuses connections; each first invocation is one the handler answers
//! without the backend (a 401, the OpenAPI document, a poison SQS record),
//! so the figures are the binaries' own, not a network's.
//!
//! Writes `target/bench/coldstart.json`. Arm64 zip sizes are reported when
//! `make package` has built them.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use bench::{median, sibling_binary, target_dir, write_report};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

const RUNS: usize = 31;

#[derive(Default)]
struct Stub {
    event: Mutex<Value>,
    started: Mutex<Option<Instant>>,
    first_poll: Mutex<Option<Duration>>,
    first_response: Mutex<Option<Duration>>,
    served: Mutex<bool>,
    responded: Notify,
}

impl Stub {
    fn reset(&self, event: Value) {
        *self.event.lock().unwrap() = event;
        *self.started.lock().unwrap() = Some(Instant::now());
        *self.first_poll.lock().unwrap() = None;
        *self.first_response.lock().unwrap() = None;
        *self.served.lock().unwrap() = false;
    }

    fn since_start(&self) -> Duration {
        self.started.lock().unwrap().expect("run started").elapsed()
    }
}

async fn next(State(stub): State<Arc<Stub>>) -> (HeaderMap, String) {
    let elapsed = stub.since_start();
    stub.first_poll.lock().unwrap().get_or_insert(elapsed);
    let already = std::mem::replace(&mut *stub.served.lock().unwrap(), true);
    if already {
        // One invocation per cold start; the harness kills the process.
        std::future::pending::<()>().await;
    }
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", "cold-start-1".parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", deadline.to_string().parse().unwrap());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".parse().unwrap(),
    );
    headers.insert("lambda-runtime-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap());
    (headers, stub.event.lock().unwrap().to_string())
}

async fn response(State(stub): State<Arc<Stub>>, Path(_id): Path<String>, body: String) -> &'static str {
    let _ = body;
    let elapsed = stub.since_start();
    stub.first_response.lock().unwrap().get_or_insert(elapsed);
    stub.responded.notify_one();
    "{}"
}

async fn failure(State(stub): State<Arc<Stub>>, body: String) -> &'static str {
    eprintln!("the function reported an error: {body}");
    stub.responded.notify_one();
    "{}"
}

/// An API Gateway (REST, stage `api`) request from the samples in `events/`.
fn api_event(method: &str, path: &str) -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let sample = std::fs::read_to_string(root.join("events/health.json")).expect("events/health.json");
    let mut event: Value = serde_json::from_str(&sample).expect("JSON");
    event["httpMethod"] = json!(method);
    event["path"] = json!(path);
    event["requestContext"]["httpMethod"] = json!(method);
    event["requestContext"]["path"] = json!(format!("/api{path}"));
    event
}

fn functions() -> Vec<(&'static str, Value)> {
    let poison = json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r-1", "body": "not a batch of events",
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ingest",
        "awsRegion": "us-east-1"
    }]});
    vec![
        ("hello-lambda", json!({"hello": "world"})),
        ("ingest", api_event("POST", "/events")),
        ("summary", api_event("GET", "/analytics/summary")),
        ("experiments", api_event("GET", "/experiments")),
        ("health", api_event("GET", "/openapi.json")),
        ("admin", api_event("POST", "/admin/tenants")),
        ("batch-writer", poison),
    ]
}

#[derive(Serialize)]
struct Measured {
    function: String,
    init_ms: f64,
    first_response_ms: f64,
    init_vs_hello: f64,
    binary_bytes: u64,
    arm64_zip_bytes: Option<u64>,
}

async fn cold_start(stub: &Arc<Stub>, address: &str, binary: &std::path::Path, event: &Value) -> (f64, f64) {
    stub.reset(event.clone());
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("BACKEND", "aws")
        .env("EVENTS_TABLE", "events")
        .env("STATE_TABLE", "state")
        .env("QUEUE_URL", "http://127.0.0.1:9/123456789012/ingest")
        .env("DLQ_URL", "http://127.0.0.1:9/123456789012/ingest-dlq")
        .env("ADMIN_AUTH", "iam")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("function binary starts");
    let answered = tokio::time::timeout(Duration::from_secs(20), stub.responded.notified()).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(answered.is_ok(), "{} never answered", binary.display());
    let ms = |d: Option<Duration>| d.expect("measured").as_secs_f64() * 1000.0;
    (ms(*stub.first_poll.lock().unwrap()), ms(*stub.first_response.lock().unwrap()))
}

#[tokio::main]
async fn main() {
    let stub = Arc::new(Stub::default());
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(failure))
        .route("/2018-06-01/runtime/init/error", post(failure))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("stub listens");
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let functions = functions();
    let binaries: Vec<std::path::PathBuf> = functions
        .iter()
        .map(|(name, _)| {
            let binary = sibling_binary(name);
            assert!(binary.exists(), "{} is missing: `make bench` builds it", binary.display());
            binary
        })
        .collect();
    // One unmeasured start each warms the page cache, as a reused Lambda host would be.
    for ((_, event), binary) in functions.iter().zip(&binaries) {
        cold_start(&stub, &address, binary, event).await;
    }
    // Round-robin, so that the host's load, which drifts over seconds on a
    // shared machine, weighs on every binary alike rather than on whichever
    // ran during a busy spell.
    let mut inits = vec![Vec::with_capacity(RUNS); functions.len()];
    let mut firsts = vec![Vec::with_capacity(RUNS); functions.len()];
    for _ in 0..RUNS {
        for (i, ((_, event), binary)) in functions.iter().zip(&binaries).enumerate() {
            let (init, first) = cold_start(&stub, &address, binary, event).await;
            inits[i].push(init);
            firsts[i].push(first);
        }
    }

    let mut results: Vec<Measured> = Vec::new();
    let mut hello_init = f64::NAN;
    for (i, (name, _)) in functions.iter().enumerate() {
        let init_ms = median(&mut inits[i]);
        if *name == "hello-lambda" {
            hello_init = init_ms;
        }
        let zip = target_dir().join("lambda-arm64").join(name).join("bootstrap.zip");
        results.push(Measured {
            function: (*name).to_owned(),
            init_ms,
            first_response_ms: median(&mut firsts[i]),
            init_vs_hello: init_ms / hello_init,
            binary_bytes: std::fs::metadata(&binaries[i]).map_or(0, |m| m.len()),
            arm64_zip_bytes: std::fs::metadata(&zip).ok().map(|m| m.len()),
        });
    }

    println!(
        "\n| function | init (to first poll) | to first response | init vs hello-world | x86-64 binary | arm64 zip |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:.2}× | {:.1} MB | {} |",
            r.function,
            r.init_ms,
            r.first_response_ms,
            r.init_vs_hello,
            r.binary_bytes as f64 / 1e6,
            r.arm64_zip_bytes.map_or("(make package)".to_owned(), |b| format!("{:.1} MB", b as f64 / 1e6)),
        );
    }
    println!("(median of {RUNS} starts each, taken round-robin; target: init ≤ 1.5× hello-world)");
    let path = write_report("coldstart", &results);
    println!("written to {}", path.display());
}
