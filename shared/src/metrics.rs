//! CloudWatch Embedded Metric Format: one JSON line on stdout per data
//! point set, which CloudWatch Logs turns into metrics without any API
//! call. Emitted inside Lambda (or with `METRICS=emf`); silent elsewhere.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "CampaignAnalytics";

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| crate::config::in_lambda() || std::env::var("METRICS").is_ok_and(|m| m == "emf"))
}

/// The EMF document for counts under one `Function` dimension.
pub fn document(function: &str, counts: &[(&str, u64)], timestamp_ms: i64) -> Value {
    let definitions: Vec<Value> =
        counts.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": definitions,
            }],
        }),
    );
    root.insert("Function".into(), json!(function));
    for (name, value) in counts {
        root.insert((*name).to_owned(), json!(value));
    }
    Value::Object(root)
}

/// Events from known crawlers dropped by this process since it started
/// (`GET /api/health` shows it to an administrator; on Lambda each
/// instance counts its own, and the `BotEventsDropped` metric sums them).
static BOT_EVENTS_DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts events dropped as a known crawler's.
pub fn drop_bot_events(events: u64) {
    BOT_EVENTS_DROPPED.fetch_add(events, std::sync::atomic::Ordering::Relaxed);
    count("ingest", &[("BotEventsDropped", events)]);
}

/// See [`drop_bot_events`].
pub fn bot_events_dropped() -> u64 {
    BOT_EVENTS_DROPPED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Emits counts (zero counts too: a flat line is information).
pub fn count(function: &str, counts: &[(&str, u64)]) {
    if enabled() {
        println!("{}", document(function, counts, chrono::Utc::now().timestamp_millis()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let doc =
            document("batch-writer", &[("EventsWritten", 7), ("DuplicatesDropped", 1)], 1_700_000_000_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(directive["Metrics"][0], json!({"Name": "EventsWritten", "Unit": "Count"}));
        assert_eq!(doc["EventsWritten"], 7);
        assert_eq!(doc["Function"], "batch-writer");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }
}
