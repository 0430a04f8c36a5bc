//! `make bench`'s HTTP load generator. Starts the release local stack on a
//! free port and measures, as a client sees it:
//!
//! 1. single-event `POST /api/events` at concurrency 32: throughput and
//!    latency percentiles;
//! 2. batch ingest (100 events per request): events/s from the first
//!    request until the summary counts every event;
//! 3. summary and results latency with 1 thousand, 100 thousand and 1
//!    million events stored, and the 1M/1k ratio;
//! 4. the stack's peak resident memory.
//!
//! Prints one table and writes `target/bench/loadgen.json`. Sizes can be
//! scaled down for a quick look: `BENCH_SINGLE_SECS`, `BENCH_BATCH_EVENTS`,
//! `BENCH_READ_LEVELS` (comma-separated event counts).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bench::{ADMIN_TOKEN, Latency, LocalStack, cpu_seconds, latency_histogram, rss_kib, write_report};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Client, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

const SINGLE_CONCURRENCY: usize = 32;
const BATCH_SIZE: usize = 100;
const BATCH_CONCURRENCY: usize = 8;
const READ_SAMPLES: usize = 2_000;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn client() -> Client {
    Client::builder().pool_max_idle_per_host(64).timeout(Duration::from_secs(60)).build().expect("client")
}

/// One keep-alive HTTP/1.1 connection, driven by the task that sends on it.
/// The ingest scenarios send through these rather than `reqwest`: the load
/// generator shares two cores with the stack it measures, and `reqwest`'s
/// pooled client cost about 50 µs of CPU per single-event request here
/// (URL parsing, the pool, a hand-off to a connection task per request and
/// back), a third of what the stack itself spends.
struct Connection {
    host: http::HeaderValue,
    sender: http1::SendRequest<Full<Bytes>>,
    driver: std::pin::Pin<Box<http1::Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>>>,
}

impl Connection {
    async fn open(base: &str) -> Connection {
        let authority = base.strip_prefix("http://").expect("an http:// base URL");
        let stream = tokio::net::TcpStream::connect(authority).await.expect("the stack accepts connections");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (sender, driver) = http1::handshake(TokioIo::new(stream)).await.expect("HTTP/1.1 handshake");
        let host = http::HeaderValue::from_str(authority).expect("host header");
        Connection { host, sender, driver: Box::pin(driver) }
    }

    /// POSTs a JSON body; the answer's status (its body is read and dropped).
    async fn post(&mut self, path: &str, key: &str, body: Bytes) -> StatusCode {
        let request = http::Request::post(path)
            .header(http::header::HOST, self.host.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-api-key", key)
            .body(Full::new(body))
            .expect("request");
        let exchange = async {
            let response = self.sender.send_request(request).await.expect("the stack answers");
            let status = response.status();
            response.into_body().collect().await.expect("the answer's body");
            status
        };
        // The connection makes progress only while polled: poll it beside
        // the exchange, in this task.
        tokio::select! {
            biased;
            status = exchange => status,
            closed = self.driver.as_mut() => panic!("the stack closed the connection: {closed:?}"),
        }
    }
}

async fn create_tenant(client: &Client, base: &str, name: &str) -> String {
    let reply: Value = client
        .post(format!("{base}/api/admin/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("admin API answers")
        .json()
        .await
        .expect("JSON");
    reply["apiKey"].as_str().expect("a new key").to_owned()
}

/// What a load's events share, JSON-escaped once rather than per event.
#[derive(Clone)]
struct EventShape {
    /// Prefix of the event ids.
    tag: String,
    experiment: String,
    /// Distinct users the events cycle through.
    users: u64,
    /// When set, event `n` is stamped with hour `n % len` of these
    /// (RFC 3339, formatted once): data spread over past days.
    hours: Option<Arc<Vec<String>>>,
}

impl EventShape {
    fn new(tag: &str, experiment: &str, users: u64) -> Self {
        Self { tag: escaped(tag), experiment: escaped(experiment), users, hours: None }
    }

    /// Events spread evenly over the hours of the last `days` days.
    fn over_days(mut self, days: i64) -> Self {
        let now = chrono::Utc::now();
        let hours = (0..days * 24)
            .map(|h| (now - chrono::TimeDelta::hours(h)).format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect();
        self.hours = Some(Arc::new(hours));
        self
    }

    /// Appends event `n` as JSON. Written as text, not built as a
    /// `serde_json::Value`: the load generator shares two cores with the
    /// stack, and a `Value` tree per event (a score of allocations) cost it
    /// about a third of a core at batch rates, CPU the stack then lacked.
    fn write(&self, out: &mut String, n: u64) {
        use std::fmt::Write;
        let Self { tag, experiment, users, hours } = self;
        let variant = ["A", "B", "C"][(n % 3) as usize];
        let event_type = if n.is_multiple_of(10) { "CONVERSION" } else { "PAGE_VIEW" };
        write!(
            out,
            r#"{{"eventId":"{tag}-{n}","userId":"user-{user}","eventType":"{event_type}","properties":{{"experimentId":"{experiment}","variant":"{variant}","#,
            user = n % users,
        )
        .expect("writing to a String");
        write_campaign_fields(out, n);
        if let Some(hours) = hours {
            write!(out, r#","timestamp":"{}""#, hours[(n % hours.len() as u64) as usize])
                .expect("writing to a String");
        }
        out.push('}');
    }

    /// A batch request's body: events `from..to`.
    fn batch(&self, from: u64, to: u64) -> Bytes {
        let mut body = String::with_capacity(32 + 320 * (to - from) as usize);
        body.push_str(r#"{"events":["#);
        for n in from..to {
            if n > from {
                body.push(',');
            }
            self.write(&mut body, n);
        }
        body.push_str("]}");
        Bytes::from(body)
    }
}

/// Campaigns the events' landing URLs name: the campaign report's
/// benchmark is over 200.
const CAMPAIGNS: u64 = 200;

/// An event's campaign fields, as a web page sends them: every event has
/// its page `url`; a quarter land from a tagged campaign link (UTM tags in
/// the URL), a quarter from a search engine, a quarter from a social
/// network, the rest move within the site (a referrer of its own host,
/// which is direct). Every event thus makes ingest read a URL, most two.
fn write_campaign_fields(out: &mut String, n: u64) {
    use std::fmt::Write;
    const TAGGED: [(&str, &str); 4] =
        [("google", "cpc"), ("facebook", "paid_social"), ("newsletter", "email"), ("partner", "affiliate")];
    let written = match n % 4 {
        0 => {
            let (source, medium) = TAGGED[((n / 4) % 4) as usize];
            write!(
                out,
                r#""url":"https://shop.example/landing?utm_source={source}&utm_medium={medium}&utm_campaign=campaign-{c}","referrer":"https://{source}.example/""#,
                c = (n / 16) % CAMPAIGNS,
            )
        }
        1 => write!(
            out,
            r#""url":"https://shop.example/p/{p}","referrer":"https://www.google.com/search""#,
            p = n % 97
        ),
        2 => write!(
            out,
            r#""url":"https://shop.example/p/{p}","referrer":"https://news.ycombinator.com/""#,
            p = n % 97
        ),
        _ => write!(
            out,
            r#""url":"https://shop.example/p/{p}","referrer":"https://shop.example/cart""#,
            p = n % 97
        ),
    };
    written.expect("writing to a String");
    out.push('}');
}

/// `text` as it goes between a JSON string's quotes.
fn escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a string encodes");
    quoted[1..quoted.len() - 1].to_owned()
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

#[derive(Serialize)]
struct Single {
    concurrency: usize,
    seconds: f64,
    requests: u64,
    errors: u64,
    requests_per_sec: f64,
    latency: Latency,
    /// Every accepted event, warm-up included.
    accepted: u64,
    /// From the end of the run until the summary counted every accepted event.
    written_after_secs: f64,
}

/// Scenario 1: one event per request from 32 concurrent clients.
async fn single_events(base: &str, key: &str, seconds: u64) -> Single {
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let deadline = start + warmup + Duration::from_secs(seconds);
    let bar = progress(seconds, "single POST /api/events (s)");
    let mut workers = Vec::new();
    for _ in 0..SINGLE_CONCURRENCY {
        let (base, key, counter, errors, accepted) =
            (base.to_owned(), key.to_owned(), counter.clone(), errors.clone(), accepted.clone());
        workers.push(tokio::spawn(async move {
            let mut connection = Connection::open(&base).await;
            let mut histogram = latency_histogram();
            let mut measured = 0u64;
            let events = EventShape::new("single", "bench-exp", 50_000);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let mut body = String::with_capacity(256);
                events.write(&mut body, n);
                let body = Bytes::from(body);
                let sent = Instant::now();
                let ok = connection.post("/api/events", &key, body).await == StatusCode::ACCEPTED;
                if ok {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                if sent.duration_since(start) >= warmup {
                    if ok {
                        histogram.saturating_record(sent.elapsed().as_micros() as u64);
                        measured += 1;
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (histogram, measured)
        }));
    }
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            for _ in 0..seconds {
                tokio::time::sleep(Duration::from_secs(1)).await;
                bar.inc(1);
            }
        })
    };
    let mut histogram = latency_histogram();
    let mut requests = 0;
    for worker in workers {
        let (h, n) = worker.await.expect("worker");
        histogram.add(h).expect("same bounds");
        requests += n;
    }
    let _ = ticker.await;
    bar.finish_and_clear();
    // Let the batch writer catch up before the next scenario, which would
    // otherwise wait behind this one's backlog.
    let accepted = accepted.load(Ordering::Relaxed);
    let finished = Instant::now();
    let bar = progress(accepted, "single events: counted");
    wait_until_counted(base, key, accepted, &bar).await;
    bar.finish_and_clear();
    Single {
        accepted,
        written_after_secs: finished.elapsed().as_secs_f64(),
        concurrency: SINGLE_CONCURRENCY,
        seconds: seconds as f64,
        requests,
        errors: errors.load(Ordering::Relaxed),
        requests_per_sec: requests as f64 / seconds as f64,
        latency: Latency::of(&histogram),
    }
}

/// Who sends what in a batch load.
#[derive(Clone)]
struct Load {
    base: String,
    key: String,
    events: EventShape,
    batch_size: usize,
}

/// Sends `count` events (numbered from `first`) in batches, a few requests
/// in flight; returns when all are acknowledged.
async fn send_batches(load: &Load, first: u64, count: u64, bar: &ProgressBar) {
    let next = Arc::new(AtomicU64::new(0));
    let size = load.batch_size as u64;
    let batches = count.div_ceil(size);
    let mut workers = Vec::new();
    for _ in 0..BATCH_CONCURRENCY {
        let (load, next, bar) = (load.clone(), next.clone(), bar.clone());
        workers.push(tokio::spawn(async move {
            let mut connection = Connection::open(&load.base).await;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= batches {
                    return;
                }
                let from = first + index * size;
                let to = (from + size).min(first + count);
                let body = load.events.batch(from, to);
                loop {
                    match connection.post("/api/events/batch", &load.key, body.clone()).await {
                        StatusCode::ACCEPTED => break,
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                            tokio::time::sleep(Duration::from_millis(20)).await
                        }
                        other => panic!("batch refused: {other}"),
                    }
                }
                bar.inc(to - from);
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
}

async fn total_events(client: &Client, base: &str, key: &str) -> u64 {
    let summary: Value = client
        .get(format!("{base}/api/analytics/summary"))
        .header("x-api-key", key)
        .send()
        .await
        .expect("summary answers")
        .json()
        .await
        .expect("JSON");
    summary["totalEvents"].as_u64().unwrap_or(0)
}

/// Polls the summary until it counts `expected` events.
async fn wait_until_counted(base: &str, key: &str, expected: u64, bar: &ProgressBar) {
    let client = client();
    loop {
        let counted = total_events(&client, base, key).await;
        bar.set_position(counted);
        if counted >= expected {
            assert_eq!(counted, expected, "more events counted than sent");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Serialize)]
struct Batch {
    events: u64,
    batch_size: usize,
    concurrency: usize,
    acknowledged_after_secs: f64,
    counted_after_secs: f64,
    acknowledged_events_per_sec: f64,
    end_to_end_events_per_sec: f64,
}

/// Scenario 2: events/s from the first batch until the summary counts them all.
async fn batch_ingest(base: &str, key: &str, events: u64) -> Batch {
    let start = Instant::now();
    let bar = progress(events, "batch ingest: acknowledged");
    let load = Load {
        base: base.to_owned(),
        key: key.to_owned(),
        events: EventShape::new("batch", "bench-exp", 20_000),
        batch_size: BATCH_SIZE,
    };
    send_batches(&load, 0, events, &bar).await;
    let acknowledged = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let bar = progress(events, "batch ingest: counted");
    wait_until_counted(base, key, events, &bar).await;
    let counted = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Batch {
        events,
        batch_size: BATCH_SIZE,
        concurrency: BATCH_CONCURRENCY,
        acknowledged_after_secs: acknowledged,
        counted_after_secs: counted,
        acknowledged_events_per_sec: events as f64 / acknowledged,
        end_to_end_events_per_sec: events as f64 / counted,
    }
}

/// The latency of `url` over [`READ_SAMPLES`] requests after 100 to warm
/// up, and of the very first request (before any cache held its answer).
async fn read_latency(client: &Client, url: &str, key: &str) -> (Latency, f64) {
    let mut histogram: Histogram<u64> = latency_histogram();
    let mut first_ms = 0.0;
    for i in 0..READ_SAMPLES + 100 {
        let sent = Instant::now();
        let response = client.get(url).header("x-api-key", key).send().await.expect("read answers");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let _ = response.bytes().await;
        let took = sent.elapsed();
        if i == 0 {
            first_ms = took.as_secs_f64() * 1000.0;
        }
        if i >= 100 {
            histogram.saturating_record(took.as_micros() as u64);
        }
    }
    (Latency::of(&histogram), first_ms)
}

#[derive(Serialize)]
struct ReadLevel {
    events_stored: u64,
    summary: Latency,
    results: Latency,
    /// The summary of the last 30 days (the dashboard's Overview).
    range_summary: Latency,
    /// The first 30-day summary after the data was stored: past days'
    /// unions are not remembered yet.
    range_summary_first_ms: f64,
    /// The campaign report of the last 30 days, by campaign (200 of them).
    campaigns: Latency,
    /// The same with the experiment's campaign × variant cross-tab.
    campaigns_by_variant: Latency,
    rss_mb: f64,
}

#[derive(Serialize)]
struct Reads {
    levels: Vec<ReadLevel>,
    summary_p95_ratio_last_to_first: f64,
    results_p95_ratio_last_to_first: f64,
    range_summary_p95_ratio_last_to_first: f64,
}

/// Scenario 3: read latency as the stored volume grows by 1,000×.
async fn reads(stack: &LocalStack, levels: &[u64]) -> Reads {
    let base = &stack.base;
    let client = client();
    let key = create_tenant(&client, base, "bench-reads").await;
    let experiment: Value = client
        .post(format!("{base}/api/experiments"))
        .header("x-api-key", &key)
        .json(&json!({"name": "bench", "variants": ["A", "B", "C"], "status": "ACTIVE"}))
        .send()
        .await
        .expect("experiment created")
        .json()
        .await
        .expect("JSON");
    let id = experiment["id"].as_str().expect("experiment id").to_owned();
    let mut stored = 0;
    let mut out = Vec::new();
    for &level in levels {
        let bar = progress(level, &format!("reads: storing {level}"));
        bar.set_position(stored);
        // The experiment's events, under its real id, in the largest
        // batches the API takes, spread over the last 30 days; a fifth of
        // them are distinct users.
        let load = Load {
            base: base.clone(),
            key: key.clone(),
            events: EventShape::new(&format!("reads-{level}"), &id, (level / 5).max(1)).over_days(30),
            batch_size: 1_000,
        };
        send_batches(&load, stored, level - stored, &bar).await;
        wait_until_counted(base, &key, level, &bar).await;
        bar.finish_and_clear();
        stored = level;
        let summary =
            read_latency(&client, &format!("{base}/api/analytics/summary?experimentId={id}"), &key).await.0;
        let results = read_latency(&client, &format!("{base}/api/experiments/{id}/results"), &key).await.0;
        // The dashboard's default view: the last 30 days, as dates.
        let today = chrono::Utc::now().date_naive();
        let month = format!("startDate={}&endDate={today}", today - chrono::TimeDelta::days(29));
        let (range_summary, range_summary_first_ms) =
            read_latency(&client, &format!("{base}/api/analytics/summary?experimentId={id}&{month}"), &key)
                .await;
        let campaigns =
            read_latency(&client, &format!("{base}/api/analytics/campaigns?groupBy=campaign&{month}"), &key)
                .await
                .0;
        let campaigns_by_variant = read_latency(
            &client,
            &format!("{base}/api/analytics/campaigns?groupBy=campaign&experimentId={id}&{month}"),
            &key,
        )
        .await
        .0;
        let rss_mb = rss_kib(stack.pid()).map_or(0.0, |(now, _)| now as f64 / 1024.0);
        out.push(ReadLevel {
            events_stored: level,
            summary,
            results,
            range_summary,
            range_summary_first_ms,
            campaigns,
            campaigns_by_variant,
            rss_mb,
        });
    }
    let ratio = |pick: fn(&ReadLevel) -> f64| pick(out.last().unwrap()) / pick(out.first().unwrap());
    Reads {
        summary_p95_ratio_last_to_first: ratio(|l| l.summary.p95_ms),
        results_p95_ratio_last_to_first: ratio(|l| l.results.p95_ms),
        range_summary_p95_ratio_last_to_first: ratio(|l| l.range_summary.p95_ms),
        levels: out,
    }
}

/// The stack's CPU time per event, a figure that drifts far less with the
/// host's load than throughput does: compare builds by it.
#[derive(Serialize)]
struct StackCpu {
    single_event_us: f64,
    batched_event_us: f64,
}

#[derive(Serialize)]
struct Report {
    machine: String,
    single: Single,
    batch: Batch,
    stack_cpu_per_event: StackCpu,
    reads: Reads,
    peak_rss_mb: f64,
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!("{cpus} CPUs {model}")
}

#[tokio::main]
async fn main() {
    let single_secs: u64 = setting("BENCH_SINGLE_SECS", 10);
    let batch_events: u64 = setting("BENCH_BATCH_EVENTS", 300_000);
    let levels: Vec<u64> = std::env::var("BENCH_READ_LEVELS")
        .unwrap_or_else(|_| "1000,100000,1000000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();

    let extra: Vec<(String, String)> = std::env::var("BENCH_STACK_ENV")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pair| pair.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let stack = LocalStack::start(&extra);
    let client = client();
    println!("local stack at {} (pid {}); {}", stack.base, stack.pid(), machine());

    let stack_cpu = || cpu_seconds(stack.pid()).unwrap_or(f64::NAN);
    let key = create_tenant(&client, &stack.base, "bench-single").await;
    let before = stack_cpu();
    let single = single_events(&stack.base, &key, single_secs).await;
    let single_cpu = stack_cpu() - before;
    let key = create_tenant(&client, &stack.base, "bench-batch").await;
    let before = stack_cpu();
    let batch = batch_ingest(&stack.base, &key, batch_events).await;
    let batch_cpu = stack_cpu() - before;
    // Each phase ends when the summary counts its last event, so these
    // cover ingesting, queueing and storing every event of the phase.
    let stack_cpu_per_event = StackCpu {
        single_event_us: single_cpu * 1e6 / single.accepted as f64,
        batched_event_us: batch_cpu * 1e6 / batch.events as f64,
    };
    let reads = reads(&stack, &levels).await;
    let peak_rss_mb = rss_kib(stack.pid()).map_or(0.0, |(_, peak)| peak as f64 / 1024.0);

    let report = Report { machine: machine(), single, batch, stack_cpu_per_event, reads, peak_rss_mb };
    print_table(&report);
    let path = write_report("loadgen", &report);
    println!("\nwritten to {}", path.display());
}

fn print_table(r: &Report) {
    println!("\n| figure | measured | target |");
    println!("|---|---|---|");
    println!(
        "| single-event POST, concurrency {} | {:.0} req/s; p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms ({} errors) | ≥ 15,000 req/s, p99 ≤ 10 ms |",
        r.single.concurrency,
        r.single.requests_per_sec,
        r.single.latency.p50_ms,
        r.single.latency.p95_ms,
        r.single.latency.p99_ms,
        r.single.errors
    );
    println!(
        "| batch ingest ({} events × {}), end to end | {:.0} events/s (acknowledged at {:.0}/s) | ≥ 50,000 events/s |",
        r.batch.batch_size,
        r.batch.events / r.batch.batch_size as u64,
        r.batch.end_to_end_events_per_sec,
        r.batch.acknowledged_events_per_sec
    );
    for level in &r.reads.levels {
        println!(
            "| summary / results at {} events | p50 {:.2} / {:.2} ms, p95 {:.2} / {:.2} ms | p95 ≤ 5 ms at 1M |",
            level.events_stored,
            level.summary.p50_ms,
            level.results.p50_ms,
            level.summary.p95_ms,
            level.results.p95_ms
        );
    }
    for level in &r.reads.levels {
        println!(
            "| 30-day range summary at {} events over 30 days | p50 {:.2} ms, p95 {:.2} ms (first {:.1} ms) | p95 ≤ 20 ms at 1M |",
            level.events_stored,
            level.range_summary.p50_ms,
            level.range_summary.p95_ms,
            level.range_summary_first_ms
        );
    }
    for level in &r.reads.levels {
        println!(
            "| campaign report, 30 days by campaign, at {} events | p50 {:.2} ms, p95 {:.2} ms | p95 ≤ 30 ms at 1M |",
            level.events_stored, level.campaigns.p50_ms, level.campaigns.p95_ms
        );
    }
    for level in &r.reads.levels {
        println!(
            "| campaign × variant report, 30 days by campaign, at {} events | p50 {:.2} ms, p95 {:.2} ms | — |",
            level.events_stored, level.campaigns_by_variant.p50_ms, level.campaigns_by_variant.p95_ms
        );
    }
    println!(
        "| p95 ratio, largest/smallest volume | summary {:.2}, results {:.2}, 30-day summary {:.2} | ≤ 1.5 |",
        r.reads.summary_p95_ratio_last_to_first,
        r.reads.results_p95_ratio_last_to_first,
        r.reads.range_summary_p95_ratio_last_to_first
    );
    println!(
        "| stack CPU per event, ingest to counted (all threads) | single {:.0} µs, batched {:.0} µs | — |",
        r.stack_cpu_per_event.single_event_us, r.stack_cpu_per_event.batched_event_us
    );
    println!("| local stack peak RSS | {:.0} MB | ≤ 150 MB |", r.peak_rss_mb);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_bodies_are_json_events_with_campaign_fields() {
        let shape = EventShape::new("t\"ag", "exp", 7).over_days(2);
        let body: Value = serde_json::from_slice(&shape.batch(0, 40)).expect("a JSON body");
        let events = body["events"].as_array().unwrap();
        assert_eq!(events.len(), 40);
        for (n, event) in events.iter().enumerate() {
            assert_eq!(event["eventId"], format!("t\"ag-{n}"));
            assert!(event["properties"]["url"].as_str().unwrap().starts_with("https://shop.example/"));
            assert!(event["properties"]["referrer"].is_string());
            assert!(event["timestamp"].is_string());
        }
        assert!(events[0]["properties"]["url"].as_str().unwrap().contains("utm_campaign=campaign-0"));
    }
}
