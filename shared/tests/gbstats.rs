//! The results engines against GrowthBook's own stats package: every case
//! is computed by `results::compute` (what the API answers) and by gbstats
//! (`scripts/gbstats_reference.py`, in the test venv `make test` builds),
//! relative and absolute lifts alike.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use shared::domain::experiment::new_experiment;
use shared::domain::results::{Analysis, Engine, VsControl, compute};
use shared::domain::stats::GaussianPrior;
use shared::domain::summary::Totals;

struct Case {
    control: (u64, u64),
    treatment: (u64, u64),
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
            "control": [self.control.0, self.control.1],
            "treatment": [self.treatment.0, self.treatment.1],
            "alpha": 1.0 - self.confidence, "engine": engine, "tuning": tuning, "prior": prior,
        })
    }

    /// The treatment's comparison as the results endpoint computes it.
    fn ours(&self) -> VsControl {
        let experiment =
            new_experiment(&json!({"name": "x", "variants": ["A", "B"]}), chrono::Utc::now()).unwrap();
        let totals = |(users, converted): (u64, u64)| Totals {
            events: users,
            users,
            conversions: converted,
            converted_users: converted,
        };
        let data =
            HashMap::from([("A".to_owned(), totals(self.control)), ("B".to_owned(), totals(self.treatment))]);
        let analysis = Analysis { confidence: self.confidence, engine: self.engine, ..Analysis::default() };
        let results = compute(&experiment, &data, &analysis, None);
        results.variants[1].vs_control.clone().unwrap()
    }
}

/// A spread of sample sizes, rates (lifts of both signs, zero among them),
/// confidence levels, tunings and priors, from a fixed seed.
fn cases() -> Vec<Case> {
    let mut seed: u64 = 0x9e37_79b9;
    let mut draw = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let sizes = [40, 200, 1_000, 5_000, 20_000, 250_000];
    let rates = [0.02, 0.05, 0.1, 0.11, 0.3, 0.5, 0.8];
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
        for _ in 0..24 {
            let arm = |size: u64, rate: f64| (size, ((size as f64) * rate).round() as u64);
            let control = arm(sizes[draw(6) as usize], rates[draw(7) as usize]);
            let treatment = arm(sizes[draw(6) as usize], rates[draw(7) as usize]);
            let confidence = [0.95, 0.9, 0.99][draw(3) as usize];
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
