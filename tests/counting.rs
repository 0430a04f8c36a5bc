//! Summary numbers against a brute-force recount of a generated data set.

use std::collections::{BTreeMap, HashSet};

use blackbox::{Lcg, Stack};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Generated {
    id: String,
    user: String,
    kind: &'static str,
    experiment: Option<String>,
    variant: Option<String>,
    /// Seconds since 2026-11-01T00:00:00Z.
    at: i64,
}

const DAY: i64 = 86_400;

fn timestamp(at: i64) -> String {
    let days = at.div_euclid(DAY);
    let secs = at.rem_euclid(DAY);
    // 2026-11-01 plus `days`, within November and December 2026.
    let (month, day) = if days < 30 { (11, days + 1) } else { (12, days - 29) };
    format!("2026-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, (secs / 60) % 60, secs % 60)
}

fn generate(count: usize) -> Vec<Generated> {
    let mut rng = Lcg::new(7);
    let experiments =
        [("exp-a", &["A", "B"][..]), ("exp-b", &["A", "B", "C"][..]), ("exp#c", &["x", "A"][..])];
    (0..count)
        .map(|i| {
            let user = format!("user-{}", rng.below(400));
            let kind = match rng.below(10) {
                0 | 1 => "CONVERSION",
                2..=4 => "CLICK",
                _ => "PAGE_VIEW",
            };
            let (experiment, variant) = match rng.below(10) {
                0 => (None, None),
                1 => (None, Some("A".to_owned())),
                2 => (Some("exp-a".to_owned()), None),
                _ => {
                    let (name, variants) = experiments[rng.below(3) as usize];
                    let variant = variants[rng.below(variants.len() as u64) as usize];
                    (Some(name.to_owned()), Some(variant.to_owned()))
                }
            };
            Generated {
                id: format!("gen-{i}"),
                user,
                kind,
                experiment,
                variant,
                at: rng.below(12 * DAY as u64) as i64,
            }
        })
        .collect()
}

/// The summary computed the slow, obvious way.
fn recount(events: &[Generated], experiment: Option<&str>, from: i64, to: i64) -> Value {
    let chosen: Vec<&Generated> = events
        .iter()
        .filter(|e| e.at >= from && e.at <= to)
        .filter(|e| experiment.is_none() || e.experiment.as_deref() == experiment)
        .collect();
    let users: HashSet<&str> = chosen.iter().map(|e| e.user.as_str()).collect();
    let mut variants = BTreeMap::new();
    let names: HashSet<&str> =
        chosen.iter().filter(|e| e.experiment.is_some()).filter_map(|e| e.variant.as_deref()).collect();
    for name in names {
        let of: Vec<&&Generated> =
            chosen.iter().filter(|e| e.experiment.is_some() && e.variant.as_deref() == Some(name)).collect();
        let users: HashSet<&str> = of.iter().map(|e| e.user.as_str()).collect();
        let converted: HashSet<&str> =
            of.iter().filter(|e| e.kind == "CONVERSION").map(|e| e.user.as_str()).collect();
        let rate = if users.is_empty() { 0.0 } else { converted.len() as f64 / users.len() as f64 };
        variants.insert(
            name.to_owned(),
            json!({
                "events": of.len(),
                "users": users.len(),
                "conversions": of.iter().filter(|e| e.kind == "CONVERSION").count(),
                "convertedUsers": converted.len(),
                "conversionRate": rate,
            }),
        );
    }
    json!({"totalEvents": chosen.len(), "uniqueUsers": users.len(), "variants": variants})
}

fn body(event: &Generated) -> Value {
    let mut properties = serde_json::Map::new();
    if let Some(experiment) = &event.experiment {
        properties.insert("experimentId".into(), json!(experiment));
    }
    if let Some(variant) = &event.variant {
        properties.insert("variant".into(), json!(variant));
    }
    json!({"eventId": event.id, "userId": event.user, "eventType": event.kind,
           "properties": properties, "timestamp": timestamp(event.at)})
}

fn encode(value: &str) -> String {
    value.replace('#', "%23").replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn summaries_match_a_brute_force_recount() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    // moto's transactions are slow (see scripts/moto_server.py): a smaller
    // data set there checks the same arithmetic.
    let events = generate(if blackbox::aws_backend() { 1200 } else { 6000 });
    for chunk in events.chunks(500) {
        let batch: Vec<Value> = chunk.iter().map(body).collect();
        let reply = stack.post("/api/events/batch", &key, json!({"events": batch})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    stack.wait_for_events(&key, "/api/analytics/summary", events.len() as u64).await;
    // Late arrivals, once the rest is counted: for every fifth user, an
    // event hours before their first one (a credit to move), and a
    // redelivered batch (nothing to count twice).
    let mut events = events;
    let late = late_earlier_events(&events);
    assert!(late.len() > 20, "{}", late.len());
    let redelivered: Vec<Value> = events[..500].iter().map(body).collect();
    for batch in [late.iter().map(body).collect(), redelivered] {
        let reply = stack.post("/api/events/batch", &key, json!({"events": batch})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    events.extend(late);
    stack.wait_for_events(&key, "/api/analytics/summary", events.len() as u64).await;
    // Let any redelivered event still queued reach the writer, which must drop it.
    stack.wait_for_events(&key, "/api/analytics/summary", events.len() as u64).await;

    // Each day of the data alone.
    for day in 1..=12 {
        let date = format!("2026-11-{day:02}");
        let reply =
            stack.read(&format!("/api/analytics/summary?startDate={date}&endDate={date}"), &key).await;
        assert_eq!(reply.status, StatusCode::OK, "{date}: {:?}", reply.body);
        let expected = recount(&events, None, (day - 1) * DAY, day * DAY - 1);
        assert_matches_recount(&reply.body, &expected, true, &date);
    }
    let everything = (i64::MIN / 2, i64::MAX / 2);
    /// (experiment filter, startDate, endDate, the seconds range they mean)
    type Case<'a> = (Option<&'a str>, Option<String>, Option<String>, (i64, i64));
    let mut cases: Vec<Case> = vec![
        (None, None, None, everything),
        (Some("exp-a"), None, None, everything),
        (Some("exp-b"), None, None, everything),
        (Some("exp#c"), None, None, everything),
        (Some("no-such-experiment"), None, None, everything),
        // Whole days: an end date covers its whole day.
        (None, Some("2026-11-03".into()), Some("2026-11-05".into()), (2 * DAY, 5 * DAY - 1)),
        (Some("exp-b"), Some("2026-11-03".into()), Some("2026-11-03".into()), (2 * DAY, 3 * DAY - 1)),
        // Open ends.
        (None, Some("2026-11-10".into()), None, (9 * DAY, i64::MAX / 2)),
        (Some("exp-a"), None, Some("2026-11-02".into()), (i64::MIN / 2, 2 * DAY - 1)),
        // Exact instants, inclusive at both ends.
        (
            None,
            Some(timestamp(events[0].at)),
            Some(timestamp(events[0].at + 7 * 3600)),
            (events[0].at, events[0].at + 7 * 3600),
        ),
        (
            Some("exp#c"),
            Some("2026-11-04T12:30:00Z".into()),
            Some("2026-11-06T00:00:00+00:00".into()),
            (3 * DAY + 45_000, 5 * DAY),
        ),
        // A range with no events at all.
        (None, Some("2027-01-01".into()), Some("2027-01-31".into()), (i64::MAX / 2, i64::MAX / 2)),
    ];
    cases.push((None, Some("2026-10-01".into()), Some("2026-12-31".into()), everything));
    for (experiment, start, end, (from, to)) in cases {
        let mut query = Vec::new();
        if let Some(experiment) = experiment {
            query.push(format!("experimentId={}", encode(experiment)));
        }
        if let Some(start) = &start {
            query.push(format!("startDate={}", encode(start)));
        }
        if let Some(end) = &end {
            query.push(format!("endDate={}", encode(end)));
        }
        let reply = stack.read(&format!("/api/analytics/summary?{}", query.join("&")), &key).await;
        assert_eq!(reply.status, StatusCode::OK, "{query:?}: {:?}", reply.body);
        let ranged = start.is_some() || end.is_some();
        let expected = recount(&events, experiment, from, to);
        assert_eq!(reply.body["usersApproximate"], ranged, "{query:?}");
        assert_matches_recount(&reply.body, &expected, ranged, &format!("{query:?}"));
    }

    // Days of a time zone: New York is UTC−5 in November (whole hours,
    // read from rollups); India UTC+5:30 (the half hours at either end are
    // read from those hours' events).
    let tz_cases = [
        (None, "2026-11-03", "2026-11-05", "America/New_York", (2 * DAY + 5 * 3600, 5 * DAY + 5 * 3600 - 1)),
        (Some("exp-b"), "2026-11-03", "2026-11-04", "Asia/Kolkata", (2 * DAY - 19_800, 4 * DAY - 19_801)),
    ];
    for (experiment, start, end, tz, (from, to)) in tz_cases {
        let filter = experiment.map(|e| format!("&experimentId={}", encode(e))).unwrap_or_default();
        let tz_query =
            format!("startDate={start}&endDate={end}&tz={}{filter}", encode(tz).replace('/', "%2F"));
        let reply = stack.read(&format!("/api/analytics/summary?{tz_query}"), &key).await;
        assert_eq!(reply.status, StatusCode::OK, "{tz_query}: {:?}", reply.body);
        assert_matches_recount(&reply.body, &recount(&events, experiment, from, to), true, &tz_query);
        // The daily series of the same days adds up to the same events.
        let series = stack.read(&format!("/api/analytics/timeseries?interval=day&{tz_query}"), &key).await;
        assert_eq!(series.status, StatusCode::OK, "{tz_query}: {:?}", series.body);
        assert_eq!(series.body["tz"], tz);
        assert_eq!(series.body["dayEdgesApproximate"], tz == "Asia/Kolkata");
        let buckets = series.body["buckets"].as_array().unwrap();
        let days = [start, end].map(|d| d[8..].parse::<usize>().unwrap());
        assert_eq!(buckets.len(), days[1] - days[0] + 1, "{tz_query}");
        if tz == "America/New_York" {
            let summed: u64 = buckets.iter().map(|b| b["events"].as_u64().unwrap()).sum();
            assert_eq!(json!(summed), reply.body["totalEvents"], "{tz_query}");
            assert_eq!(buckets[0]["start"], "2026-11-03T05:00:00Z");
        }
    }
    // New users by the hour of their earliest event, whatever the order
    // events arrived in: tenant-wide, and per variant of an experiment
    // (converted users by their earliest conversion).
    let hours = 12 * 24;
    let series = stack
        .read("/api/analytics/timeseries?interval=hour&startDate=2026-11-01&endDate=2026-11-12", &key)
        .await;
    assert_eq!(series.status, StatusCode::OK, "{:?}", series.body);
    let buckets = series.body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), hours);
    let tenant_new = first_hours(events.iter(), hours);
    let got: Vec<u64> = buckets.iter().map(|b| b["newUsers"].as_u64().unwrap()).collect();
    assert_eq!(got, tenant_new, "tenant-wide newUsers by hour");
    let series = stack
        .read("/api/analytics/timeseries?interval=hour&startDate=2026-11-01&endDate=2026-11-12&experimentId=exp-b", &key)
        .await;
    assert_eq!(series.status, StatusCode::OK, "{:?}", series.body);
    let buckets = series.body["buckets"].as_array().unwrap();
    for variant in ["A", "B", "C"] {
        let of = || {
            events
                .iter()
                .filter(|e| e.experiment.as_deref() == Some("exp-b") && e.variant.as_deref() == Some(variant))
        };
        let new = first_hours(of(), hours);
        let converted = first_hours(of().filter(|e| e.kind == "CONVERSION"), hours);
        let got = |count: &str| -> Vec<u64> {
            buckets.iter().map(|b| b["variants"][variant][count].as_u64().unwrap()).collect()
        };
        assert_eq!(got("newUsers"), new, "exp-b {variant} newUsers by hour");
        assert_eq!(got("newConvertedUsers"), converted, "exp-b {variant} newConvertedUsers by hour");
    }

    let unknown = stack.read("/api/analytics/summary?startDate=2026-11-03&tz=Mars%2FOlympus", &key).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body["details"][0]["field"], "tz", "{:?}", unknown.body);
}

/// For every fifth user whose first event is at least three hours into the
/// data, one more event two hours before it, in the same experiment.
fn late_earlier_events(events: &[Generated]) -> Vec<Generated> {
    let mut first: BTreeMap<&str, &Generated> = BTreeMap::new();
    for event in events {
        let entry = first.entry(&event.user).or_insert(event);
        if event.at < entry.at {
            *entry = event;
        }
    }
    first
        .values()
        .step_by(5)
        .filter(|e| e.at >= 3 * 3600)
        .enumerate()
        .map(|(i, e)| Generated {
            id: format!("late-{i}"),
            user: e.user.clone(),
            kind: if i % 2 == 0 { "CONVERSION" } else { "PAGE_VIEW" },
            experiment: e.experiment.clone(),
            variant: e.variant.clone(),
            at: e.at - 2 * 3600,
        })
        .collect()
}

/// How many users' earliest event of `events` falls in each of the first
/// `hours` hours of the data.
fn first_hours<'a>(events: impl Iterator<Item = &'a Generated>, hours: usize) -> Vec<u64> {
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    for event in events {
        let at = first.entry(&event.user).or_insert(event.at);
        *at = (*at).min(event.at);
    }
    let mut counts = vec![0; hours];
    for at in first.values() {
        counts[(at / 3600) as usize] += 1;
    }
    counts
}

/// Events and conversions exactly; users too when counted exactly (all
/// time), else within 2 % (a range's users come from sketches).
fn assert_matches_recount(got: &Value, expected: &Value, approximate: bool, case: &str) {
    let users_close = |got: &Value, want: &Value, what: &str| {
        let (got, want) = (got.as_u64().unwrap_or(u64::MAX), want.as_u64().unwrap());
        if approximate {
            let error = got.abs_diff(want) as f64 / want.max(1) as f64;
            assert!(error <= 0.02, "{case}: {what} {got}, recount {want}");
        } else {
            assert_eq!(got, want, "{case}: {what}");
        }
    };
    assert_eq!(got["totalEvents"], expected["totalEvents"], "{case}");
    users_close(&got["uniqueUsers"], &expected["uniqueUsers"], "uniqueUsers");
    let (got_variants, want_variants) =
        (got["variants"].as_object().unwrap(), expected["variants"].as_object().unwrap());
    assert_eq!(got_variants.keys().collect::<Vec<_>>(), want_variants.keys().collect::<Vec<_>>(), "{case}");
    for (name, want) in want_variants {
        let got = &got_variants[name];
        for exact in ["events", "conversions"] {
            assert_eq!(got[exact], want[exact], "{case}: {name}.{exact}");
        }
        for estimated in ["users", "convertedUsers"] {
            users_close(&got[estimated], &want[estimated], &format!("{name}.{estimated}"));
        }
        let rate = got["conversionRate"].as_f64().unwrap();
        let want_rate = want["conversionRate"].as_f64().unwrap();
        assert!((rate - want_rate).abs() <= if approximate { 0.02 } else { 1e-12 }, "{case}: {name} rate");
    }
}
