//! The results engines against GrowthBook's own stats package: every case
//! is computed by us (conversion rates through `results::compute`, what
//! the API answers; means and ratios through `results::compare_to_control`,
//! which it calls) and by gbstats (`scripts/gbstats_reference.py`, in the
//! test venv `make test` builds), relative and absolute lifts alike.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use shared::domain::experiment::new_experiment;
use shared::domain::results::{Analysis, Engine, VsControl, compare_to_control, compute};
use shared::domain::stats::{GaussianPrior, Moments, Sample};
use shared::domain::summary::Totals;

struct Case {
    control: Sample,
    treatment: Sample,
    confidence: f64,
    engine: Engine,
}

impl Case {
    fn as_json(&self) -> Value {
        let (engine, tuning, prior) = match self.engine {
            Engine::Frequentist => ("frequentist", None, None),
            Engine::Sequential { tuning } => ("sequential", Some(tuning), None),
            Engine::Bayesian { prior } => {
                ("bayesian", None, prior.map(|p| json!({"mean": p.mean, "stdDev": p.std_dev})))
            }
        };
        json!({
            "control": sample_json(&self.control),
            "treatment": sample_json(&self.treatment),
            "alpha": 1.0 - self.confidence, "engine": engine, "tuning": tuning, "prior": prior,
        })
    }

    /// The treatment's comparison as the results endpoint computes it.
    fn ours(&self) -> VsControl {
        let (
            Sample::Proportion { users: na, converted: ca },
            Sample::Proportion { users: nb, converted: cb },
        ) = (self.control, self.treatment)
        else {
            return compare_to_control(&self.control, &self.treatment, self.engine, self.confidence);
        };
        let experiment =
            new_experiment(&json!({"name": "x", "variants": ["A", "B"]}), chrono::Utc::now()).unwrap();
        let totals = |(users, converted): (u64, u64)| Totals {
            events: users,
            users,
            conversions: converted,
            converted_users: converted,
        };
        let data = HashMap::from([("A".to_owned(), totals((na, ca))), ("B".to_owned(), totals((nb, cb)))]);
        let analysis = Analysis { confidence: self.confidence, engine: self.engine, ..Analysis::default() };
        let results = compute(&experiment, &data, &analysis, None);
        results.variants[1].vs_control.clone().unwrap()
    }
}

fn sample_json(sample: &Sample) -> Value {
    let moments = |m: &Moments| json!({"sum": m.sum, "sumSquares": m.sum_squares});
    match sample {
        Sample::Proportion { users, converted } => json!([users, converted]),
        Sample::Mean { users, sum, sum_squares } => {
            json!({"n": users, "sum": sum, "sumSquares": sum_squares})
        }
        Sample::Ratio { users, numerator, denominator, sum_of_products } => json!({
            "n": users, "numerator": moments(numerator), "denominator": moments(denominator),
            "sumOfProducts": sum_of_products,
        }),
    }
}

/// A deterministic stream of numbers in [0, 1).
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.next() * n as f64) as usize).min(n - 1)
    }
}

/// The sufficient statistics of `users` users whose values are drawn as a
/// metric's would be: a count of events (most users 0, a few many), or a
/// revenue (most 0, the rest a skewed amount); with `ratio`, a second
/// per-user count (sessions, at least 1) as the denominator.
fn simulated(draws: &mut Draws, users: u64, mean: f64, revenue: bool, ratio: bool) -> Sample {
    let (mut m, mut d, mut products) = (Moments::default(), Moments::default(), 0.0);
    for _ in 0..users {
        let active = draws.next() < 0.3;
        let y = match (active, revenue) {
            (false, _) => 0.0,
            (true, false) => (-(1.0 - draws.next()).ln() * mean / 0.3).floor(),
            (true, true) => (mean / 0.3 * (0.2 + 1.6 * draws.next().powi(2)) * 100.0).round() / 100.0,
        };
        let x = 1.0 + (-(1.0 - draws.next()).ln() * 2.0).floor() + y.min(3.0);
        m.sum += y;
        m.sum_squares += y * y;
        d.sum += x;
        d.sum_squares += x * x;
        products += x * y;
    }
    if ratio {
        Sample::Ratio { users, numerator: m, denominator: d, sum_of_products: products }
    } else {
        Sample::Mean { users, sum: m.sum, sum_squares: m.sum_squares }
    }
}

/// A spread of sample sizes, rates and means (lifts of both signs, zero
/// among them), confidence levels, tunings and priors, for conversion
/// rates, means and ratios, from a fixed seed.
fn cases() -> Vec<Case> {
    let mut draws = Draws(0x9e37_79b9);
    let sizes = [40, 200, 1_000, 5_000, 20_000, 250_000];
    let rates = [0.02, 0.05, 0.1, 0.11, 0.3, 0.5, 0.8];
    let means = [0.5, 1.0, 1.1, 3.0, 40.0];
    let engines = [
        Engine::Frequentist,
        Engine::Sequential { tuning: 5_000.0 },
        Engine::Sequential { tuning: 500.0 },
        Engine::Sequential { tuning: 100_000.0 },
        Engine::Bayesian { prior: None },
        Engine::Bayesian { prior: Some(GaussianPrior { mean: 0.0, std_dev: 0.3 }) },
        Engine::Bayesian { prior: Some(GaussianPrior { mean: 0.1, std_dev: 0.05 }) },
    ];
    let mut cases = Vec::new();
    for engine in engines {
        for i in 0..48 {
            let (control, treatment) = match i % 4 {
                0 | 1 => {
                    let mut arm = || {
                        let size = sizes[draws.below(6)];
                        let rate = rates[draws.below(7)];
                        Sample::Proportion { users: size, converted: ((size as f64) * rate).round() as u64 }
                    };
                    (arm(), arm())
                }
                kind => {
                    // Means and ratios of simulated users: up to 20,000 per arm.
                    let revenue = draws.next() < 0.5;
                    let arm = |draws: &mut Draws| {
                        let size = sizes[draws.below(5)];
                        let mean = means[draws.below(5)];
                        simulated(draws, size, mean, revenue, kind == 3)
                    };
                    (arm(&mut draws), arm(&mut draws))
                }
            };
            let confidence = [0.95, 0.9, 0.99][draws.below(3)];
            cases.push(Case { control, treatment, confidence, engine });
        }
    }
    cases
}

/// The test venv's Python (`scripts/venv.sh`, which `make test` runs
/// first), or `GBSTATS_PYTHON`.
fn venv_python() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::env::var("GBSTATS_PYTHON").unwrap_or_else(|_| root.join(".venv/bin/python").display().to_string())
}

fn gbstats(cases: &[Case]) -> Vec<Value> {
    let python = venv_python();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gbstats_reference.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} (the test venv: scripts/venv.sh) does not run: {e}"));
    let input = serde_json::to_vec(&cases.iter().map(Case::as_json).collect::<Vec<_>>()).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "gbstats failed (is it in the venv? scripts/venv.sh)");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn close(what: &str, ours: Option<f64>, theirs: &Value, tolerance: f64) {
    let theirs = theirs.as_f64();
    match (ours, theirs) {
        (Some(a), Some(b)) => {
            assert!((a - b).abs() <= tolerance * (1.0 + b.abs()), "{what}: ours {a}, gbstats {b}")
        }
        _ => panic!("{what}: ours {ours:?}, gbstats {theirs:?}"),
    }
}

#[test]
fn every_engine_agrees_with_gbstats() {
    let cases = cases();
    let references = gbstats(&cases);
    let mut compared = 0;
    let mut compared_by_kind = [0; 3];
    for (case, reference) in cases.iter().zip(&references) {
        let ours = case.ours();
        let what = |field: &str| format!("{field} of {}", case.as_json());
        if reference["relative"]["error"].is_string() || ours.reason.is_some() {
            // Both must see the comparison as undefined (a control rate of
            // 0 or no variance), never one of them only.
            assert!(ours.reason.is_some(), "{}: gbstats refused, we did not", what("comparison"));
            continue;
        }
        compared += 1;
        compared_by_kind[match case.control {
            Sample::Proportion { .. } => 0,
            Sample::Mean { .. } => 1,
            Sample::Ratio { .. } => 2,
        }] += 1;
        for (lift, ci, p, difference) in [
            (ours.relative_lift, ours.relative_ci, ours.p_value, "relative"),
            (ours.absolute_lift, ours.absolute_ci, ours.absolute_p_value, "absolute"),
        ] {
            let theirs = &reference[difference];
            close(&what(&format!("{difference} lift")), lift, &theirs["expected"], 1e-9);
            close(&what(&format!("{difference} ci low")), ci.map(|c| c[0]), &theirs["ci"][0], 1e-6);
            close(&what(&format!("{difference} ci high")), ci.map(|c| c[1]), &theirs["ci"][1], 1e-6);
            match case.engine {
                Engine::Bayesian { .. } => assert_eq!(p, None),
                _ => close(&what(&format!("{difference} p-value")), p, &theirs["p_value"], 1e-6),
            }
        }
        if let Engine::Bayesian { .. } = case.engine {
            let theirs = &reference["relative"];
            close(&what("chance to win"), ours.chance_to_beat_control, &theirs["chance_to_win"], 1e-9);
            let risk = ours.risk.expect("a Bayesian result has risk");
            close(&what("risk of the control"), Some(risk.control), &theirs["risk"][0], 1e-6);
            close(&what("risk of the treatment"), Some(risk.treatment), &theirs["risk"][1], 1e-6);
        }
    }
    assert!(compared >= cases.len() * 3 / 4, "only {compared} of {} cases were defined", cases.len());
    assert!(
        compared_by_kind.iter().all(|&n| n >= cases.len() / 6),
        "proportions, means and ratios compared: {compared_by_kind:?}"
    );
}

/// Benjamini–Hochberg against SciPy's `false_discovery_control` (in the
/// same venv), on p-value vectors of every size up to 12, ties included.
#[test]
fn benjamini_hochberg_agrees_with_scipy() {
    let mut seed: u64 = 0x51_7cc1_b727;
    let mut draw = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let vectors: Vec<Vec<f64>> = (1..=12)
        .flat_map(|m| (0..4).map(move |k| (m, k)))
        .map(|(m, k)| (0..m).map(|_| if k == 3 { 0.02 } else { draw().powi(k + 1) }).collect())
        .collect();
    let python = venv_python();
    let mut child = Command::new(&python)
        .args([
            "-c",
            "import json, sys; from scipy.stats import false_discovery_control as bh; \
                      json.dump([list(bh(v)) for v in json.load(sys.stdin)], sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} (the test venv: scripts/venv.sh) does not run: {e}"));
    child.stdin.take().unwrap().write_all(&serde_json::to_vec(&vectors).unwrap()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "scipy failed");
    let references: Vec<Vec<f64>> = serde_json::from_slice(&output.stdout).unwrap();
    for (vector, reference) in vectors.iter().zip(references) {
        let ours = shared::domain::stats::benjamini_hochberg(vector);
        for (a, b) in ours.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-12, "{vector:?}: ours {ours:?}, scipy {reference:?}");
        }
    }
}
