//! Experiment results, assignment and time series through HTTP, checked
//! against an independent computation from the generated raw data.

use std::collections::BTreeMap;

use blackbox::{Lcg, Stack};
use reqwest::StatusCode;
use serde_json::{Value, json};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// Users and converted users per variant, generated with known rates.
fn generate(
    variants: &[(&str, f64)],
    users_per_variant: usize,
    seed: u64,
) -> (Vec<Value>, BTreeMap<String, (u64, u64)>) {
    let mut rng = Lcg::new(seed);
    let mut events = Vec::new();
    let mut truth = BTreeMap::new();
    for (v, (name, rate)) in variants.iter().enumerate() {
        let mut converted = 0;
        for u in 0..users_per_variant {
            let user = format!("{name}-user-{u}");
            let tag = json!({"experimentId": "EXP", "variant": name});
            events.push(json!({"eventId": format!("{v}-{u}-view"), "userId": user, "eventType": "PAGE_VIEW", "properties": tag}));
            if (rng.below(1_000_000) as f64) < rate * 1_000_000.0 {
                converted += 1;
                for k in 0..(1 + rng.below(2)) {
                    events.push(json!({"eventId": format!("{v}-{u}-buy-{k}"), "userId": user,
                                       "eventType": "CONVERSION", "properties": tag}));
                }
            }
        }
        truth.insert(name.to_string(), (users_per_variant as u64, converted));
    }
    (events, truth)
}

async fn ingest(stack: &Stack, key: &str, experiment_id: &str, events: Vec<Value>) {
    let events: Vec<Value> = events
        .into_iter()
        .map(|mut e| {
            e["properties"]["experimentId"] = json!(experiment_id);
            e["eventId"] = json!(format!("{experiment_id}-{}", e["eventId"].as_str().unwrap()));
            e
        })
        .collect();
    let total = events.len() as u64;
    for chunk in events.chunks(1000) {
        let reply = stack.post("/api/events/batch", key, json!({"events": chunk})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    stack.wait_for_events(key, &format!("/api/analytics/summary?experimentId={experiment_id}"), total).await;
}

/// The relative-lift Welch test, written out independently of the service.
fn expected_relative(control: (u64, u64), treatment: (u64, u64)) -> (f64, f64, f64, f64, f64) {
    let (na, nb) = (control.0 as f64, treatment.0 as f64);
    let (pa, pb) = (control.1 as f64 / na, treatment.1 as f64 / nb);
    let (va, vb) = (pa * (1.0 - pa), pb * (1.0 - pb));
    let lift = (pb - pa) / pa;
    let se = ((vb / nb) / (pa * pa) + (va / na) * pb * pb / pa.powi(4)).sqrt();
    let dof =
        (vb / nb + va / na).powi(2) / (vb * vb / (nb * nb * (nb - 1.0)) + va * va / (na * na * (na - 1.0)));
    let t = StudentsT::new(0.0, 1.0, dof).unwrap();
    let p = 2.0 * (1.0 - t.cdf((lift / se).abs()));
    let chance = Normal::standard().cdf(lift / se);
    let half_width = t.inverse_cdf(0.975) * se;
    (lift, se, p, chance, half_width)
}

fn close(actual: &Value, expected: f64, what: &str) {
    let actual = actual.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {actual}"));
    assert!((actual - expected).abs() < 1e-9, "{what}: {actual} != {expected}");
}

#[tokio::test]
async fn two_and_three_arm_results_match_an_independent_computation() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let users = if blackbox::aws_backend() { 150 } else { 1500 };

    // Two arms.
    let created = stack
        .post("/api/experiments", &key, json!({"name": "two", "variants": ["A", "B"], "status": "ACTIVE"}))
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (events, truth) = generate(&[("A", 0.10), ("B", 0.14)], users, 1);
    ingest(&stack, &key, &id, events).await;
    let results = stack.get(&format!("/api/experiments/{id}/results"), &key).await;
    assert_eq!(results.status, StatusCode::OK, "{:?}", results.body);
    let body = &results.body;
    assert_eq!(body["control"], "A");
    assert_eq!(body["confidenceLevel"], 0.95);
    assert_eq!(body["totalUsers"], 2 * users as u64);
    assert_eq!(body["variants"][0]["vsControl"], Value::Null);
    for (index, name) in ["A", "B"].iter().enumerate() {
        let variant = &body["variants"][index];
        assert_eq!(variant["name"], *name);
        assert_eq!(variant["users"], truth[*name].0);
        assert_eq!(variant["convertedUsers"], truth[*name].1);
        let ci = variant["conversionRateCi"].as_array().unwrap();
        let rate = variant["conversionRate"].as_f64().unwrap();
        assert!(ci[0].as_f64().unwrap() <= rate && rate <= ci[1].as_f64().unwrap());
    }
    let (lift, _, p, chance, half_width) = expected_relative(truth["A"], truth["B"]);
    let vs = &body["variants"][1]["vsControl"];
    close(&vs["relativeLift"], lift, "relative lift");
    close(&vs["pValue"], p, "p-value");
    close(&vs["adjustedPValue"], p, "adjusted p-value (one comparison)");
    close(&vs["chanceToBeatControl"], chance, "chance to beat control");
    close(&vs["relativeCi"][0], lift - half_width, "relative CI low");
    close(&vs["relativeCi"][1], lift + half_width, "relative CI high");
    assert_eq!(vs["significant"], json!(p < 0.05));
    // SRM: equal users against 50/50 is a perfect fit.
    close(&body["srm"]["chiSquare"], 0.0, "chi-square");
    assert_eq!(body["srm"]["mismatch"], false);
    assert!(body["power"]["requiredUsersPerVariant"].as_u64().unwrap() > 0);
    // Far from the ~50,000 users per arm a 5 % lift needs: keep running,
    // and how long for.
    assert_eq!(body["decision"]["verdict"], "keep_running", "{}", body["decision"]);
    assert!(body["decision"]["daysRemaining"].as_f64().unwrap() > 0.0, "{}", body["decision"]);

    // CSV, by parameter and by Accept header.
    let csv = stack
        .raw(
            stack
                .client()
                .get(format!("{}/api/experiments/{id}/results?format=csv", stack.base))
                .header("X-API-Key", &key),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.body.as_str().unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.starts_with("variant,weight,users"));
    assert!(text.lines().nth(1).unwrap().starts_with(&format!("A,50,{users},")));
    let by_accept = stack
        .raw(
            stack
                .client()
                .get(format!("{}/api/experiments/{id}/results", stack.base))
                .header("X-API-Key", &key)
                .header("Accept", "text/csv"),
        )
        .await;
    assert_eq!(by_accept.body, csv.body);

    // Three arms, unequal weights: Holm adjusts across both comparisons.
    let created = stack
        .post(
            "/api/experiments",
            &key,
            json!({"name": "three", "status": "ACTIVE",
                   "variants": [{"name": "A", "weight": 40}, {"name": "B", "weight": 30}, {"name": "C", "weight": 30}]}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (events, truth) = generate(&[("A", 0.20), ("B", 0.20), ("C", 0.26)], users, 2);
    ingest(&stack, &key, &id, events).await;
    let body = stack.get(&format!("/api/experiments/{id}/results?confidence=0.9"), &key).await.body;
    assert_eq!(body["confidenceLevel"], 0.9);
    let p_b = expected_relative(truth["A"], truth["B"]).2;
    let p_c = expected_relative(truth["A"], truth["C"]).2;
    let (low, high) = if p_b <= p_c { (p_b, p_c) } else { (p_c, p_b) };
    let adjusted_low = (2.0 * low).min(1.0);
    let adjusted_high = high.max(adjusted_low);
    let (expected_b, expected_c) =
        if p_b <= p_c { (adjusted_low, adjusted_high) } else { (adjusted_high, adjusted_low) };
    close(&body["variants"][1]["vsControl"]["pValue"], p_b, "B p-value");
    close(&body["variants"][1]["vsControl"]["adjustedPValue"], expected_b, "B adjusted");
    close(&body["variants"][2]["vsControl"]["adjustedPValue"], expected_c, "C adjusted");
    // Equal users against 40/30/30 weights: an SRM the check must flag.
    let n = users as f64 * 3.0;
    let chi: f64 = [0.4, 0.3, 0.3].iter().map(|w| (users as f64 - n * w).powi(2) / (n * w)).sum();
    close(&body["srm"]["chiSquare"], chi, "three-arm chi-square");
    close(&body["srm"]["pValue"], 1.0 - ChiSquared::new(2.0).unwrap().cdf(chi), "three-arm SRM p");
    assert_eq!(body["srm"]["mismatch"], json!(1.0 - ChiSquared::new(2.0).unwrap().cdf(chi) < 0.001));

    // The engines, on the same counts: sequential intervals are wider than
    // fixed-horizon ones and their p-values larger (the price of reading
    // results at any time); a flat-prior Bayesian result has the same
    // chance to beat control, risk instead of p-values, and a tight prior
    // around 0 pulls the lift towards 0. (gbstats checks the figures:
    // shared/tests/gbstats.rs.)
    let base = format!("/api/experiments/{id}/results?confidence=0.9");
    let sequential = stack.get(&format!("{base}&engine=sequential"), &key).await.body;
    assert_eq!(sequential["engine"], json!({"name": "sequential", "tuning": 5000.0}));
    let bayesian = stack.get(&format!("{base}&engine=bayesian"), &key).await.body;
    assert_eq!(bayesian["engine"], json!({"name": "bayesian", "prior": null}));
    let shrunk = stack.get(&format!("{base}&engine=bayesian&priorMean=0&priorStdDev=0.01"), &key).await.body;
    assert_eq!(shrunk["engine"]["prior"], json!({"mean": 0.0, "stdDev": 0.01}));
    assert_eq!(body["engine"], json!({"name": "frequentist"}));
    for arm in [1, 2] {
        let fixed = &body["variants"][arm]["vsControl"];
        let always = &sequential["variants"][arm]["vsControl"];
        let number = |v: &Value| v.as_f64().unwrap();
        assert!(number(&always["relativeCi"][0]) < number(&fixed["relativeCi"][0]), "{always}");
        assert!(number(&always["relativeCi"][1]) > number(&fixed["relativeCi"][1]), "{always}");
        assert!(number(&always["pValue"]) >= number(&fixed["pValue"]), "{always}");
        assert_eq!(always["relativeLift"], fixed["relativeLift"]);
        let posterior = &bayesian["variants"][arm]["vsControl"];
        assert_eq!(posterior["pValue"], Value::Null);
        assert_eq!(posterior["adjustedPValue"], Value::Null);
        close(&posterior["chanceToBeatControl"], number(&fixed["chanceToBeatControl"]), "flat-prior chance");
        let chance = number(&posterior["chanceToBeatControl"]);
        assert_eq!(posterior["significant"], json!(!(0.1..0.9).contains(&chance)));
        let (risk_control, risk_treatment) =
            (number(&posterior["risk"]["control"]), number(&posterior["risk"]["treatment"]));
        assert!(risk_control >= 0.0 && risk_treatment >= 0.0);
        // The arm more likely better is the one less risky to ship.
        assert_eq!(chance > 0.5, risk_treatment < risk_control, "{posterior}");
        let pulled = number(&shrunk["variants"][arm]["vsControl"]["relativeLift"]);
        assert!(pulled.abs() < number(&posterior["relativeLift"]).abs(), "{pulled} {posterior}");
    }
    let csv = stack
        .raw(
            stack
                .client()
                .get(format!("{}{base}&engine=bayesian&format=csv", stack.base))
                .header("X-API-Key", &key),
        )
        .await;
    let text = csv.body.as_str().unwrap();
    assert!(text.lines().next().unwrap().ends_with(",riskControl,riskTreatment"), "{text}");
    assert!(!text.lines().nth(2).unwrap().ends_with(",,"), "a treatment's risk is in its row: {text}");

    // Benjamini–Hochberg on request: BH of the same raw p-values (two
    // comparisons: the smaller doubled, the larger as it is, each capped by
    // the next), and no correction at all.
    let bh = stack.get(&format!("{base}&correction=bh"), &key).await.body;
    assert_eq!(bh["correction"], "bh");
    assert_eq!(body["correction"], "holm");
    let bh_high = high;
    let bh_low = (2.0 * low).min(bh_high);
    let (bh_b, bh_c) = if p_b <= p_c { (bh_low, bh_high) } else { (bh_high, bh_low) };
    close(&bh["variants"][1]["vsControl"]["adjustedPValue"], bh_b, "B BH-adjusted");
    close(&bh["variants"][2]["vsControl"]["adjustedPValue"], bh_c, "C BH-adjusted");
    let none = stack.get(&format!("{base}&correction=none"), &key).await.body;
    close(&none["variants"][1]["vsControl"]["adjustedPValue"], p_b, "B unadjusted");
    // The decision: where equal users against 40/30/30 weights are a
    // sample ratio mismatch (the larger data set), it stops the experiment.
    if body["srm"]["mismatch"] == true {
        assert_eq!(body["decision"]["verdict"], "stop", "{}", body["decision"]);
        assert!(body["decision"]["reasons"][0].as_str().unwrap().starts_with("sample ratio mismatch"));
    }

    // The experiment's own engine answers when a request names none.
    let patched = stack
        .patch(
            &format!("/api/experiments/{id}"),
            &key,
            json!({"engine": {"name": "bayesian", "prior": {"mean": 0, "stdDev": 0.01}}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let by_default = stack.get(&base, &key).await.body;
    assert_eq!(by_default["engine"], shrunk["engine"]);
    assert_eq!(by_default["variants"][1]["vsControl"], shrunk["variants"][1]["vsControl"]);
    let named = stack.get(&format!("{base}&engine=frequentist"), &key).await.body;
    assert_eq!(named["variants"][1]["vsControl"], body["variants"][1]["vsControl"]);

    for query in [
        "confidence=2",
        "mde=0",
        "format=xml",
        "engine=magic",
        "engine=sequential&sequentialTuning=0",
        "sequentialTuning=500",
        "engine=bayesian&priorMean=0.1",
        "engine=bayesian&priorMean=0&priorStdDev=0",
        "engine=sequential&priorMean=0&priorStdDev=1",
        "correction=bonferroni",
    ] {
        let reply = stack.get(&format!("/api/experiments/{id}/results?{query}"), &key).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
    let (_, other) = stack.tenant("other").await;
    assert_eq!(
        stack.get(&format!("/api/experiments/{id}/results"), &other).await.status,
        StatusCode::NOT_FOUND
    );
}

/// GrowthBook's hash, version 2, written out independently.
fn growthbook_bucket(seed: &str, value: &str) -> f64 {
    let fnv = |text: &str| {
        text.encode_utf16().fold(2_166_136_261u32, |h, unit| (h ^ u32::from(unit)).wrapping_mul(16_777_619))
    };
    f64::from(fnv(&fnv(&format!("{seed}{value}")).to_string()) % 10_000) / 10_000.0
}

#[tokio::test]
async fn assignment_is_deterministic_and_growthbook_compatible() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let draft = stack.post("/api/experiments", &key, json!({"name": "d", "variants": ["A", "B"]})).await;
    let draft_id = draft.body["id"].as_str().unwrap();
    let refused = stack.get(&format!("/api/experiments/{draft_id}/assign?userId=u1"), &key).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    let active = stack
        .post(
            "/api/experiments",
            &key,
            json!({"name": "a", "status": "ACTIVE", "trackingKey": "checkout-test",
                   "variants": [{"name": "A", "weight": 25}, {"name": "B", "weight": 75}]}),
        )
        .await;
    let id = active.body["id"].as_str().unwrap();
    for user in ["alice", "bob", "carol", "dave", "ünïcödé-ユーザー"] {
        let path = format!("/api/experiments/{id}/assign?userId={}", urlencode(user));
        let first = stack.get(&path, &key).await;
        assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
        let bucket = growthbook_bucket("checkout-test", user);
        assert_eq!(first.body["bucket"], bucket);
        assert_eq!(first.body["variant"], if bucket < 0.25 { "A" } else { "B" });
        assert_eq!(first.body["userId"], user);
        assert_eq!(stack.get(&path, &key).await.body, first.body, "same user, same answer");
    }
    let missing = stack.get(&format!("/api/experiments/{id}/assign"), &key).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

#[tokio::test]
async fn time_series_fill_every_bucket() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let created = stack
        .post("/api/experiments", &key, json!({"name": "ts", "status": "ACTIVE", "variants": ["A", "B"]}))
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let event = |n: usize, user: &str, variant: &str, kind: &str, at: &str| {
        json!({"eventId": format!("ts-{n}"), "userId": user, "eventType": kind, "timestamp": at,
               "properties": {"experimentId": id, "variant": variant}})
    };
    let events = vec![
        event(1, "u1", "A", "PAGE_VIEW", "2026-11-01T10:00:00Z"),
        event(2, "u1", "A", "CONVERSION", "2026-11-01T11:00:00Z"),
        event(3, "u2", "B", "PAGE_VIEW", "2026-11-01T23:59:59Z"),
        event(4, "u2", "B", "CONVERSION", "2026-11-04T08:00:00Z"),
        event(5, "u3", "B", "PAGE_VIEW", "2026-11-04T09:30:00Z"),
        json!({"eventId": "ts-6", "userId": "u9", "eventType": "CLICK", "timestamp": "2026-11-02T00:00:00Z"}),
    ];
    assert_eq!(
        stack.post("/api/events/batch", &key, json!({"events": events})).await.status,
        StatusCode::ACCEPTED
    );
    stack.wait_for_events(&key, "/api/analytics/summary", 6).await;

    let path = format!("/api/analytics/timeseries?experimentId={id}&startDate=2026-11-01&endDate=2026-11-05");
    let reply = stack.get(&path, &key).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let buckets = reply.body["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 5, "one bucket per day, empty days included");
    assert_eq!(buckets[0]["start"], "2026-11-01T00:00:00Z");
    assert_eq!(buckets[0]["events"], 3);
    assert_eq!(buckets[0]["newUsers"], 2);
    assert_eq!(
        buckets[0]["variants"]["A"],
        json!({"events": 2, "conversions": 1, "newUsers": 1, "newConvertedUsers": 1})
    );
    assert_eq!(buckets[1]["events"], 0, "the tenant-only click is not the experiment's");
    assert_eq!(buckets[2]["variants"]["B"]["events"], 0);
    assert_eq!(
        buckets[3]["variants"]["B"],
        json!({"events": 2, "conversions": 1, "newUsers": 1, "newConvertedUsers": 1})
    );
    assert_eq!(buckets[4]["events"], 0);

    let hourly = stack
        .get(&format!("/api/analytics/timeseries?experimentId={id}&startDate=2026-11-01T09:00:00Z&endDate=2026-11-01T12:00:00Z&interval=hour"), &key)
        .await;
    let hours: Vec<u64> =
        hourly.body["buckets"].as_array().unwrap().iter().map(|b| b["events"].as_u64().unwrap()).collect();
    assert_eq!(hours, [0, 1, 1, 0]);

    let tenant = stack.get("/api/analytics/timeseries?startDate=2026-11-02&endDate=2026-11-02", &key).await;
    assert_eq!(tenant.body["buckets"][0]["events"], 1);
    assert_eq!(tenant.body["buckets"][0]["variants"], json!({}));

    for query in
        ["interval=week", "startDate=2026-11-05&endDate=2026-11-01", "startDate=2000-01-01&interval=hour"]
    {
        let reply = stack.get(&format!("/api/analytics/timeseries?{query}"), &key).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
}

/// Welch's test of the relative lift of `b` over `a`, each given as
/// (mean, per-user variance, users), written out independently of the
/// service: (lift, p-value).
fn welch_relative(a: (f64, f64, f64), b: (f64, f64, f64)) -> (f64, f64) {
    let ((ma, va, na), (mb, vb, nb)) = (a, b);
    let lift = (mb - ma) / ma;
    let se = ((vb / nb) / (ma * ma) + (va / na) * mb * mb / ma.powi(4)).sqrt();
    let dof =
        (vb / nb + va / na).powi(2) / (vb * vb / (nb * nb * (nb - 1.0)) + va * va / (na * na * (na - 1.0)));
    let t = StudentsT::new(0.0, 1.0, dof).unwrap();
    (lift, 2.0 * (1.0 - t.cdf((lift / se).abs())))
}

/// Mean and sample variance of per-user values.
fn mean_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (mean, values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0))
}

/// The ratio Σr / Σc of per-user pairs, and its per-user variance by the
/// delta method (two-pass, from the pairs themselves).
fn ratio_variance(pairs: &[(f64, f64)]) -> (f64, f64) {
    let n = pairs.len() as f64;
    let (mr, mc) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let var = |f: &dyn Fn(&(f64, f64)) -> f64, m: f64| {
        pairs.iter().map(|p| (f(p) - m).powi(2)).sum::<f64>() / (n - 1.0)
    };
    let (vr, vc) = (var(&|p| p.0, mr), var(&|p| p.1, mc));
    let cov = pairs.iter().map(|p| (p.0 - mr) * (p.1 - mc)).sum::<f64>() / (n - 1.0);
    (mr / mc, vr / mc.powi(2) - 2.0 * cov * mr / mc.powi(3) + mr.powi(2) * vc / mc.powi(4))
}

/// Sends `events` of experiment `id` shuffled, then a tenth of them again
/// in later calls, and waits until the experiment counts each once.
async fn send_shuffled_and_again(stack: &Stack, key: &str, id: &str, mut events: Vec<Value>, rng: &mut Lcg) {
    for i in (1..events.len()).rev() {
        events.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let again: Vec<Value> = events.iter().filter(|_| rng.below(10) == 0).cloned().collect();
    for chunk in events.chunks(500).chain(again.chunks(500)) {
        let reply = stack.post("/api/events/batch", key, json!({"events": chunk})).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    }
    stack
        .wait_for_events(key, &format!("/api/analytics/summary?experimentId={id}"), events.len() as u64)
        .await;
}

/// The per-user metrics (conversions and revenue per user, revenue per
/// conversion) from the arms' sums, against a recount of the generated
/// users: events out of time order, some sent twice, some users in both
/// arms, conversions with and without a `value`.
#[tokio::test]
async fn per_user_metrics_match_a_recount_of_the_users() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let users = if blackbox::aws_backend() { 120 } else { 800 };
    let created = stack
        .post(
            "/api/experiments",
            &key,
            json!({"name": "revenue", "variants": ["A", "B"], "status": "ACTIVE"}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();

    let mut rng = Lcg::new(19);
    let mut events = Vec::new();
    // Per arm, each user's (conversions, revenue).
    let mut truth: BTreeMap<&str, BTreeMap<String, (f64, f64)>> = BTreeMap::new();
    for u in 0..users {
        let user = format!("user-{u}");
        let mut arms = vec![if rng.below(2) == 0 { "A" } else { "B" }];
        if rng.below(40) == 0 {
            arms = vec!["A", "B"];
        }
        for arm in arms {
            let tag = json!({"experimentId": id, "variant": arm});
            let at = |rng: &mut Lcg| {
                format!("2026-12-0{}T{:02}:{:02}:00Z", 1 + rng.below(5), rng.below(24), rng.below(60))
            };
            events
                .push(json!({"eventId": format!("{u}-{arm}-view"), "userId": user, "eventType": "PAGE_VIEW",
                               "properties": tag, "timestamp": at(&mut rng)}));
            let (mut conversions, mut revenue) = (0.0, 0.0);
            let buys = match rng.below(10) {
                0..=5 => 0,
                6..=8 => 1 + rng.below(2),
                _ => 3 + rng.below(4),
            };
            for k in 0..buys {
                let mut properties = tag.clone();
                if rng.below(5) != 0 {
                    // Whole cents, boosted in B.
                    let cents = 500 + rng.below(if arm == "B" { 12_000 } else { 9_000 });
                    properties["value"] = json!(cents as f64 / 100.0);
                    revenue += cents as f64 / 100.0;
                }
                conversions += 1.0;
                events.push(json!({"eventId": format!("{u}-{arm}-buy-{k}"), "userId": user,
                                   "eventType": "CONVERSION", "properties": properties, "timestamp": at(&mut rng)}));
            }
            truth.entry(arm).or_default().insert(user.clone(), (conversions, revenue));
        }
    }
    send_shuffled_and_again(&stack, &key, &id, events, &mut rng).await;

    let body = stack.get(&format!("/api/experiments/{id}/results?correction=none"), &key).await.body;
    let metrics = body["metrics"].as_array().expect("metrics");
    let ids: Vec<&str> = metrics.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["conversion", "conversions_per_user", "revenue_per_user", "revenue_per_conversion"]);
    assert_eq!(metrics[0]["role"], "goal");
    assert_eq!(metrics[0]["variants"][1]["vsControl"]["pValue"], body["variants"][1]["vsControl"]["pValue"]);
    let per_arm =
        |arm: &str, f: &dyn Fn(&(f64, f64)) -> f64| -> Vec<f64> { truth[arm].values().map(f).collect() };
    let relative_close = |actual: &Value, expected: f64, what: &str| {
        let actual = actual.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {actual}"));
        assert!((actual - expected).abs() <= 1e-9 * (1.0 + expected.abs()), "{what}: {actual} != {expected}");
    };
    for (index, per_user) in
        [(1, &(|p: &(f64, f64)| p.0) as &dyn Fn(&(f64, f64)) -> f64), (2, &|p: &(f64, f64)| p.1)]
    {
        let metric = &metrics[index];
        assert_eq!(metric["reason"], Value::Null, "{metric}");
        let (a, b) = (per_arm("A", per_user), per_arm("B", per_user));
        for (v, values) in [&a, &b].into_iter().enumerate() {
            let variant = &metric["variants"][v];
            assert_eq!(variant["users"], values.len() as u64, "{}", metric["id"]);
            relative_close(&variant["total"], values.iter().sum(), &format!("{} total", metric["id"]));
            relative_close(&variant["value"], mean_variance(values).0, &format!("{} mean", metric["id"]));
        }
        let ((ma, va), (mb, vb)) = (mean_variance(&a), mean_variance(&b));
        let (lift, p) = welch_relative((ma, va, a.len() as f64), (mb, vb, b.len() as f64));
        let vs = &metric["variants"][1]["vsControl"];
        relative_close(&vs["relativeLift"], lift, &format!("{} lift", metric["id"]));
        relative_close(&vs["pValue"], p, &format!("{} p-value", metric["id"]));
    }
    let pairs = |arm: &str| -> Vec<(f64, f64)> { truth[arm].values().map(|&(c, r)| (r, c)).collect() };
    let (ratio_a, variance_a) = ratio_variance(&pairs("A"));
    let (ratio_b, variance_b) = ratio_variance(&pairs("B"));
    let ratio = &metrics[3];
    relative_close(&ratio["variants"][0]["value"], ratio_a, "revenue per conversion, A");
    relative_close(&ratio["variants"][1]["value"], ratio_b, "revenue per conversion, B");
    let (na, nb) = (truth["A"].len() as f64, truth["B"].len() as f64);
    let (lift, p) = welch_relative((ratio_a, variance_a, na), (ratio_b, variance_b, nb));
    relative_close(&ratio["variants"][1]["vsControl"]["relativeLift"], lift, "revenue per conversion lift");
    relative_close(&ratio["variants"][1]["vsControl"]["pValue"], p, "revenue per conversion p-value");

    // Holm across the four metrics: the goal's adjusted p-value here is
    // at least the top level's, which corrects across treatments only.
    let holm = stack.get(&format!("/api/experiments/{id}/results"), &key).await.body;
    let goal = holm["metrics"][0]["variants"][1]["vsControl"]["adjustedPValue"].as_f64().unwrap();
    let top = holm["variants"][1]["vsControl"]["adjustedPValue"].as_f64().unwrap();
    assert!(goal >= top && goal > 0.0, "goal {goal}, top level {top}");

    // The metrics as CSV: a row per metric × variant.
    let csv = stack
        .raw(
            stack
                .client()
                .get(format!("{}/api/experiments/{id}/results?format=csv&table=metrics", stack.base))
                .header("X-API-Key", &key),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = csv.body.as_str().unwrap();
    assert_eq!(text.lines().count(), 1 + 4 * 2, "{text}");
    assert!(text.starts_with("metric,name,kind,role,variant,users,value,total,"));
    let revenue_b = text.lines().find(|l| l.starts_with("revenue_per_user,") && l.contains(",B,")).unwrap();
    let total: f64 = revenue_b.split(',').nth(7).unwrap().parse().unwrap();
    relative_close(&json!(total), per_arm("B", &|p| p.1).iter().sum(), "revenue of B in the CSV");
    let bad = stack.get(&format!("/api/experiments/{id}/results?format=csv&table=cells"), &key).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["details"][0]["field"], "table", "{:?}", bad.body);
}

/// Metrics an experiment defines (a goal on a selection of clicks, a count,
/// a sum of a named property, a ratio of two selections, an inverse
/// guardrail), from the writer's exact sums, against a recount of the
/// generated users: events out of time order, a tenth sent twice, some
/// users in both arms. Then a metric added once events are counted says
/// it misses them, and a bad definition is a 400 naming its field.
#[tokio::test]
async fn defined_metrics_match_a_recount_of_the_users() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let users = if blackbox::aws_backend() { 120 } else { 600 };
    let metrics = json!([
        {"id": "bought", "name": "Bought", "kind": "conversion", "role": "goal", "eventType": "CLICK",
         "where": {"button": "buy"}},
        {"id": "views", "kind": "count", "eventType": "PAGE_VIEW"},
        {"id": "amount", "kind": "sum", "eventType": "CONVERSION", "valueProperty": "amount"},
        {"id": "amount_per_view", "kind": "ratio",
         "numerator": {"kind": "sum", "eventType": "CONVERSION", "valueProperty": "amount"},
         "denominator": {"kind": "count", "eventType": "PAGE_VIEW"}},
        {"id": "errors", "kind": "count", "role": "guardrail", "inverse": true, "eventType": "CLICK",
         "where": {"button": "error"}},
    ]);
    let created = stack
        .post(
            "/api/experiments",
            &key,
            json!({"name": "defined", "variants": ["A", "B"], "status": "ACTIVE", "metrics": metrics}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["metrics"][4]["inverse"], true);
    assert_eq!(created.body["metrics"][0]["fromStart"], true);
    let id = created.body["id"].as_str().unwrap().to_owned();

    let mut rng = Lcg::new(23);
    let mut events = Vec::new();
    // Per arm, each user's (bought, views, amount, errors).
    let mut truth: BTreeMap<&str, BTreeMap<String, [f64; 4]>> = BTreeMap::new();
    for u in 0..users {
        let user = format!("user-{u}");
        let mut arms = vec![if rng.below(2) == 0 { "A" } else { "B" }];
        if rng.below(30) == 0 {
            arms = vec!["A", "B"];
        }
        for arm in arms {
            let tag = json!({"experimentId": id, "variant": arm});
            let mut n = 0;
            let mut push = |events: &mut Vec<Value>, rng: &mut Lcg, kind: &str, extra: Value| {
                let mut properties = tag.clone();
                for (k, v) in extra.as_object().unwrap() {
                    properties[k] = v.clone();
                }
                let at =
                    format!("2026-12-0{}T{:02}:{:02}:00Z", 1 + rng.below(5), rng.below(24), rng.below(60));
                n += 1;
                events.push(json!({"eventId": format!("{u}-{arm}-{n}"), "userId": user, "eventType": kind,
                                   "properties": properties, "timestamp": at}));
            };
            let views = 1 + rng.below(if arm == "B" { 6 } else { 4 });
            for _ in 0..views {
                push(&mut events, &mut rng, "PAGE_VIEW", json!({}));
            }
            let buys = if rng.below(10) < if arm == "B" { 4 } else { 3 } { 1 + rng.below(2) } else { 0 };
            for _ in 0..buys {
                push(&mut events, &mut rng, "CLICK", json!({"button": "buy"}));
            }
            // Clicks of other buttons count in neither.
            if rng.below(3) == 0 {
                push(&mut events, &mut rng, "CLICK", json!({"button": "help"}));
            }
            let errors = rng.below(if arm == "B" { 3 } else { 2 });
            for _ in 0..errors {
                push(&mut events, &mut rng, "CLICK", json!({"button": "error"}));
            }
            let mut amount = 0.0;
            for _ in 0..buys {
                // Whole cents under `amount`; a `value` beside it is not summed.
                let cents = 100 + rng.below(5_000);
                amount += cents as f64 / 100.0;
                push(
                    &mut events,
                    &mut rng,
                    "CONVERSION",
                    json!({"amount": cents as f64 / 100.0, "value": 1}),
                );
            }
            let bought = if buys > 0 { 1.0 } else { 0.0 };
            truth.entry(arm).or_default().insert(user.clone(), [bought, views as f64, amount, errors as f64]);
        }
    }
    send_shuffled_and_again(&stack, &key, &id, events, &mut rng).await;

    let body = stack.get(&format!("/api/experiments/{id}/results?correction=none"), &key).await.body;
    let results = body["metrics"].as_array().expect("metrics");
    let ids: Vec<&str> = results.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["bought", "views", "amount", "amount_per_view", "errors"]);
    let close = |actual: &Value, expected: f64, what: &str| {
        let actual = actual.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {actual}"));
        assert!((actual - expected).abs() <= 1e-9 * (1.0 + expected.abs()), "{what}: {actual} != {expected}");
    };
    let column = |arm: &str, i: usize| -> Vec<f64> { truth[arm].values().map(|v| v[i]).collect() };
    for (metric, column_index) in [(1, 1), (2, 2), (4, 3)] {
        let m = &results[metric];
        assert_eq!(m["reason"], Value::Null, "{m}");
        let (a, b) = (column("A", column_index), column("B", column_index));
        for (v, values) in [&a, &b].into_iter().enumerate() {
            assert_eq!(m["variants"][v]["users"], values.len() as u64, "{}", m["id"]);
            close(&m["variants"][v]["total"], values.iter().sum(), &format!("{} total", m["id"]));
            close(&m["variants"][v]["value"], mean_variance(values).0, &format!("{} mean", m["id"]));
        }
        let ((ma, va), (mb, vb)) = (mean_variance(&a), mean_variance(&b));
        let (lift, p) = welch_relative((ma, va, a.len() as f64), (mb, vb, b.len() as f64));
        close(&m["variants"][1]["vsControl"]["relativeLift"], lift, &format!("{} lift", m["id"]));
        close(&m["variants"][1]["vsControl"]["pValue"], p, &format!("{} p-value", m["id"]));
    }
    // The goal: a share of users, with the binomial variance.
    let goal = &results[0];
    assert_eq!((goal["role"].as_str(), goal["kind"].as_str()), (Some("goal"), Some("conversion")));
    let share = |arm: &str| {
        let values = column(arm, 0);
        let p = values.iter().sum::<f64>() / values.len() as f64;
        (p, p * (1.0 - p), values.len() as f64)
    };
    let (a, b) = (share("A"), share("B"));
    close(&goal["variants"][0]["value"], a.0, "goal rate of A");
    close(&goal["variants"][1]["total"], b.0 * b.2, "goal users of B");
    let (lift, p) = welch_relative(a, b);
    close(&goal["variants"][1]["vsControl"]["relativeLift"], lift, "goal lift");
    close(&goal["variants"][1]["vsControl"]["pValue"], p, "goal p-value");
    // The ratio: Σamount / Σviews, by the delta method.
    let pairs = |arm: &str| -> Vec<(f64, f64)> { truth[arm].values().map(|v| (v[2], v[1])).collect() };
    let ((ra, va), (rb, vb)) = (ratio_variance(&pairs("A")), ratio_variance(&pairs("B")));
    let ratio = &results[3];
    close(&ratio["variants"][0]["value"], ra, "amount per view, A");
    close(&ratio["variants"][1]["value"], rb, "amount per view, B");
    let (na, nb) = (truth["A"].len() as f64, truth["B"].len() as f64);
    let (lift, p) = welch_relative((ra, va, na), (rb, vb, nb));
    close(&ratio["variants"][1]["vsControl"]["relativeLift"], lift, "amount per view lift");
    close(&ratio["variants"][1]["vsControl"]["pValue"], p, "amount per view p-value");
    // The guardrail: more errors in B is worse; flagged when significant.
    let errors = &results[4];
    assert_eq!(errors["inverse"], true);
    let (ea, eb) = (mean_variance(&column("A", 3)), mean_variance(&column("B", 3)));
    let (_, p) = welch_relative((ea.0, ea.1, na), (eb.0, eb.1, nb));
    let failing = errors["failing"].as_array().cloned().unwrap_or_default();
    assert_eq!(failing == [json!("B")], p < 0.05 && eb.0 > ea.0, "{errors}");
    if !failing.is_empty() {
        assert_ne!(body["decision"]["verdict"], "ship", "{}", body["decision"]);
    }

    // A metric added now misses the events already counted, and says so;
    // the others keep their sums.
    let mut more = metrics.as_array().unwrap().clone();
    more.push(json!({"id": "helps", "kind": "count", "eventType": "CLICK", "where": {"button": "help"}}));
    let patched = stack.patch(&format!("/api/experiments/{id}"), &key, json!({"metrics": more})).await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["metrics"][5]["fromStart"], false);
    assert_eq!(patched.body["metrics"][1]["fromStart"], true);
    let again = stack.get(&format!("/api/experiments/{id}/results?correction=none"), &key).await.body;
    assert!(again["metrics"][5]["reason"].as_str().unwrap().contains("backfill"), "{}", again["metrics"][5]);
    assert_eq!(again["metrics"][1]["variants"], body["metrics"][1]["variants"]);
    let bad = stack
        .patch(
            &format!("/api/experiments/{id}"),
            &key,
            json!({"metrics": [{"id": "x", "kind": "sum", "role": "goal", "eventType": "SWIPE"}]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["details"][0]["field"], "metrics[0].eventType", "{:?}", bad.body);
}
