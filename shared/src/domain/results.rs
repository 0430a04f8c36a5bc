//! An experiment's results as an analyst reads them: per-variant rates with
//! intervals, lift against the control, multiple-comparison adjusted
//! p-values, the sample-ratio check and progress toward the needed sample.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::arm_sums::ArmSums;
use super::experiment::Experiment;
use super::metric::MetricSums;
pub use super::metric::{MetricKind, MetricRole};
pub use super::stats::Correction;
pub use super::stats::Engine;
use super::stats::{self, Arm, Comparison, GaussianPrior, Moments, Sample};
use super::summary::{Totals, top_rows};

pub const DEFAULT_CONFIDENCE: f64 = 0.95;
pub const DEFAULT_MDE: f64 = 0.05;
pub const DEFAULT_POWER: f64 = 0.8;

/// What a results request asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Analysis {
    pub confidence: f64,
    pub mde: f64,
    pub engine: Engine,
    pub correction: Correction,
}

impl Default for Analysis {
    fn default() -> Self {
        Self {
            confidence: DEFAULT_CONFIDENCE,
            mde: DEFAULT_MDE,
            engine: Engine::Frequentist,
            correction: Correction::Holm,
        }
    }
}

/// Users each variant needs before results ship or stop anything: fewer
/// make even a significant difference fragile (GrowthBook's minimum
/// sample plays this part).
pub const MIN_USERS_TO_DECIDE: u64 = 100;

/// What to do with the experiment, from its goal, the sample-ratio check
/// and the sample size.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub verdict: Verdict,
    /// Why, in words a reader can act on.
    pub reasons: Vec<String>,
    /// The variant to ship, with `ship`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// With `keep_running`: days until the planned sample size, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_remaining: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A treatment beats the control: ship it.
    Ship,
    /// Not enough evidence yet.
    KeepRunning,
    /// Stop: every treatment is worse, or the data cannot be trusted.
    Stop,
    /// The planned sample is in and no difference showed.
    Inconclusive,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentResults {
    pub experiment_id: String,
    pub status: super::experiment::Status,
    pub control: String,
    pub confidence_level: f64,
    pub engine: Engine,
    /// How p-values are adjusted across treatments; none with the
    /// Bayesian engine, which has no p-values.
    pub correction: Option<Correction>,
    pub decision: Decision,
    pub total_users: u64,
    pub srm: SrmResult,
    pub variants: Vec<VariantResult>,
    pub power: PowerResult,
    /// Users of events that name a variant the experiment does not define
    /// (counted apart, never dropped): at most 100 names, then `(other)`.
    pub unknown_variants: BTreeMap<String, u64>,
    /// Present, and true, when unknown variants were summed into `(other)`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Every metric of the experiment, the goal first (the same figures as
    /// the top-level ones, but for adjusted p-values: here the correction
    /// spans every goal and secondary metric × treatment).
    pub metrics: Vec<MetricResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    pub id: String,
    pub name: String,
    pub kind: MetricKind,
    pub role: MetricRole,
    /// Lower is better: a treatment wins by decreasing it (its chance to
    /// beat the control and its risk read so).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inverse: bool,
    pub variants: Vec<MetricVariant>,
    /// A guardrail's treatments that make it significantly worse (by the
    /// raw p-value or chance, uncorrected: a guardrail errs on the side of
    /// caution).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
    /// Why the metric has no figures, when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricVariant {
    pub name: String,
    pub users: u64,
    /// The metric's value: a share of users, a mean per user, or a ratio.
    pub value: f64,
    /// The per-user numerator summed over the variant's users (converted
    /// users, conversions, revenue).
    pub total: f64,
    /// `null` for the control itself.
    pub vs_control: Option<VsControl>,
}

/// The metrics every experiment has today: its goal, converted users, and
/// three per-user metrics of its conversions and their `value` (revenue),
/// from the arms' per-user sums (`domain::arm_sums`).
const METRICS: [(&str, &str, MetricKind, MetricRole); 4] = [
    ("conversion", "Converted users", MetricKind::Conversion, MetricRole::Goal),
    ("conversions_per_user", "Conversions per user", MetricKind::Count, MetricRole::Secondary),
    ("revenue_per_user", "Revenue per user", MetricKind::Sum, MetricRole::Secondary),
    ("revenue_per_conversion", "Revenue per conversion", MetricKind::Ratio, MetricRole::Secondary),
];

/// A variant's sample for a metric of [`METRICS`], and its total.
fn metric_sample(kind: MetricKind, totals: Totals, sums: ArmSums) -> (Sample, f64) {
    let users = totals.users;
    let conversions = Moments { sum: sums.conversions as f64, sum_squares: sums.conversions_squared as f64 };
    let revenue = Moments { sum: sums.revenue_units(), sum_squares: sums.revenue_squared_units() };
    match kind {
        MetricKind::Conversion => {
            (Sample::Proportion { users, converted: totals.converted_users }, totals.converted_users as f64)
        }
        MetricKind::Count => (
            Sample::Mean { users, sum: conversions.sum, sum_squares: conversions.sum_squares },
            conversions.sum,
        ),
        MetricKind::Sum => {
            (Sample::Mean { users, sum: revenue.sum, sum_squares: revenue.sum_squares }, revenue.sum)
        }
        MetricKind::Ratio => (
            Sample::Ratio {
                users,
                numerator: revenue,
                denominator: conversions,
                sum_of_products: sums.conversions_by_revenue_units(),
            },
            revenue.sum,
        ),
    }
}

/// A variant's sample for a defined metric, from its arm's users and sums.
fn defined_sample(kind: MetricKind, users: u64, sums: MetricSums) -> Sample {
    let [y, yy, x, xx, xy] = sums.units();
    match kind {
        MetricKind::Conversion => Sample::Proportion { users, converted: y.round().max(0.0) as u64 },
        MetricKind::Count | MetricKind::Sum => Sample::Mean { users, sum: y, sum_squares: yy },
        MetricKind::Ratio => Sample::Ratio {
            users,
            numerator: Moments { sum: y, sum_squares: yy },
            denominator: Moments { sum: x, sum_squares: xx },
            sum_of_products: xy,
        },
    }
}

/// What a variant's comparison says when lower is better: the chance to
/// beat the control is that of a decrease, and the risks trade places.
fn inverted(mut vs: VsControl) -> VsControl {
    vs.chance_to_beat_control = vs.chance_to_beat_control.map(|chance| 1.0 - chance);
    vs.risk = vs.risk.map(|risk| Risk { control: risk.treatment, treatment: risk.control });
    vs
}

/// The experiment's defined metrics (`domain::metric`), in their order,
/// each from its arms' sums (`metric_sums`, by variant and metric digest).
fn defined_metrics(
    experiment: &Experiment,
    totals: &HashMap<String, Totals>,
    metric_sums: &HashMap<(String, String), MetricSums>,
    analysis: &Analysis,
) -> Vec<MetricResult> {
    let Analysis { confidence, engine, .. } = *analysis;
    experiment
        .metrics
        .iter()
        .map(|definition| {
            let digest = definition.digest();
            let sample = |variant: &str| {
                let users = totals.get(variant).map_or(0, |t| t.users);
                let sums =
                    metric_sums.get(&(variant.to_owned(), digest.clone())).copied().unwrap_or_default();
                defined_sample(definition.kind, users, sums)
            };
            let reason = (!definition.from_start).then(|| {
                format!(
                    "added on {} after the experiment had counted events: its sums leave out the events \
                     stored before then (a backfill of them is not built yet)",
                    definition.defined_at.format("%Y-%m-%d %H:%M UTC")
                )
            });
            let control = sample(&experiment.control_variant);
            let variants = match reason {
                Some(_) => Vec::new(),
                None => experiment
                    .variants
                    .iter()
                    .map(|variant| {
                        let treatment = sample(&variant.name);
                        let total = match treatment {
                            Sample::Proportion { converted, .. } => converted as f64,
                            Sample::Mean { sum, .. } => sum,
                            Sample::Ratio { numerator, .. } => numerator.sum,
                        };
                        let vs_control = (variant.name != experiment.control_variant).then(|| {
                            let vs = compare_to_control(&control, &treatment, engine, confidence);
                            if definition.inverse { inverted(vs) } else { vs }
                        });
                        MetricVariant {
                            name: variant.name.clone(),
                            users: treatment.users(),
                            value: treatment.mean(),
                            total,
                            vs_control,
                        }
                    })
                    .collect(),
            };
            MetricResult {
                id: definition.id.clone(),
                name: definition.name.clone(),
                kind: definition.kind,
                role: definition.role,
                inverse: definition.inverse,
                variants,
                failing: Vec::new(),
                reason,
            }
        })
        .collect()
}

/// Every metric's figures per variant: the defined ones, else the
/// built-in ones. Comparisons are corrected across all goal and secondary
/// metrics × treatments; a guardrail's stand on their own, uncorrected.
fn metrics(
    experiment: &Experiment,
    totals: &HashMap<String, Totals>,
    sums: &HashMap<String, ArmSums>,
    metric_sums: &HashMap<(String, String), MetricSums>,
    analysis: &Analysis,
) -> Vec<MetricResult> {
    let mut results = if experiment.metrics.is_empty() {
        built_in_metrics(experiment, totals, sums, analysis)
    } else {
        defined_metrics(experiment, totals, metric_sums, analysis)
    };
    let Analysis { confidence, engine, correction, .. } = *analysis;
    let alpha = 1.0 - confidence;
    let mut tested: Vec<&mut VsControl> = results
        .iter_mut()
        .filter(|metric| metric.role != MetricRole::Guardrail)
        .flat_map(|metric| metric.variants.iter_mut())
        .filter_map(|variant| variant.vs_control.as_mut())
        .filter(|vs| vs.p_value.is_some())
        .collect();
    let raw: Vec<f64> = tested.iter().filter_map(|vs| vs.p_value).collect();
    for (vs, adjusted) in tested.iter_mut().zip(correction.adjust(&raw)) {
        vs.adjusted_p_value = Some(adjusted);
        vs.significant = adjusted < alpha;
    }
    for metric in results.iter_mut().filter(|metric| metric.role == MetricRole::Guardrail) {
        let direction = if metric.inverse { -1.0 } else { 1.0 };
        for variant in &mut metric.variants {
            let Some(vs) = variant.vs_control.as_mut() else { continue };
            if !matches!(engine, Engine::Bayesian { .. }) {
                vs.significant = vs.p_value.is_some_and(|p| p < alpha);
            }
            if vs.significant && vs.relative_lift.is_some_and(|lift| lift * direction < 0.0) {
                metric.failing.push(variant.name.clone());
            }
        }
    }
    results
}

/// The built-in metrics, from the arms' counters and per-user sums
/// (`domain::arm_sums`), before any correction.
fn built_in_metrics(
    experiment: &Experiment,
    totals: &HashMap<String, Totals>,
    sums: &HashMap<String, ArmSums>,
    analysis: &Analysis,
) -> Vec<MetricResult> {
    let Analysis { confidence, engine, .. } = *analysis;
    let of = |name: &str| {
        (totals.get(name).copied().unwrap_or_default(), sums.get(name).copied().unwrap_or_default())
    };
    // The sums cover a variant's data when their conversions are its
    // counter's: conversions stored before the sums were kept are not in
    // them.
    let uncovered: Vec<String> = experiment
        .variants
        .iter()
        .filter(|v| {
            let (t, s) = of(&v.name);
            s.conversions != t.conversions as i64
        })
        .map(|v| v.name.clone())
        .collect();
    METRICS
        .iter()
        .map(|&(id, name, kind, role)| {
            let reason = (kind != MetricKind::Conversion && !uncovered.is_empty()).then(|| {
                format!(
                    "per-user sums miss conversions stored before they were kept (variants {})",
                    uncovered.join(", ")
                )
            });
            let (control, _) = {
                let (t, s) = of(&experiment.control_variant);
                metric_sample(kind, t, s)
            };
            let variants = match reason {
                Some(_) => Vec::new(),
                None => experiment
                    .variants
                    .iter()
                    .map(|variant| {
                        let (t, s) = of(&variant.name);
                        let (sample, total) = metric_sample(kind, t, s);
                        MetricVariant {
                            name: variant.name.clone(),
                            users: t.users,
                            value: sample.mean(),
                            total,
                            vs_control: (variant.name != experiment.control_variant)
                                .then(|| compare_to_control(&control, &sample, engine, confidence)),
                        }
                    })
                    .collect(),
            };
            MetricResult {
                id: id.to_owned(),
                name: name.to_owned(),
                kind,
                role,
                inverse: false,
                variants,
                failing: Vec::new(),
                reason,
            }
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SrmResult {
    pub chi_square: Option<f64>,
    pub p_value: Option<f64>,
    pub mismatch: bool,
    /// Expected share of users per variant (weights as fractions).
    pub expected: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantResult {
    pub name: String,
    pub weight: f64,
    pub users: u64,
    pub events: u64,
    pub conversions: u64,
    pub converted_users: u64,
    pub conversion_rate: f64,
    #[schema(value_type = Option<Vec<f64>>)]
    pub conversion_rate_ci: Option<[f64; 2]>,
    /// `null` for the control itself.
    pub vs_control: Option<VsControl>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VsControl {
    pub absolute_lift: Option<f64>,
    #[schema(value_type = Option<Vec<f64>>)]
    pub absolute_ci: Option<[f64; 2]>,
    pub absolute_p_value: Option<f64>,
    pub relative_lift: Option<f64>,
    #[schema(value_type = Option<Vec<f64>>)]
    pub relative_ci: Option<[f64; 2]>,
    /// Two-sided p-value of the relative lift (gbstats' convention);
    /// always valid with the sequential engine; none with the Bayesian one.
    pub p_value: Option<f64>,
    /// Adjusted across all treatments as `correction` says.
    pub adjusted_p_value: Option<f64>,
    /// P(treatment beats control): the posterior's with the Bayesian
    /// engine, a flat prior's with the others.
    pub chance_to_beat_control: Option<f64>,
    /// Bayesian engine: the expected loss, in relative lift, of shipping
    /// the control and of shipping the treatment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    /// The adjusted p-value is below 1 − confidence; with the Bayesian
    /// engine, the chance to beat control is beyond the confidence level
    /// either way.
    pub significant: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    pub control: f64,
    pub treatment: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PowerResult {
    pub mde: f64,
    pub power: f64,
    pub baseline_rate: Option<f64>,
    pub required_users_per_variant: Option<u64>,
    pub current_users_per_variant: u64,
    pub progress: Option<f64>,
    pub estimated_days_remaining: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Computes results from the experiment's definition and its variant
/// totals, without per-user sums (so without the per-user metrics when
/// there are conversions). `days_running` (since the experiment started)
/// paces the estimate of days remaining.
pub fn compute(
    experiment: &Experiment,
    totals: &HashMap<String, Totals>,
    analysis: &Analysis,
    days_running: Option<f64>,
) -> ExperimentResults {
    compute_with_sums(experiment, totals, &HashMap::new(), &HashMap::new(), analysis, days_running)
}

/// [`compute`], with each variant's per-user sums for the built-in
/// per-user metrics, and the sums of the experiment's defined metrics (by
/// variant and metric digest).
pub fn compute_with_sums(
    experiment: &Experiment,
    totals: &HashMap<String, Totals>,
    sums: &HashMap<String, ArmSums>,
    metric_sums: &HashMap<(String, String), MetricSums>,
    analysis: &Analysis,
    days_running: Option<f64>,
) -> ExperimentResults {
    let Analysis { confidence, mde, engine, correction } = *analysis;
    let alpha = 1.0 - confidence;
    let total_weight: f64 = experiment.variants.iter().map(|v| v.weight).sum();
    let of = |name: &str| totals.get(name).copied().unwrap_or_default();
    let arm = |name: &str| {
        let t = of(name);
        Arm::new(t.users, t.converted_users)
    };
    let control = arm(&experiment.control_variant);

    // Compare each treatment with the control, then adjust for multiplicity.
    let mut comparisons: Vec<(String, VsControl)> = Vec::new();
    for variant in experiment.variants.iter().filter(|v| v.name != experiment.control_variant) {
        let treatment = arm(&variant.name);
        let vs = compare_to_control(&control.into(), &treatment.into(), engine, confidence);
        comparisons.push((variant.name.clone(), vs));
    }
    let tested: Vec<usize> = (0..comparisons.len()).filter(|&i| comparisons[i].1.p_value.is_some()).collect();
    let raw: Vec<f64> = tested.iter().filter_map(|&i| comparisons[i].1.p_value).collect();
    for (&i, adjusted) in tested.iter().zip(correction.adjust(&raw)) {
        comparisons[i].1.adjusted_p_value = Some(adjusted);
        comparisons[i].1.significant = adjusted < alpha;
    }
    let mut comparisons: HashMap<String, VsControl> = comparisons.into_iter().collect();

    let variants: Vec<VariantResult> = experiment
        .variants
        .iter()
        .map(|variant| {
            let t = of(&variant.name);
            VariantResult {
                name: variant.name.clone(),
                weight: variant.weight,
                users: t.users,
                events: t.events,
                conversions: t.conversions,
                converted_users: t.converted_users,
                conversion_rate: t.conversion_rate(),
                conversion_rate_ci: stats::wilson_interval(Arm::new(t.users, t.converted_users), alpha)
                    .map(|(lo, hi)| [lo, hi]),
                vs_control: comparisons.remove(&variant.name),
            }
        })
        .collect();

    let users: Vec<u64> = variants.iter().map(|v| v.users).collect();
    let weights: Vec<f64> = variants.iter().map(|v| v.weight).collect();
    let srm = match stats::sample_ratio_mismatch(&users, &weights) {
        Some(s) => (Some(s.chi_square), Some(s.p_value), s.mismatch, None),
        None => (
            None,
            None,
            false,
            Some(format!("needs at least {} users in every variant", stats::SRM_MIN_USERS)),
        ),
    };
    let srm = SrmResult {
        chi_square: srm.0,
        p_value: srm.1,
        mismatch: srm.2,
        expected: variants.iter().map(|v| (v.name.clone(), v.weight / total_weight)).collect(),
        reason: srm.3,
    };

    let total_users: u64 = users.iter().sum();
    let power = power(&variants, control, total_users, mde, alpha, days_running);
    let unknown: Vec<(String, u64)> = totals
        .iter()
        .filter(|(name, _)| !experiment.variants.iter().any(|v| &v.name == *name))
        .map(|(name, totals)| (name.clone(), totals.users))
        .collect();
    let (unknown, truncated) = top_rows(unknown, |users| *users, |sum, users| *sum += users);
    let metrics = metrics(experiment, totals, sums, metric_sums, analysis);
    let mut decision = match metrics
        .iter()
        .find(|m| m.role == MetricRole::Goal && !experiment.metrics.is_empty())
    {
        // A defined goal decides, with its direction and the guardrails.
        Some(goal) => {
            let candidates: Vec<Candidate> = goal
                .variants
                .iter()
                .map(|v| Candidate { name: &v.name, users: v.users, vs: v.vs_control.as_ref() })
                .collect();
            let harmed = |variant: &str| -> Vec<&str> {
                metrics
                    .iter()
                    .filter(|m| m.failing.iter().any(|name| name == variant))
                    .map(|m| m.name.as_str())
                    .collect()
            };
            match goal.reason.as_ref() {
                Some(reason) => Decision {
                    verdict: Verdict::KeepRunning,
                    reasons: vec![format!("the goal {} has no figures: {reason}", goal.name)],
                    variant: None,
                    days_remaining: None,
                },
                None => {
                    decide(&candidates, &srm, &power, engine, Goal { inverse: goal.inverse, harmed: &harmed })
                }
            }
        }
        None => {
            let candidates: Vec<Candidate> = variants
                .iter()
                .map(|v| Candidate { name: &v.name, users: v.users, vs: v.vs_control.as_ref() })
                .collect();
            decide(&candidates, &srm, &power, engine, Goal { inverse: false, harmed: &|_| Vec::new() })
        }
    };
    // A completed experiment cannot run longer: what would keep running is
    // as far as it got.
    if experiment.status == super::experiment::Status::Completed && decision.verdict == Verdict::KeepRunning {
        decision.verdict = Verdict::Inconclusive;
        decision.days_remaining = None;
        decision.reasons.insert(0, "the experiment is complete, so it cannot run longer".into());
    }
    ExperimentResults {
        experiment_id: experiment.id.clone(),
        status: experiment.status,
        control: experiment.control_variant.clone(),
        confidence_level: confidence,
        engine,
        correction: (!matches!(engine, Engine::Bayesian { .. })).then_some(correction),
        decision,
        total_users,
        srm,
        variants,
        power,
        unknown_variants: unknown.into_iter().collect(),
        truncated,
        metrics,
    }
}

/// A relative lift as a reader reads it: "+12.3%".
fn percent(lift: f64) -> String {
    format!("{:+.1}%", lift * 100.0)
}

/// A variant as the decision sees it: its users and its goal's comparison.
struct Candidate<'a> {
    name: &'a str,
    users: u64,
    vs: Option<&'a VsControl>,
}

/// The goal's direction, and which guardrails a treatment harms (by name).
struct Goal<'a> {
    inverse: bool,
    harmed: &'a dyn Fn(&str) -> Vec<&'a str>,
}

/// The verdict on the goal: a significant winner ships (with the
/// fixed-horizon engine only once the planned sample is in, since reading
/// it earlier is a peek) unless it harms a guardrail, all treatments
/// significantly worse (or winning only by harming a guardrail) stop, a
/// sample-ratio mismatch stops (nothing else can be trusted), a full
/// sample without a difference is inconclusive, and anything else keeps
/// running. With an inverse goal, better is lower.
fn decide(
    variants: &[Candidate],
    srm: &SrmResult,
    power: &PowerResult,
    engine: Engine,
    goal: Goal,
) -> Decision {
    let decision =
        |verdict, reasons: Vec<String>| Decision { verdict, reasons, variant: None, days_remaining: None };
    let keep_running = |reasons: Vec<String>| Decision {
        days_remaining: power.estimated_days_remaining.filter(|days| *days > 0.0),
        ..decision(Verdict::KeepRunning, reasons)
    };
    if srm.mismatch {
        let p = srm.p_value.map_or_else(String::new, |p| format!(" (p = {p:.2e})"));
        return decision(
            Verdict::Stop,
            vec![format!(
                "sample ratio mismatch{p}: users per variant differ from the weights more than chance explains; \
                 fix the assignment or tracking, then restart, before trusting any result"
            )],
        );
    }
    let direction = if goal.inverse { -1.0 } else { 1.0 };
    let compared: Vec<(&Candidate, &VsControl, f64)> = variants
        .iter()
        .filter_map(|v| v.vs.and_then(|vs| vs.relative_lift.map(|lift| (v, vs, lift))))
        .collect();
    let Some(first) = variants.iter().find_map(|v| v.vs) else {
        return decision(Verdict::Inconclusive, vec!["the experiment has no treatment to compare".into()]);
    };
    if compared.is_empty() {
        let why = first.reason.clone().unwrap_or_else(|| "no comparison is defined yet".into());
        return keep_running(vec![why]);
    }
    let fewest = variants.iter().map(|v| v.users).min().unwrap_or(0);
    if fewest < MIN_USERS_TO_DECIDE {
        return keep_running(vec![format!(
            "{fewest} users in the smallest variant: each needs {MIN_USERS_TO_DECIDE} before a difference is worth acting on"
        )]);
    }
    let evidence = |vs: &VsControl| match (vs.risk, vs.chance_to_beat_control, vs.adjusted_p_value) {
        (Some(risk), Some(chance), _) => format!(
            "chance to beat control {:.1}%, risk of shipping it {:.2}%",
            chance * 100.0,
            risk.treatment * 100.0
        ),
        (_, _, Some(p)) => format!("adjusted p = {p:.4}"),
        _ => String::new(),
    };
    let reached = power.progress.is_some_and(|progress| progress >= 1.0);
    let needed = power.required_users_per_variant.map_or_else(String::new, |n| format!(" of {n}"));
    let mut winners: Vec<&(&Candidate, &VsControl, f64)> =
        compared.iter().filter(|(_, vs, lift)| vs.significant && lift * direction > 0.0).collect();
    winners.sort_by(|a, b| (b.2 * direction).total_cmp(&(a.2 * direction)));
    let losers: Vec<&(&Candidate, &VsControl, f64)> =
        compared.iter().filter(|(_, vs, lift)| vs.significant && lift * direction < 0.0).collect();
    let worse = |reasons: &mut Vec<String>| {
        for (v, vs, lift) in &losers {
            reasons.push(format!(
                "{} is worse than the control: {} ({})",
                v.name,
                percent(*lift),
                evidence(vs)
            ));
        }
    };
    // Winners that harm a guardrail are not shipped.
    let mut harming = Vec::new();
    let mut safe = Vec::new();
    for winner in winners {
        let harmed = (goal.harmed)(winner.0.name);
        if harmed.is_empty() {
            safe.push(winner);
        } else {
            harming.push(format!(
                "{} beats the control on the goal ({}) but makes {} significantly worse",
                winner.0.name,
                percent(winner.2),
                harmed.join(", ")
            ));
        }
    }
    if let Some((best, vs, lift)) = safe.first() {
        if engine == Engine::Frequentist && !reached {
            return keep_running(vec![format!(
                "{} looks better than the control ({}), but a fixed-horizon test read before its planned sample \
                 ({} users per variant{needed}) overstates significance: keep it running, or read it with the \
                 sequential engine",
                best.name,
                percent(*lift),
                power.current_users_per_variant
            )]);
        }
        let mut reasons =
            vec![format!("{} beats the control: {} ({})", best.name, percent(*lift), evidence(vs))];
        reasons.extend(harming);
        worse(&mut reasons);
        return Decision { variant: Some(best.name.to_owned()), ..decision(Verdict::Ship, reasons) };
    }
    if losers.len() + harming.len() == compared.len() {
        let mut reasons = harming;
        worse(&mut reasons);
        return decision(Verdict::Stop, reasons);
    }
    if reached {
        let mut reasons = vec![format!(
            "the planned sample is in ({} users per variant{needed}) and no treatment differs significantly \
             from the control",
            power.current_users_per_variant
        )];
        reasons.extend(harming);
        return decision(Verdict::Inconclusive, reasons);
    }
    let mut reasons = vec![match power.required_users_per_variant {
        Some(required) => format!(
            "no significant difference yet: {} of {required} users per variant",
            power.current_users_per_variant
        ),
        None => power.reason.clone().unwrap_or_else(|| "no significant difference yet".into()),
    }];
    reasons.extend(harming);
    worse(&mut reasons);
    keep_running(reasons)
}

/// A treatment's metric against the control's, as `engine` reads it at
/// `confidence` (before any correction for multiple comparisons), or why
/// it cannot be compared.
pub fn compare_to_control(
    control: &Sample,
    treatment: &Sample,
    engine: Engine,
    confidence: f64,
) -> VsControl {
    match stats::compare_samples(control, treatment, 1.0 - confidence) {
        Ok(c) => vs_control(&c, (control, treatment), engine, confidence),
        Err(undefined) => VsControl { reason: Some(undefined.reason().to_owned()), ..VsControl::default() },
    }
}

/// A treatment against the control, as `engine` reads their comparison.
fn vs_control(
    c: &Comparison,
    (control, treatment): (&Sample, &Sample),
    engine: Engine,
    confidence: f64,
) -> VsControl {
    let alpha = 1.0 - confidence;
    let pair = |(low, high): (f64, f64)| Some([low, high]);
    let fixed_horizon = VsControl {
        absolute_lift: Some(c.absolute.value),
        absolute_ci: pair(c.absolute.interval),
        absolute_p_value: Some(c.absolute.p_value),
        relative_lift: Some(c.relative.value),
        relative_ci: pair(c.relative.interval),
        p_value: Some(c.relative.p_value),
        adjusted_p_value: None,
        chance_to_beat_control: Some(c.chance_to_beat_control),
        risk: None,
        significant: false,
        reason: None,
    };
    match engine {
        Engine::Frequentist => fixed_horizon,
        Engine::Sequential { tuning } => {
            let observations = (control.users() + treatment.users()) as f64;
            let (absolute_p, absolute_ci) = stats::sequential(&c.absolute, observations, alpha, tuning);
            let (relative_p, relative_ci) = stats::sequential(&c.relative, observations, alpha, tuning);
            VsControl {
                absolute_ci: pair(absolute_ci),
                absolute_p_value: Some(absolute_p),
                relative_ci: pair(relative_ci),
                p_value: Some(relative_p),
                ..fixed_horizon
            }
        }
        Engine::Bayesian { prior } => {
            let relative = stats::bayesian(&c.relative, prior, alpha);
            // The prior is on the relative lift; on the absolute one it is
            // scaled by the control's value (as gbstats rescales it).
            let rate = control.mean();
            let absolute_prior =
                prior.map(|p| GaussianPrior { mean: p.mean * rate, std_dev: p.std_dev * rate });
            let absolute = stats::bayesian(&c.absolute, absolute_prior, alpha);
            let chance = relative.map(|posterior| posterior.chance_to_win);
            VsControl {
                absolute_lift: absolute.map(|posterior| posterior.mean),
                absolute_ci: absolute.and_then(|posterior| pair(posterior.interval)),
                absolute_p_value: None,
                relative_lift: relative.map(|posterior| posterior.mean),
                relative_ci: relative.and_then(|posterior| pair(posterior.interval)),
                p_value: None,
                chance_to_beat_control: chance,
                risk: relative
                    .map(|posterior| Risk { control: posterior.risk.0, treatment: posterior.risk.1 }),
                significant: chance.is_some_and(|chance| chance >= confidence || chance <= 1.0 - confidence),
                ..fixed_horizon
            }
        }
    }
}

fn power(
    variants: &[VariantResult],
    control: Arm,
    total_users: u64,
    mde: f64,
    alpha: f64,
    days_running: Option<f64>,
) -> PowerResult {
    let baseline = control.rate();
    let current = variants.iter().map(|v| v.users).min().unwrap_or(0);
    let required = baseline.and_then(|p| stats::required_users_per_variant(p, mde, alpha, DEFAULT_POWER));
    let progress = required.map(|r| (current as f64 / r as f64).min(1.0));
    // The slowest-filling variant decides; it gets its weight's share of users.
    let min_share = variants.iter().map(|v| v.weight).fold(f64::INFINITY, f64::min)
        / variants.iter().map(|v| v.weight).sum::<f64>();
    let estimated_days_remaining = match (required, days_running) {
        (Some(required), _) if current >= required => Some(0.0),
        (Some(required), Some(days)) if days > 0.0 && total_users > 0 && min_share > 0.0 => {
            let users_per_day = total_users as f64 / days * min_share;
            Some((required - current) as f64 / users_per_day)
        }
        _ => None,
    };
    let reason = match (baseline, required) {
        (None, _) => Some("the control has no users yet".to_owned()),
        (Some(_), None) => Some("the control's conversion rate is 0 or 1; no sample size applies".to_owned()),
        _ => None,
    };
    PowerResult {
        mde,
        power: DEFAULT_POWER,
        baseline_rate: baseline,
        required_users_per_variant: required,
        current_users_per_variant: current,
        progress,
        estimated_days_remaining,
        reason,
    }
}

/// The results as CSV: a header line and one row per variant.
pub fn to_csv(results: &ExperimentResults) -> String {
    let mut csv = String::from(
        "variant,weight,users,events,conversions,convertedUsers,conversionRate,conversionRateCiLow,\
         conversionRateCiHigh,absoluteLift,relativeLift,relativeCiLow,relativeCiHigh,pValue,\
         adjustedPValue,chanceToBeatControl,significant,riskControl,riskTreatment\n",
    );
    for v in &results.variants {
        let vs = v.vs_control.clone().unwrap_or_default();
        let mut fields = vec![
            csv_field(&v.name),
            v.weight.to_string(),
            v.users.to_string(),
            v.events.to_string(),
            v.conversions.to_string(),
            v.converted_users.to_string(),
            v.conversion_rate.to_string(),
            csv_number(v.conversion_rate_ci.map(|c| c[0])),
            csv_number(v.conversion_rate_ci.map(|c| c[1])),
            csv_number(vs.absolute_lift),
        ];
        fields.extend(lift_fields(v.vs_control.as_ref()));
        fields.extend([
            csv_number(vs.risk.map(|risk| risk.control)),
            csv_number(vs.risk.map(|risk| risk.treatment)),
        ]);
        csv.push_str(&fields.join(","));
        csv.push('\n');
    }
    csv
}

fn csv_number(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A comparison's CSV fields: relative lift, its interval, the p-value
/// and adjusted p-value, chance to beat control and significance (all
/// empty for the control).
fn lift_fields(vs: Option<&VsControl>) -> [String; 7] {
    let significant = vs.map(|vs| vs.significant.to_string()).unwrap_or_default();
    let vs = vs.cloned().unwrap_or_default();
    [
        csv_number(vs.relative_lift),
        csv_number(vs.relative_ci.map(|c| c[0])),
        csv_number(vs.relative_ci.map(|c| c[1])),
        csv_number(vs.p_value),
        csv_number(vs.adjusted_p_value),
        csv_number(vs.chance_to_beat_control),
        significant,
    ]
}

/// The metrics as CSV: one row per metric × variant (the control's with
/// empty comparison fields; a metric without figures, one row with its
/// reason).
pub fn metrics_csv(results: &ExperimentResults) -> String {
    let mut csv = String::from(
        "metric,name,kind,role,variant,users,value,total,relativeLift,relativeCiLow,relativeCiHigh,pValue,\
         adjustedPValue,chanceToBeatControl,significant,reason\n",
    );
    // The kind and role as the JSON names them.
    let label = |value: Value| value.as_str().unwrap_or_default().to_owned();
    for metric in &results.metrics {
        let head = [
            csv_field(&metric.id),
            csv_field(&metric.name),
            label(serde_json::json!(metric.kind)),
            label(serde_json::json!(metric.role)),
        ];
        if metric.variants.is_empty() {
            let mut fields: Vec<String> = head.to_vec();
            fields.extend(std::iter::repeat_n(String::new(), 11));
            fields.push(csv_field(metric.reason.as_deref().unwrap_or_default()));
            csv.push_str(&fields.join(","));
            csv.push('\n');
        }
        for v in &metric.variants {
            let mut fields: Vec<String> = head.to_vec();
            fields.extend([
                csv_field(&v.name),
                v.users.to_string(),
                v.value.to_string(),
                v.total.to_string(),
            ]);
            fields.extend(lift_fields(v.vs_control.as_ref()));
            fields.push(csv_field(
                v.vs_control.as_ref().and_then(|vs| vs.reason.as_deref()).unwrap_or_default(),
            ));
            csv.push_str(&fields.join(","));
            csv.push('\n');
        }
    }
    csv
}

/// RFC 4180 quoting, and a leading `'` against spreadsheet formula injection.
pub(crate) fn csv_field(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@']) { format!("'{field}") } else { field.to_owned() };
    if field.contains([',', '"', '\n', '\r']) { format!("\"{}\"", field.replace('"', "\"\"")) } else { field }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::domain::experiment::new_experiment;

    fn totals(users: u64, converted: u64) -> Totals {
        Totals { events: users * 2, users, conversions: converted, converted_users: converted }
    }

    #[test]
    fn two_arms_match_the_reference_comparison() {
        let experiment = new_experiment(&json!({"name": "x", "variants": ["A", "B"]}), Utc::now()).unwrap();
        let data = HashMap::from([("A".to_owned(), totals(1000, 100)), ("B".to_owned(), totals(1000, 130))]);
        let results = compute(&experiment, &data, &Analysis::default(), Some(10.0));
        assert_eq!(results.control, "A");
        assert_eq!(results.total_users, 2000);
        assert!(results.variants[0].vs_control.is_none());
        let b = results.variants[1].vs_control.as_ref().unwrap();
        assert!((b.p_value.unwrap() - 0.065597).abs() < 1e-6);
        assert_eq!(b.adjusted_p_value, b.p_value, "one comparison: no adjustment");
        assert!(!b.significant);
        assert!(!results.srm.mismatch);
        assert_eq!(results.srm.expected["A"], 0.5);
        assert!(results.power.required_users_per_variant.unwrap() > 1000);
        assert!(results.power.estimated_days_remaining.unwrap() > 0.0);
        let csv = to_csv(&results);
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.lines().nth(2).unwrap().starts_with("B,50,1000,2000,130,130,0.13,"));
    }

    /// Sums of `users` users of whom `hits` have y = 1 (a conversion, or a
    /// count of one), as the writer keeps them.
    fn ones(hits: i64) -> MetricSums {
        MetricSums { y: hits * 1_000_000, yy: hits * 10_000, ..MetricSums::default() }
    }

    #[test]
    fn defined_metrics_decide_with_their_direction_and_guardrails() {
        let body = json!({"name": "x", "variants": ["A", "B"], "metrics": [
            {"id": "refunds", "kind": "conversion", "role": "goal", "inverse": true, "eventType": "CLICK",
             "where": {"action": "refund"}},
            {"id": "buys", "kind": "conversion", "eventType": "CONVERSION"},
            {"id": "errors", "kind": "count", "role": "guardrail", "inverse": true, "eventType": "CLICK",
             "where": {"action": "error"}},
        ]});
        let experiment = new_experiment(&body, Utc::now()).unwrap();
        let digests: Vec<String> = experiment.metrics.iter().map(|m| m.digest()).collect();
        let data = HashMap::from([("A".to_owned(), totals(20_000, 0)), ("B".to_owned(), totals(20_000, 0))]);
        let sums_of = |refunds: (i64, i64), errors: (i64, i64)| {
            HashMap::from([
                (("A".to_owned(), digests[0].clone()), ones(refunds.0)),
                (("B".to_owned(), digests[0].clone()), ones(refunds.1)),
                (("A".to_owned(), digests[1].clone()), ones(1_000)),
                (("B".to_owned(), digests[1].clone()), ones(1_000)),
                (("A".to_owned(), digests[2].clone()), ones(errors.0)),
                (("B".to_owned(), digests[2].clone()), ones(errors.1)),
            ])
        };
        let sequential = Analysis { engine: Engine::Sequential { tuning: 5_000.0 }, ..Analysis::default() };
        // B halves the refunds, errors unchanged: lower is better, so B ships.
        let results = compute_with_sums(
            &experiment,
            &data,
            &HashMap::new(),
            &sums_of((1_000, 500), (300, 300)),
            &sequential,
            None,
        );
        let ids: Vec<&str> = results.metrics.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["refunds", "buys", "errors"]);
        let refunds = results.metrics[0].variants[1].vs_control.as_ref().unwrap();
        assert!(refunds.relative_lift.unwrap() < -0.4 && refunds.significant, "{refunds:?}");
        assert!(refunds.chance_to_beat_control.unwrap() > 0.99, "a decrease beats the control");
        assert!(results.metrics[2].failing.is_empty());
        assert_eq!(
            (results.decision.verdict, results.decision.variant.as_deref()),
            (Verdict::Ship, Some("B"))
        );
        // The same win, but B doubles the errors: the guardrail fails, so stop.
        let results = compute_with_sums(
            &experiment,
            &data,
            &HashMap::new(),
            &sums_of((1_000, 500), (300, 600)),
            &sequential,
            None,
        );
        assert_eq!(results.metrics[2].failing, ["B"]);
        assert_eq!(results.decision.verdict, Verdict::Stop, "{:?}", results.decision);
        assert!(results.decision.reasons[0].contains("errors"), "{:?}", results.decision);
        // More refunds in B: worse on an inverse goal.
        let results = compute_with_sums(
            &experiment,
            &data,
            &HashMap::new(),
            &sums_of((500, 1_000), (300, 300)),
            &sequential,
            None,
        );
        assert_eq!(results.decision.verdict, Verdict::Stop);
        assert!(results.decision.reasons[0].starts_with("B is worse"), "{:?}", results.decision);
        // Corrected across goal and secondary metrics only.
        let goal = results.metrics[0].variants[1].vs_control.as_ref().unwrap();
        let guardrail = results.metrics[2].variants[1].vs_control.as_ref().unwrap();
        assert!(goal.adjusted_p_value.is_some() && guardrail.adjusted_p_value.is_none());
    }

    #[test]
    fn a_metric_added_late_shows_why_it_has_no_figures() {
        let body = json!({"name": "x", "variants": ["A", "B"], "metrics": [
            {"id": "clicks", "kind": "count", "role": "goal", "eventType": "CLICK"}]});
        let mut experiment = new_experiment(&body, Utc::now()).unwrap();
        experiment.metrics[0].from_start = false;
        let data = HashMap::from([("A".to_owned(), totals(500, 50)), ("B".to_owned(), totals(500, 60))]);
        let results = compute_with_sums(
            &experiment,
            &data,
            &HashMap::new(),
            &HashMap::new(),
            &Analysis::default(),
            None,
        );
        assert!(results.metrics[0].variants.is_empty());
        assert!(results.metrics[0].reason.as_deref().unwrap().contains("backfill"));
        assert_eq!(results.decision.verdict, Verdict::KeepRunning);
        assert!(results.decision.reasons[0].starts_with("the goal clicks has no figures"));
    }

    #[test]
    fn per_user_metrics_need_sums_covering_every_conversion() {
        let experiment = new_experiment(&json!({"name": "x", "variants": ["A", "B"]}), Utc::now()).unwrap();
        let data = HashMap::from([("A".to_owned(), totals(1000, 100)), ("B".to_owned(), totals(1000, 130))]);
        // Without sums (conversions stored before sums were kept): the
        // goal only, and a reason for the rest.
        let results = compute(&experiment, &data, &Analysis::default(), None);
        assert_eq!(results.metrics.len(), 4);
        assert_eq!(results.metrics[0].variants.len(), 2);
        for metric in &results.metrics[1..] {
            assert!(metric.variants.is_empty());
            assert!(metric.reason.as_deref().unwrap().contains("variants A, B"), "{:?}", metric.reason);
        }
        // With sums whose conversions match the counters: every metric,
        // with Holm across the 4 metrics' 4 comparisons.
        let sums = |c: i64, cc: i64, r: i64| ArmSums {
            conversions: c,
            conversions_squared: cc,
            revenue: r * 1_000_000,
            revenue_squared: r * r * 40_000,
            conversions_by_revenue: r * 100 * 2,
        };
        let arm_sums =
            HashMap::from([("A".to_owned(), sums(100, 400, 900)), ("B".to_owned(), sums(130, 520, 1300))]);
        let results =
            compute_with_sums(&experiment, &data, &arm_sums, &HashMap::new(), &Analysis::default(), None);
        let per_user = &results.metrics[2];
        assert_eq!(per_user.reason, None);
        assert_eq!(per_user.variants[1].total, 1300.0);
        assert!((per_user.variants[1].value - 1.3).abs() < 1e-12);
        let p_values: Vec<f64> = results
            .metrics
            .iter()
            .filter_map(|m| m.variants[1].vs_control.as_ref().and_then(|vs| vs.p_value))
            .collect();
        assert_eq!(p_values.len(), 4);
        let holm = stats::holm_bonferroni(&p_values);
        for (metric, adjusted) in results.metrics.iter().zip(holm) {
            assert_eq!(metric.variants[1].vs_control.as_ref().unwrap().adjusted_p_value, Some(adjusted));
        }
        assert_eq!(
            results.variants[1].vs_control.as_ref().unwrap().adjusted_p_value,
            results.variants[1].vs_control.as_ref().unwrap().p_value,
            "the top level corrects across treatments only, as before"
        );
        let csv = metrics_csv(&results);
        assert_eq!(csv.lines().count(), 1 + 4 * 2, "a row per metric × variant:\n{csv}");
        assert!(
            csv.lines()
                .nth(6)
                .unwrap()
                .starts_with("revenue_per_user,Revenue per user,sum,secondary,B,1000,1.3,1300,")
        );
        let without = metrics_csv(&compute(&experiment, &data, &Analysis::default(), None));
        assert_eq!(without.lines().count(), 1 + 2 + 3, "the goal's two rows, then a reason row each");
        assert!(
            without
                .lines()
                .last()
                .unwrap()
                .starts_with("revenue_per_conversion,Revenue per conversion,ratio,secondary,,")
        );
    }

    #[test]
    fn empty_experiments_have_reasons_not_numbers() {
        let experiment =
            new_experiment(&json!({"name": "x", "variants": ["A", "B", "C"]}), Utc::now()).unwrap();
        let results = compute(&experiment, &HashMap::new(), &Analysis::default(), None);
        assert_eq!(results.srm.chi_square, None);
        assert!(results.srm.reason.is_some());
        for v in &results.variants[1..] {
            let vs = v.vs_control.as_ref().unwrap();
            assert_eq!(vs.p_value, None);
            assert!(vs.reason.is_some());
        }
        assert_eq!(results.power.required_users_per_variant, None);
        serde_json::to_string(&results).unwrap();
    }

    #[test]
    fn events_of_undefined_variants_are_counted_apart_and_bounded() {
        let experiment = new_experiment(&json!({"name": "x", "variants": ["A", "B"]}), Utc::now()).unwrap();
        let mut data = HashMap::from([("A".to_owned(), totals(100, 10)), ("B".to_owned(), totals(100, 12))]);
        data.insert("typo-b".into(), totals(7, 1));
        let results = compute(&experiment, &data, &Analysis::default(), None);
        assert_eq!(results.unknown_variants, BTreeMap::from([("typo-b".to_owned(), 7)]));
        assert_eq!(results.total_users, 200, "undefined variants are not in the comparison");
        assert!(!results.truncated);
        for i in 0..5000 {
            data.insert(format!("junk-{i}"), totals(1 + i % 3, 0));
        }
        let results = compute(&experiment, &data, &Analysis::default(), None);
        assert!(results.truncated);
        assert_eq!(results.unknown_variants.len(), 101);
        assert_eq!(
            results.unknown_variants.values().sum::<u64>(),
            7 + (0..5000).map(|i| 1 + i % 3).sum::<u64>()
        );
        assert!(serde_json::to_vec(&results).unwrap().len() < 20_000);
    }

    fn decision_for(arms: &[(u64, u64)], engine: Engine, days: Option<f64>) -> Decision {
        let names: Vec<String> = (0..arms.len()).map(|i| ((b'A' + i as u8) as char).to_string()).collect();
        let experiment = new_experiment(&json!({"name": "x", "variants": names}), Utc::now()).unwrap();
        let data = names
            .iter()
            .zip(arms)
            .map(|(name, &(users, converted))| (name.clone(), totals(users, converted)));
        let analysis = Analysis { engine, ..Analysis::default() };
        compute(&experiment, &data.collect(), &analysis, days).decision
    }

    #[test]
    fn decisions_follow_the_goal_the_sample_and_the_engine() {
        let sequential = Engine::Sequential { tuning: 5_000.0 };
        let bayesian = Engine::Bayesian { prior: None };
        // A clear winner with a planned sample of ~3,800 per arm not in yet:
        // the fixed-horizon engine says wait (a peek), the sequential ship.
        let early = [(2_000, 200), (2_000, 300)];
        let peek = decision_for(&early, Engine::Frequentist, Some(5.0));
        assert_eq!(peek.verdict, Verdict::KeepRunning, "{peek:?}");
        assert!(peek.reasons[0].contains("sequential engine") && peek.days_remaining.is_some(), "{peek:?}");
        let watched = decision_for(&early, sequential, Some(5.0));
        assert_eq!((watched.verdict, watched.variant.as_deref()), (Verdict::Ship, Some("B")), "{watched:?}");
        assert!(watched.reasons[0].starts_with("B beats the control: +50.0%"), "{watched:?}");
        let believed = decision_for(&early, bayesian, None);
        assert_eq!(believed.verdict, Verdict::Ship);
        assert!(believed.reasons[0].contains("chance to beat control 100.0%"), "{believed:?}");
        // With the planned sample in, the fixed-horizon engine ships too,
        // the better of two winners.
        // (A 5 % lift over 10 % needs 57,760 users per arm.)
        let full = [(60_000, 6_000), (60_000, 6_900), (60_000, 7_500)];
        let shipped = decision_for(&full, Engine::Frequentist, Some(20.0));
        assert_eq!((shipped.verdict, shipped.variant.as_deref()), (Verdict::Ship, Some("C")), "{shipped:?}");
        // Every treatment worse: stop; no difference with the sample in:
        // inconclusive; no difference yet: keep running.
        let worse = decision_for(&[(20_000, 2_500), (20_000, 2_000), (20_000, 2_100)], sequential, None);
        assert_eq!(worse.verdict, Verdict::Stop, "{worse:?}");
        assert_eq!(worse.reasons.len(), 2);
        let flat = decision_for(&[(60_000, 6_000), (60_000, 6_030)], Engine::Frequentist, None);
        assert_eq!(flat.verdict, Verdict::Inconclusive, "{flat:?}");
        let young = decision_for(&[(1_000, 100), (1_000, 104)], Engine::Frequentist, Some(1.0));
        assert_eq!(young.verdict, Verdict::KeepRunning);
        assert!(young.reasons[0].starts_with("no significant difference yet: 1000 of "), "{young:?}");
        // Too few users, or none: keep running, saying why.
        assert!(decision_for(&[(60, 1), (60, 30)], sequential, None).reasons[0].contains("smallest variant"));
        let empty = decision_for(&[(0, 0), (0, 0)], Engine::Frequentist, None);
        assert_eq!(empty.verdict, Verdict::KeepRunning);
        assert_eq!(empty.reasons, vec![stats::Undefined::TooFewUsers.reason().to_owned()]);
        // A completed experiment that would keep running is inconclusive.
        let mut completed =
            new_experiment(&json!({"name": "x", "variants": ["A", "B"], "status": "ACTIVE"}), Utc::now())
                .unwrap();
        completed.status = crate::domain::experiment::Status::Completed;
        let data =
            HashMap::from([("A".to_owned(), totals(2_000, 200)), ("B".to_owned(), totals(2_000, 300))]);
        let stopped = compute(&completed, &data, &Analysis::default(), Some(5.0)).decision;
        assert_eq!((stopped.verdict, stopped.days_remaining), (Verdict::Inconclusive, None), "{stopped:?}");
        assert!(
            stopped.reasons[0].contains("complete") && stopped.reasons[1].contains("sequential"),
            "{stopped:?}"
        );
        // A sample ratio mismatch stops whatever the lift says.
        let skewed = decision_for(&[(10_300, 1_030), (9_700, 1_300)], sequential, None);
        assert_eq!(skewed.verdict, Verdict::Stop);
        assert!(skewed.reasons[0].starts_with("sample ratio mismatch"), "{skewed:?}");
    }

    #[test]
    fn corrections_adjust_across_treatments() {
        let experiment =
            new_experiment(&json!({"name": "x", "variants": ["A", "B", "C", "D"]}), Utc::now()).unwrap();
        let data: HashMap<String, Totals> = [("A", 1_000), ("B", 1_080), ("C", 1_100), ("D", 1_130)]
            .into_iter()
            .map(|(name, converted)| (name.to_owned(), totals(10_000, converted)))
            .collect();
        let read = |correction| {
            let results = compute(&experiment, &data, &Analysis { correction, ..Analysis::default() }, None);
            assert_eq!(results.correction, Some(correction));
            results.variants[1..].iter().map(|v| v.vs_control.clone().unwrap()).collect::<Vec<_>>()
        };
        let (holm, bh, none) = (read(Correction::Holm), read(Correction::Bh), read(Correction::None));
        let raw: Vec<f64> = none.iter().map(|vs| vs.p_value.unwrap()).collect();
        for (vs, expected) in none.iter().zip(&raw) {
            assert_eq!(vs.adjusted_p_value, Some(*expected));
        }
        for (vs, expected) in holm.iter().zip(stats::holm_bonferroni(&raw)) {
            assert_eq!(vs.adjusted_p_value, Some(expected));
        }
        for (vs, expected) in bh.iter().zip(stats::benjamini_hochberg(&raw)) {
            assert_eq!(vs.adjusted_p_value, Some(expected));
        }
        // BH is never stricter than Holm.
        for (h, b) in holm.iter().zip(&bh) {
            assert!(b.adjusted_p_value.unwrap() <= h.adjusted_p_value.unwrap());
        }
        let bayesian = Analysis { engine: Engine::Bayesian { prior: None }, ..Analysis::default() };
        assert_eq!(compute(&experiment, &data, &bayesian, None).correction, None);
    }

    #[test]
    fn csv_fields_are_escaped() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
