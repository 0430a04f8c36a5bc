//! Test harness: starts the real `campaign-local` binary on a free port
//! with its own data directory, and talks to it over HTTP like a client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

pub const DEMO_KEY: &str = "test-api-key-12345";
pub const ADMIN_TOKEN: &str = "test-admin-token";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// The local stack binary, built on first use if a test runs without `make`.
pub fn binary() -> PathBuf {
    static BUILD: Once = Once::new();
    if let Ok(path) = std::env::var("CAMPAIGN_LOCAL_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "local", "--bin", "campaign-local"])
            .current_dir(workspace_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building campaign-local failed");
    });
    target.join("debug").join("campaign-local")
}

/// How to start a stack.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Seed the demo tenant (off by default so counts start at zero).
    pub seed_demo: bool,
    pub env: Vec<(String, String)>,
}

impl Options {
    pub fn env(mut self, name: &str, value: impl ToString) -> Self {
        self.env.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn seeded(mut self) -> Self {
        self.seed_demo = true;
        self
    }
}

/// Which backend the stacks run on: `BLACKBOX_BACKEND=aws` runs the same
/// tests against DynamoDB and SQS on the moto emulator at `MOTO_ENDPOINT`.
pub fn aws_backend() -> bool {
    std::env::var("BLACKBOX_BACKEND").as_deref() == Ok("aws")
}

/// Environment for a stack on the emulator, with its own tables and queues.
fn aws_env() -> Vec<(String, String)> {
    let endpoint = std::env::var("MOTO_ENDPOINT")
        .expect("BLACKBOX_BACKEND=aws needs MOTO_ENDPOINT: run `make test`, which starts moto_server");
    aws_env_on(endpoint)
}

/// Environment for a stack on the emulator at `endpoint`, with its own
/// tables and queues.
pub fn aws_env_on(endpoint: String) -> Vec<(String, String)> {
    let suffix = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    [
        ("BACKEND", "aws".to_owned()),
        ("BOOTSTRAP", "true".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("EVENTS_TABLE", format!("events-{suffix}")),
        ("STATE_TABLE", format!("state-{suffix}")),
        ("QUEUE_NAME", format!("ingest-{suffix}")),
        // Deliveries of a killed stack come back quickly.
        ("QUEUE_VISIBILITY_TIMEOUT_SECS", "2".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl Options {
    /// Runs the stack on DynamoDB and SQS at `emulator`, whatever
    /// `BLACKBOX_BACKEND` says.
    pub fn on_emulator(mut self, emulator: &Emulator) -> Self {
        let mut env = aws_env_on(emulator.endpoint.clone());
        env.append(&mut self.env);
        self.env = env;
        self
    }
}

/// A private moto server (from the project's `.venv`, which `make test`
/// creates) that a test may freeze and thaw, on a free loopback port.
pub struct Emulator {
    child: Child,
    pub endpoint: String,
}

impl Emulator {
    pub async fn start() -> Emulator {
        let python = workspace_root().join(".venv/bin/python");
        assert!(python.exists(), "{} is missing: run `make test` (scripts/venv.sh)", python.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(python)
            .arg(workspace_root().join("scripts/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{endpoint}/moto-api/")).await.is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {endpoint}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Emulator { child, endpoint }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// SIGSTOP: connections are accepted by the kernel but never answered,
    /// like a backend that stopped responding.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Stack {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    options: Options,
    _temp: Option<tempfile::TempDir>,
    client: reqwest::Client,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the error shape every failure has, and returns its code.
    pub fn error_code(&self) -> &str {
        assert!(self.body["message"].is_string(), "error without message: {:?}", self.body);
        self.body["error"].as_str().expect("error code")
    }
}

impl Stack {
    /// A fresh stack on a new temporary data directory.
    pub async fn start() -> Stack {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Stack {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        let mut options = options;
        if aws_backend() {
            // Before the test's own settings, so those win.
            let mut env = aws_env();
            env.append(&mut options.env);
            options.env = env;
        }
        let mut stack = Stack {
            child: None,
            base: String::new(),
            data_dir,
            options,
            _temp: Some(temp),
            client: reqwest::Client::new(),
        };
        stack.launch();
        stack
    }

    fn launch(&mut self) {
        // A restart reuses the port, so clients can carry on.
        let port = self.base.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
        let mut command = Command::new(binary());
        command
            .env("PORT", port.to_string())
            .env("DATA_DIR", &self.data_dir)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SEED_DEMO", self.options.seed_demo.to_string())
            .env("DASHBOARD_DIR", self.data_dir.join("no-dashboard"))
            .env("RUST_LOG", "warn")
            // Tests run many requests quickly; the throttle test sets its own.
            .env("THROTTLE_INGEST_RPS", "100000")
            .env("THROTTLE_INGEST_BURST", "100000")
            .env("THROTTLE_ANALYTICS_RPS", "100000")
            .env("THROTTLE_ANALYTICS_BURST", "100000")
            .env("THROTTLE_EXPERIMENTS_RPS", "100000")
            .env("THROTTLE_EXPERIMENTS_BURST", "100000")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in &self.options.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("campaign-local starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1)
                    && let Some(sender) = found.take()
                {
                    let url = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = sender.send(url);
                }
            }
        });
        self.base =
            address.recv_timeout(Duration::from_secs(60)).expect("campaign-local printed its address");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // It may have died already (e.g. killed through its pid).
            let _ = child.kill();
            child.wait().expect("reaped");
        }
    }

    /// The process id, for killing it from another task.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status =
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
        assert!(status.success());
        child.wait().expect("exits")
    }

    /// Starts again on the same data directory (after kill9 or terminate).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the stack first");
        // Pooled connections went down with the old process.
        self.client = reqwest::Client::new();
        self.launch();
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request sent");
        decode(response).await
    }

    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Reply {
        decode(request.send().await.expect("request sent")).await
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.request(Method::GET, path, Some(key), None).await
    }

    /// A `GET` as the API tells clients to make one: a `503` (a busy store;
    /// moto on a slow host times out now and then) is retried after its
    /// `Retry-After`, for up to a minute. For reads whose answer a test
    /// checks, not for tests of the 503 itself.
    pub async fn read(&self, path: &str, key: &str) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let reply = self.get(path, key).await;
            if reply.status != StatusCode::SERVICE_UNAVAILABLE || Instant::now() >= deadline {
                return reply;
            }
            let wait = reply
                .headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait.clamp(1, 10))).await;
        }
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(key), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, key: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(key), Some(&body)).await
    }

    /// `GET /api/health` as an administrator (with the details).
    pub async fn health(&self) -> Reply {
        self.raw(self.client.get(format!("{}/api/health", self.base)).bearer_auth(ADMIN_TOKEN)).await
    }

    /// Creates a tenant through the admin API and returns (id, key).
    pub async fn tenant(&self, name: &str) -> (String, String) {
        let reply = self
            .raw(
                self.client
                    .post(format!("{}/api/admin/tenants", self.base))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"name": name})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        (reply.body["id"].as_str().unwrap().to_owned(), reply.body["apiKey"].as_str().unwrap().to_owned())
    }

    /// Polls the summary at `path` until `totalEvents` reaches `expected`.
    pub async fn wait_for_events(&self, key: &str, path: &str, expected: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            // A busy store answers 503 with Retry-After; clients are told
            // to wait and retry, and so does this one.
            let reply = self.read(path, key).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            let total = reply.body["totalEvents"].as_u64().unwrap();
            assert!(total <= expected, "counted {total} events, more than the {expected} sent");
            if total == expected {
                return reply.body;
            }
            assert!(Instant::now() < deadline, "only {total} of {expected} events counted in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn decode(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply { status, headers, body }
}

/// A small deterministic generator, so data sets are reproducible.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
