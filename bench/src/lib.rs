//! What `make bench`'s programs share: starting the release local stack as a
//! user would, reading a process's memory high-water mark, latency
//! summaries from HDR histograms, and writing results under `target/bench/`.

pub mod economy;
pub mod scale;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The workspace's `target/` (or `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ sits in the workspace").join("target")
    })
}

/// A binary built next to the running one (`target/release/<name>`).
pub fn sibling_binary(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.parent().expect("in a directory").join(name)
}

/// Writes `value` as pretty JSON to `target/bench/<name>.json`; returns the path.
pub fn write_report<T: Serialize>(name: &str, value: &T) -> PathBuf {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).expect("target/bench is writable");
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("serializable")).expect("report written");
    path
}

/// The local stack (release build), on a free port and a temporary data
/// directory, with throttles raised through its configuration.
pub struct LocalStack {
    child: Child,
    pub base: String,
    _data: tempfile::TempDir,
}

pub const ADMIN_TOKEN: &str = "bench-admin-token";

impl LocalStack {
    pub fn start(extra_env: &[(&str, &str)]) -> LocalStack {
        let binary = std::env::var_os("CAMPAIGN_LOCAL_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| sibling_binary("campaign-local"));
        let data = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(&binary);
        command
            .env("PORT", "0")
            .env("DATA_DIR", data.path())
            .env("SEED_DEMO", "false")
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("DASHBOARD_DIR", data.path().join("no-dashboard"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // The benchmark tenant may go as fast as the machine allows.
        for group in ["INGEST", "ANALYTICS", "EXPERIMENTS"] {
            command.env(format!("THROTTLE_{group}_RPS"), "10000000");
            command.env(format!("THROTTLE_{group}_BURST"), "10000000");
        }
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("stdout piped");
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1)
                    && let Some(sender) = found.take()
                {
                    let _ = sender.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let base =
            address.recv_timeout(Duration::from_secs(60)).expect("the local stack printed its address");
        LocalStack { child, base, _data: data }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process in KiB: `(current, peak)` from
/// `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time a process has used so far, all its threads, user and system:
/// `utime + stime` from `/proc/<pid>/stat`, in seconds (clock-tick
/// resolution, 10 ms here). What a workload costs in CPU drifts far less
/// with the load on a shared host than how fast it runs.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count fields after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 of the line are the 12th and 13th after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

/// A latency histogram in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p95_ms: ms(histogram.value_at_quantile(0.95)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// Median of a few measurements.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
