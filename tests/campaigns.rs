//! The campaign report against a brute-force recount of a generated data
//! set: UTM properties, tagged landing URLs, ad click ids, referrers
//! (search, social, other sites, the site's own pages), direct visits,
//! users who come direct first and tagged later, late earlier touches that
//! move a user's first touch, revenue, and a redelivered batch; the
//! campaign × variant cross-tab of an experiment whose events some users
//! have in both variants; and a custom dimension (`device`) whose values
//! some users have several of.

use std::collections::{BTreeMap, BTreeSet};

use blackbox::{Lcg, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400;

/// How a generated event came, and the row the generator means it to count
/// in: (channel, source, medium, campaign).
#[derive(Clone)]
struct Touch {
    properties: Value,
    row: Option<[&'static str; 4]>,
}

fn touch(rng: &mut Lcg) -> Touch {
    let (properties, row) = match rng.below(10) {
        0 => (
            json!({"utm_source": " Newsletter", "utm_medium": "EMAIL", "utm_campaign": "Spring Sale"}),
            Some(["Email", "newsletter", "email", "spring sale"]),
        ),
        1 => (
            json!({"url": "https://shop.example/l?utm_source=google&utm_medium=cpc&utm_campaign=brand"}),
            Some(["Paid Search", "google", "cpc", "brand"]),
        ),
        2 => (
            json!({"url": "https://shop.example/l?utm_source=google&utm_medium=cpc&utm_campaign=generic"}),
            Some(["Paid Search", "google", "cpc", "generic"]),
        ),
        3 => (
            json!({"url": "https://shop.example/p?gclid=Cj0KCQ"}),
            Some(["Paid Search", "google", "cpc", "(not set)"]),
        ),
        4 => (
            json!({"url": "https://shop.example/p", "referrer": "https://www.google.co.uk/search?q=shoes"}),
            Some(["Organic Search", "google", "organic", "(not set)"]),
        ),
        5 => (
            json!({"url": "https://shop.example/p", "referrer": "https://m.facebook.com/"}),
            Some(["Organic Social", "facebook", "social", "(not set)"]),
        ),
        6 => (
            json!({"url": "https://shop.example/p", "referrer": "https://blog.example.org/post"}),
            Some(["Referral", "blog.example.org", "referral", "(not set)"]),
        ),
        // Moving within the site, or typing the address: direct.
        7 => (json!({"url": "https://shop.example/cart", "referrer": "https://shop.example/p"}), None),
        _ => (json!({"url": "https://shop.example/"}), None),
    };
    Touch { properties, row }
}

#[derive(Clone)]
struct Generated {
    id: String,
    user: String,
    conversion: bool,
    /// Revenue in cents the conversion's `value` carries (0: none, or not a number).
    cents: i64,
    /// Seconds since 2026-11-01T00:00:00Z.
    at: i64,
    touch: Touch,
    /// The variant of the experiment the event is tagged with, if any.
    variant: Option<&'static str>,
    /// The `device` property as sent, if any.
    device: Option<&'static str>,
}

/// The `device` values generated events carry, as sent (case and spaces
/// vary; the report shows them trimmed and lowercased).
const DEVICES: [Option<&str>; 5] = [Some("Mobile"), Some("mobile "), Some("desktop"), Some(" TABLET"), None];

/// A device's row in the report.
fn device_key(device: Option<&str>) -> String {
    device.map_or("(not set)".to_owned(), |d| d.trim().to_lowercase())
}

fn timestamp(at: i64) -> String {
    let (days, secs) = (at.div_euclid(DAY), at.rem_euclid(DAY));
    // Kolkata's copy of the data starts on the evening of October 31.
    let date =
        if days < 0 { format!("2026-10-{:02}", 32 + days) } else { format!("2026-11-{:02}", days + 1) };
    format!("{date}T{:02}:{:02}:{:02}Z", secs / 3600, (secs / 60) % 60, secs % 60)
}

fn generate(count: usize, users: u64) -> Vec<Generated> {
    let mut rng = Lcg::new(11);
    let mut taken: BTreeSet<(String, i64)> = BTreeSet::new();
    (0..count)
        .map(|i| {
            let user = format!("user-{}", rng.below(users));
            // Users whose number ends in 0, 3, 6 or 9 come direct for their first week.
            let mut at = rng.below(14 * DAY as u64) as i64;
            while !taken.insert((user.clone(), at)) {
                at += 1;
            }
            let mut touch = touch(&mut rng);
            if user.ends_with(['0', '3', '6', '9']) && at < 7 * DAY {
                touch = Touch { properties: json!({}), row: None };
            }
            let conversion = rng.below(6) == 0;
            let cents = if conversion { [0, 1050, 299, 10_000][rng.below(4) as usize] } else { 0 };
            // A user's variant by their number; a quarter of events
            // untagged, and one in ten tagged with the other variant.
            let even = user.ends_with(['0', '2', '4', '6', '8']);
            let variant = match rng.below(20) {
                0..5 => None,
                5..7 => Some(if even { "treatment" } else { "control" }),
                _ => Some(if even { "control" } else { "treatment" }),
            };
            // Mostly one device per user, now and then another.
            let number: usize = user["user-".len()..].parse().unwrap_or_default();
            let device = DEVICES[if i % 9 == 0 { (number + i) % 5 } else { number % 5 }];
            Generated {
                id: format!("c-{i}"),
                user,
                conversion,
                cents,
                at: at + 3 * 3600,
                touch,
                variant,
                device,
            }
        })
        .collect()
}

/// For every fourth user, a tagged page view three hours before their
/// first event, arriving after everything else: their first touch moves.
fn late_touches(events: &[Generated]) -> Vec<Generated> {
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    for event in events {
        let at = first.entry(&event.user).or_insert(event.at);
        *at = (*at).min(event.at);
    }
    first
        .iter()
        .step_by(4)
        .enumerate()
        .map(|(i, (user, at))| Generated {
            id: format!("late-{i}"),
            user: (*user).to_owned(),
            conversion: false,
            cents: 0,
            at: at - 3 * 3600,
            touch: Touch {
                properties: json!({"utm_source": "partner", "utm_medium": "affiliate", "utm_campaign": "late"}),
                row: Some(["Affiliates", "partner", "affiliate", "late"]),
            },
            variant: None,
            device: None,
        })
        .collect()
}

/// The experiment generated events are tagged with.
const EXPERIMENT: &str = "exp-landing";

fn body(event: &Generated) -> Value {
    let mut properties = event.touch.properties.as_object().cloned().unwrap_or_default();
    if event.conversion {
        match event.cents {
            0 => properties.insert("value".into(), json!("not a number")),
            cents => properties.insert("value".into(), json!(cents as f64 / 100.0)),
        };
    }
    let mut body = json!({
        "eventId": event.id,
        "userId": event.user,
        "eventType": if event.conversion { "CONVERSION" } else { "PAGE_VIEW" },
        "properties": properties,
        "timestamp": timestamp(event.at),
    });
    if let Some(variant) = event.variant {
        body["properties"]["experimentId"] = json!(EXPERIMENT);
        body["properties"]["variant"] = json!(variant);
    }
    if let Some(device) = event.device {
        body["properties"]["device"] = json!(device);
    }
    body
}

/// What `groupBy=property:device` should say for days `first..=last` of
/// the users whose first-touch row `keep` keeps: by device, [users, new
/// users, conversions, converted users, revenue in cents] of the events
/// with that device; a user is new under the devices of their first day.
fn recount_devices(
    events: &[Generated],
    first: i64,
    last: i64,
    keep: impl Fn(&[&str; 4]) -> bool,
) -> BTreeMap<String, [i64; 5]> {
    let rows = first_touches(events);
    let day = |e: &Generated| e.at.div_euclid(DAY);
    let mut first_day: BTreeMap<&str, i64> = BTreeMap::new();
    for event in events {
        let entry = first_day.entry(&event.user).or_insert(day(event));
        *entry = (*entry).min(day(event));
    }
    let mut by_cell: BTreeMap<(String, &str), Vec<&Generated>> = BTreeMap::new();
    for event in events {
        if (first..=last).contains(&day(event)) && keep(&rows[event.user.as_str()]) {
            by_cell.entry((device_key(event.device), &event.user)).or_default().push(event);
        }
    }
    let mut out: BTreeMap<String, [i64; 5]> = BTreeMap::new();
    for ((device, user), events) in by_cell {
        let conversions: Vec<&&Generated> = events.iter().filter(|e| e.conversion).collect();
        let counts = out.entry(device).or_default();
        counts[0] += 1;
        counts[1] += i64::from(events.iter().any(|e| day(e) == first_day[user]));
        counts[2] += conversions.len() as i64;
        counts[3] += i64::from(!conversions.is_empty());
        counts[4] += conversions.iter().map(|e| e.cents).sum::<i64>();
    }
    out
}

/// The first-touch row of each user: (channel, source, medium, campaign).
fn first_touches(events: &[Generated]) -> BTreeMap<&str, [&'static str; 4]> {
    let mut first: BTreeMap<&str, (i64, [&'static str; 4])> = BTreeMap::new();
    for event in events {
        if let Some(row) = event.touch.row {
            let entry = first.entry(&event.user).or_insert((event.at, row));
            *entry = (*entry).min((event.at, row));
        }
    }
    let direct = ["Direct", "(direct)", "(none)", "(not set)"];
    events
        .iter()
        .map(|e| (e.user.as_str(), first.get(e.user.as_str()).map_or(direct, |(_, row)| *row)))
        .collect()
}

/// What the cross-tab should say for days `first..=last` grouped by the row
/// field at `field`: by (row key, variant), [users, conversions, converted
/// users, revenue in cents] of the events tagged with the variant.
fn recount_variants(
    events: &[Generated],
    field: usize,
    first: i64,
    last: i64,
) -> BTreeMap<(String, String), [i64; 4]> {
    let rows = first_touches(events);
    let mut by_cell: BTreeMap<(String, String, &str), Vec<&Generated>> = BTreeMap::new();
    for event in events {
        let Some(variant) = event.variant else { continue };
        if !(first..=last).contains(&event.at.div_euclid(DAY)) {
            continue;
        }
        let row = rows[event.user.as_str()];
        let key = if field == 4 { format!("{} / {}", row[1], row[2]) } else { row[field].to_owned() };
        by_cell.entry((key, variant.to_owned(), &event.user)).or_default().push(event);
    }
    let mut cells: BTreeMap<(String, String), [i64; 4]> = BTreeMap::new();
    for ((key, variant, _), events) in by_cell {
        let conversions: Vec<&&Generated> = events.iter().filter(|e| e.conversion).collect();
        let counts = cells.entry((key, variant)).or_default();
        counts[0] += 1;
        counts[1] += conversions.len() as i64;
        counts[2] += i64::from(!conversions.is_empty());
        counts[3] += conversions.iter().map(|e| e.cents).sum::<i64>();
    }
    cells
}

/// The cross-tab of a reply: its rows' non-empty variant cells.
fn variants_of(reply: &Value) -> BTreeMap<(String, String), [i64; 4]> {
    let mut cells = BTreeMap::new();
    for row in reply["rows"].as_array().expect("rows") {
        let key = row["key"].as_str().unwrap();
        for (variant, cell) in row["variants"].as_object().unwrap_or_else(|| panic!("variants of {row}")) {
            let n = |name: &str| cell[name].as_i64().unwrap_or_else(|| panic!("{name} of {cell}"));
            let cents = (cell["revenue"].as_f64().unwrap() * 100.0).round() as i64;
            let counts = [n("users"), n("conversions"), n("convertedUsers"), cents];
            if counts != [0; 4] {
                cells.insert((key.to_owned(), variant.clone()), counts);
            }
        }
    }
    cells
}

/// What the report should say for days `first..=last` (0 = 2026-11-01),
/// grouped by the row field at `field` (0 channel … 3 campaign, 4 source / medium).
fn recount(events: &[Generated], field: usize, first: i64, last: i64) -> BTreeMap<String, [i64; 5]> {
    recount_where(events, field, first, last, |_| true)
}

/// [`recount`] of the users whose first-touch row `keep` keeps: a drill-down.
fn recount_where(
    events: &[Generated],
    field: usize,
    first: i64,
    last: i64,
    keep: impl Fn(&[&str; 4]) -> bool,
) -> BTreeMap<String, [i64; 5]> {
    let mut by_user: BTreeMap<&str, Vec<&Generated>> = BTreeMap::new();
    for event in events {
        by_user.entry(&event.user).or_default().push(event);
    }
    let mut rows: BTreeMap<String, [i64; 5]> = BTreeMap::new();
    for events in by_user.values() {
        let row = events
            .iter()
            .filter_map(|e| e.touch.row.map(|row| (e.at, row)))
            .min()
            .map_or(["Direct", "(direct)", "(none)", "(not set)"], |(_, row)| row);
        if !keep(&row) {
            continue;
        }
        let key = if field == 4 { format!("{} / {}", row[1], row[2]) } else { row[field].to_owned() };
        let day = |e: &Generated| e.at.div_euclid(DAY);
        let in_range: Vec<&&Generated> = events.iter().filter(|e| (first..=last).contains(&day(e))).collect();
        let conversions: Vec<&&&Generated> = in_range.iter().filter(|e| e.conversion).collect();
        let counts = rows.entry(key).or_default();
        counts[0] += i64::from(!in_range.is_empty());
        counts[1] += i64::from((first..=last).contains(&events.iter().map(|e| day(e)).min().unwrap()));
        counts[2] += conversions.len() as i64;
        counts[3] += i64::from(!conversions.is_empty());
        counts[4] += conversions.iter().map(|e| e.cents).sum::<i64>();
    }
    rows.retain(|_, counts| counts.iter().any(|n| *n != 0));
    rows
}

fn rows_of(reply: &Value) -> BTreeMap<String, [i64; 5]> {
    reply["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let n = |name: &str| row[name].as_i64().unwrap_or_else(|| panic!("{name} of {row}"));
            let cents = (row["revenue"].as_f64().unwrap() * 100.0).round() as i64;
            let key = row["key"].as_str().unwrap().to_owned();
            (key, [n("users"), n("newUsers"), n("conversions"), n("convertedUsers"), cents])
        })
        .collect()
}

#[tokio::test]
async fn the_campaign_report_matches_a_brute_force_recount() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let (_, other_key) = stack.tenant("globex").await;
    // Two custom dimensions, before any event: `plan` no event has.
    let keys = json!({"keys": ["device", "plan", "device"]});
    let declared = stack.request(Method::PUT, "/api/dimensions", Some(&key), Some(&keys)).await;
    assert_eq!(declared.status, StatusCode::OK, "{:?}", declared.body);
    assert_eq!(declared.body["keys"], json!(["device", "plan"]));
    // moto's transactions are slow: a smaller data set checks the same.
    let (count, users) = if blackbox::aws_backend() { (900, 120) } else { (5000, 500) };
    let mut events = generate(count, users);
    for chunk in events.chunks(500) {
        let batch: Vec<Value> = chunk.iter().map(body).collect();
        let reply = stack.post("/api/events/batch", &key, json!({"events": batch})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    stack.wait_for_events(&key, "/api/analytics/summary", events.len() as u64).await;
    let late = late_touches(&events);
    assert!(late.len() > 20, "{}", late.len());
    let redelivered: Vec<Value> = events[..500].iter().map(body).collect();
    for batch in [late.iter().map(body).collect::<Vec<_>>(), redelivered] {
        let reply = stack.post("/api/events/batch", &key, json!({"events": batch})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    events.extend(late);
    stack.wait_for_events(&key, "/api/analytics/summary", events.len() as u64).await;
    stack.wait_for_events(&key, "/api/analytics/summary", events.len() as u64).await;

    let date = |day: i64| format!("2026-11-{:02}", day + 1);
    let groups = ["channel", "source", "medium", "campaign", "source_medium"];
    let fields = [0, 1, 2, 3, 4];
    // Every day alone, the whole data, and ranges across the week boundary.
    let mut ranges: Vec<(i64, i64)> = (0..14).map(|d| (d, d)).collect();
    ranges.extend([(0, 13), (0, 6), (5, 9), (7, 13), (2, 11)]);
    for (first, last) in ranges {
        for (group, &field) in groups.iter().zip(&fields) {
            let path = format!(
                "/api/analytics/campaigns?groupBy={group}&startDate={}&endDate={}",
                date(first),
                date(last)
            );
            let reply = stack.read(&path, &key).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
            let expected = recount(&events, field, first, last);
            assert_eq!(rows_of(&reply.body), expected, "{path}");
            // Rows sum to the totals: each user counts in one row.
            let totals = &reply.body["totals"];
            let users: i64 = expected.values().map(|c| c[0]).sum();
            assert_eq!(totals["users"], json!(users), "{path}");
            assert_eq!(reply.body["usersApproximate"], json!(false));
        }
    }

    // The campaign × variant cross-tab: each row's users in each variant.
    for (first, last) in [(0, 13), (5, 9), (7, 7)] {
        for (group, &field) in groups.iter().zip(&fields) {
            let path = format!(
                "/api/analytics/campaigns?groupBy={group}&experimentId={EXPERIMENT}&startDate={}&endDate={}",
                date(first),
                date(last)
            );
            let reply = stack.read(&path, &key).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
            assert_eq!(rows_of(&reply.body), recount(&events, field, first, last), "{path}");
            let expected = recount_variants(&events, field, first, last);
            assert_eq!(variants_of(&reply.body), expected, "{path}");
            for (variant, column) in [("control", 0), ("treatment", 0), ("treatment", 3)] {
                let sum: i64 =
                    expected.iter().filter(|((_, v), _)| v == variant).map(|(_, c)| c[column]).sum();
                let total = &reply.body["totals"]["variants"][variant];
                let got = if column == 0 {
                    total["users"].as_i64().unwrap()
                } else {
                    (total["revenue"].as_f64().unwrap() * 100.0).round() as i64
                };
                assert_eq!(got, sum, "{path}: {variant} totals");
            }
        }
    }
    let both = recount_variants(&events, 0, 0, 13);
    let users_in_both: i64 = both.iter().filter(|((_, v), _)| v == "control").map(|(_, c)| c[0]).sum::<i64>()
        + both.iter().filter(|((_, v), _)| v == "treatment").map(|(_, c)| c[0]).sum::<i64>();
    assert!(users_in_both > users as i64, "some users are in both variants: {users_in_both}");
    // The previous period has variants too; CSV has five columns per variant.
    let reply = stack
        .read(
            &format!("/api/analytics/campaigns?groupBy=campaign&experimentId={EXPERIMENT}&startDate=2026-11-08&endDate=2026-11-14&compare=previous"),
            &key,
        )
        .await;
    assert_eq!(variants_of(&reply.body["previous"]), recount_variants(&events, 3, 0, 6));
    let csv = stack
        .read(
            &format!("/api/analytics/campaigns?groupBy=channel&experimentId={EXPERIMENT}&startDate=2026-11-01&endDate=2026-11-14&format=csv"),
            &key,
        )
        .await;
    let text = csv.body.as_str().expect("CSV text");
    assert!(
        text.starts_with(
            "key,users,newUsers,conversions,convertedUsers,conversionRate,revenue,control users,"
        ),
        "{text}"
    );
    assert_eq!(text.lines().next().unwrap().split(',').count(), 7 + 2 * 5);
    // A created experiment shows every one of its variants, used or not;
    // another tenant sees no cells of this one's experiment.
    let created = stack
        .post(
            "/api/experiments",
            &key,
            json!({"name": "unused", "variants": ["A", "B", "C"], "status": "ACTIVE"}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let reply = stack
        .read(
            &format!("/api/analytics/campaigns?experimentId={id}&startDate=2026-11-01&endDate=2026-11-14"),
            &key,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(
        reply.body["totals"]["variants"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["A", "B", "C"]
    );
    assert_eq!(reply.body["totals"]["variants"]["A"]["users"], json!(0));
    let other = stack
        .read(
            &format!(
                "/api/analytics/campaigns?experimentId={EXPERIMENT}&startDate=2026-11-01&endDate=2026-11-14"
            ),
            &other_key,
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body["totals"]["variants"], json!({}));

    // The previous period, beside the current one.
    let reply = stack
        .read("/api/analytics/campaigns?groupBy=campaign&startDate=2026-11-08&endDate=2026-11-14&compare=previous", &key)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["previous"]["range"], json!({"startDate": "2026-11-01", "endDate": "2026-11-07"}));
    assert_eq!(rows_of(&reply.body["previous"]), recount(&events, 3, 0, 6));

    // Drill-down: channel, then source / medium, filter the rows.
    for (first, last) in [(0, 13), (3, 9)] {
        let path = format!(
            "/api/analytics/campaigns?groupBy=campaign&channel=Paid%20Search&startDate={}&endDate={}",
            date(first),
            date(last)
        );
        let reply = stack.read(&path, &key).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
        let expected = recount_where(&events, 3, first, last, |row| row[0] == "Paid Search");
        if (first, last) == (0, 13) {
            assert_eq!(expected.len(), 3, "brand, generic, (not set)");
        }
        assert_eq!(rows_of(&reply.body), expected, "{path}");
        let path = format!("{path}&source_medium=blog.example.org%20%2F%20referral&groupBy=source");
        let reply = stack.read(&path, &key).await;
        assert_eq!(reply.body["rows"], json!([]), "{path}: Paid Search has no referral");
    }
    let reply = stack
        .read(
            "/api/analytics/campaigns?groupBy=medium&source=google&startDate=2026-11-01&endDate=2026-11-14",
            &key,
        )
        .await;
    let expected = recount_where(&events, 2, 0, 13, |row| row[1] == "google");
    assert_eq!(rows_of(&reply.body), expected);
    assert_eq!(expected.keys().collect::<Vec<_>>(), ["cpc", "organic"]);

    // The daily series: each channel's users on each day, as each day alone counts them.
    let reply = stack
        .read(
            "/api/analytics/campaigns?groupBy=channel&startDate=2026-11-01&endDate=2026-11-14&interval=day",
            &key,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let series = reply.body["series"].as_array().expect("series");
    assert_eq!(series.len(), 14);
    for (day, entry) in series.iter().enumerate() {
        let expected = recount(&events, 0, day as i64, day as i64);
        let users: BTreeMap<String, i64> =
            expected.iter().filter(|(_, c)| c[0] != 0).map(|(k, c)| (k.clone(), c[0])).collect();
        assert_eq!(entry["date"], json!(date(day as i64)));
        assert_eq!(entry["users"], json!(users), "day {day}");
        assert_eq!(entry["totalUsers"], json!(users.values().sum::<i64>()), "day {day}");
    }

    // CSV: a header, the rows, the totals.
    let csv = stack
        .read(
            "/api/analytics/campaigns?groupBy=channel&startDate=2026-11-01&endDate=2026-11-14&format=csv",
            &key,
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.body.as_str().expect("CSV text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "key,users,newUsers,conversions,convertedUsers,conversionRate,revenue");
    assert_eq!(lines.len(), 1 + recount(&events, 0, 0, 13).len() + 1, "{text}");
    assert!(lines.last().unwrap().starts_with("(total),"));

    // Another tenant's report is empty, not the first tenant's.
    let other =
        stack.read("/api/analytics/campaigns?startDate=2026-11-01&endDate=2026-11-14", &other_key).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body["rows"], json!([]));
    assert_eq!(other.body["totals"]["users"], json!(0));

    // By a custom dimension: a row per device, a user counting under each
    // device their events in the range had; totals count each user once.
    for (first, last) in [(0, 13), (0, 0), (5, 9), (13, 13)] {
        let path = format!(
            "/api/analytics/campaigns?groupBy=property:device&startDate={}&endDate={}",
            date(first),
            date(last)
        );
        let reply = stack.read(&path, &key).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
        assert_eq!(reply.body["groupBy"], json!("property:device"));
        assert_eq!(rows_of(&reply.body), recount_devices(&events, first, last, |_| true), "{path}");
        let totals: Vec<i64> = recount(&events, 0, first, last).values().map(|c| c[0]).collect();
        assert_eq!(reply.body["totals"]["users"], json!(totals.iter().sum::<i64>()), "{path}");
    }
    let all = recount_devices(&events, 0, 13, |_| true);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["(not set)", "desktop", "mobile", "tablet"]);
    assert!(all.values().map(|c| c[0]).sum::<i64>() > users as i64, "some users have two devices");
    // Drilled down to a channel, with the previous period and a daily series.
    let reply = stack
        .read("/api/analytics/campaigns?groupBy=property:device&channel=Paid%20Search&startDate=2026-11-08&endDate=2026-11-14&compare=previous&interval=day", &key)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let paid = |row: &[&str; 4]| row[0] == "Paid Search";
    assert_eq!(rows_of(&reply.body), recount_devices(&events, 7, 13, paid));
    assert_eq!(rows_of(&reply.body["previous"]), recount_devices(&events, 0, 6, paid));
    for (offset, entry) in reply.body["series"].as_array().expect("series").iter().enumerate() {
        let day = 7 + offset as i64;
        let expected = recount_devices(&events, day, day, paid);
        let users: BTreeMap<String, i64> = expected.iter().map(|(k, c)| (k.clone(), c[0])).collect();
        assert_eq!(entry["users"], json!(users), "day {day}");
        let distinct: i64 = recount_where(&events, 0, day, day, paid).values().map(|c| c[0]).sum();
        assert_eq!(entry["totalUsers"], json!(distinct), "day {day}");
    }
    // A declared dimension no event has: everyone is (not set).
    let reply = stack
        .read("/api/analytics/campaigns?groupBy=property:plan&startDate=2026-11-01&endDate=2026-11-14", &key)
        .await;
    let users: i64 = recount(&events, 0, 0, 13).values().map(|c| c[0]).sum();
    assert_eq!(rows_of(&reply.body).keys().collect::<Vec<_>>(), ["(not set)"]);
    assert_eq!(reply.body["rows"][0]["users"], json!(users));
    // Another tenant has declared no dimension.
    let other = stack.read("/api/analytics/campaigns?groupBy=property:device", &other_key).await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST, "{:?}", other.body);

    // A tenant in Kolkata (05:30 ahead of UTC): its report counts the days
    // there. The same events, each sent 05:30 earlier than above, fall on
    // the same days in Kolkata as above in UTC, and must count the same.
    let (_, kolkata) = stack.tenant("initech").await;
    for (path, body) in [
        ("/api/settings/timezone", json!({"timezone": "Asia/Kolkata"})),
        ("/api/dimensions", json!({"keys": ["device"]})),
    ] {
        let reply = stack.request(Method::PUT, path, Some(&kolkata), Some(&body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
    }
    const KOLKATA_AHEAD: i64 = 5 * 3600 + 1800;
    // On moto, every third event (a data set of its own, recounted as such).
    let step = if blackbox::aws_backend() { 3 } else { 1 };
    let zoned: Vec<Generated> = events.iter().step_by(step).cloned().collect();
    // Sent last first: earlier touches arrive late.
    let shifted: Vec<Generated> =
        zoned.iter().rev().map(|e| Generated { at: e.at - KOLKATA_AHEAD, ..e.clone() }).collect();
    for chunk in shifted.chunks(500) {
        let batch: Vec<Value> = chunk.iter().map(body).collect();
        let reply = stack.post("/api/events/batch", &kolkata, json!({"events": batch})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    stack.wait_for_events(&kolkata, "/api/analytics/summary", shifted.len() as u64).await;
    for (first, last) in [(0, 0), (3, 3), (13, 13), (0, 13), (5, 9)] {
        let range = format!("startDate={}&endDate={}", date(first), date(last));
        for (group, &field) in groups.iter().zip(&fields) {
            let path = format!("/api/analytics/campaigns?groupBy={group}&{range}&tz=Asia%2FKolkata");
            let reply = stack.read(&path, &kolkata).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
            assert_eq!(reply.body["timezone"], "Asia/Kolkata");
            assert_eq!(rows_of(&reply.body), recount(&zoned, field, first, last), "{path}");
        }
        let path = format!("/api/analytics/campaigns?groupBy=property:device&{range}");
        let reply = stack.read(&path, &kolkata).await;
        assert_eq!(rows_of(&reply.body), recount_devices(&zoned, first, last, |_| true), "{path}");
    }
    let utc_days = stack.read("/api/analytics/campaigns?tz=UTC", &kolkata).await;
    assert_eq!(utc_days.status, StatusCode::BAD_REQUEST, "{:?}", utc_days.body);

    // Bad parameters: a 400 naming each.
    for (query, field) in [
        ("groupBy=country", "groupBy"),
        ("groupBy=property:country", "groupBy"),
        ("groupBy=property:device&experimentId=exp-landing", "experimentId"),
        ("attribution=last", "attribution"),
        ("tz=Europe%2FParis", "tz"),
        ("startDate=2025-01-01&endDate=2026-11-14", "startDate"),
        ("startDate=2026-11-10&endDate=2026-11-01", "startDate"),
        ("format=xml", "format"),
        ("compare=yesterday", "compare"),
        ("interval=hour", "interval"),
        (&*format!("experimentId={}", "x".repeat(129)), "experimentId"),
    ] {
        let reply = stack.read(&format!("/api/analytics/campaigns?{query}"), &key).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}: {:?}", reply.body);
        assert_eq!(reply.error_code(), "validation_failed", "{query}");
        assert_eq!(reply.body["details"][0]["field"], field, "{query}: {:?}", reply.body);
    }
}
