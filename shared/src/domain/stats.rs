//! Statistics for experiment metrics: pure functions of each variant's
//! sufficient statistics ([`Sample`]: users and per-user sums), so results
//! cost O(variants × metrics).
//!
//! Conventions follow GrowthBook's gbstats frequentist engine: Welch t-tests
//! on absolute and relative lift (delta method for the relative SE), a flat
//! prior Gaussian posterior for chance to beat control, Wilson intervals per
//! variant, a χ² sample-ratio-mismatch test, and Holm-Bonferroni across
//! treatments. Where a figure is undefined (no users, a rate of 0 or 1, a
//! control rate of 0) it is `None`, never NaN.

use statrs::distribution::{ChiSquared, Continuous, ContinuousCDF, Normal, StudentsT};

/// Users and converted users of one variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm {
    pub users: u64,
    pub converted: u64,
}

impl Arm {
    pub fn new(users: u64, converted: u64) -> Self {
        Self { users, converted: converted.min(users) }
    }

    pub fn rate(&self) -> Option<f64> {
        (self.users > 0).then(|| self.converted as f64 / self.users as f64)
    }
}

/// A variant's sufficient statistics for one metric, as gbstats takes
/// them: a proportion (users, and how many converted), a mean of per-user
/// values (their sum and sum of squares), or a ratio of two per-user sums
/// (each one's sums, and the sum of their products, for the delta method).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample {
    Proportion { users: u64, converted: u64 },
    Mean { users: u64, sum: f64, sum_squares: f64 },
    Ratio { users: u64, numerator: Moments, denominator: Moments, sum_of_products: f64 },
}

/// Σy and Σy² of one per-user value over a variant's users.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub sum: f64,
    pub sum_squares: f64,
}

impl Moments {
    fn mean(&self, users: f64) -> f64 {
        if users > 0.0 { self.sum / users } else { 0.0 }
    }

    /// The sample variance (n − 1 in the denominator, as gbstats').
    fn variance(&self, users: f64) -> f64 {
        if users <= 1.0 { 0.0 } else { (self.sum_squares - self.sum.powi(2) / users) / (users - 1.0) }
    }
}

impl From<Arm> for Sample {
    fn from(arm: Arm) -> Self {
        Sample::Proportion { users: arm.users, converted: arm.converted }
    }
}

impl Sample {
    pub fn users(&self) -> u64 {
        match *self {
            Sample::Proportion { users, .. } | Sample::Mean { users, .. } | Sample::Ratio { users, .. } => {
                users
            }
        }
    }

    /// The metric's value for the variant: the conversion rate, the mean
    /// per user, or the ratio of the two sums.
    pub fn mean(&self) -> f64 {
        let n = self.users() as f64;
        match *self {
            Sample::Proportion { converted, .. } => {
                Moments { sum: converted as f64, sum_squares: 0.0 }.mean(n)
            }
            Sample::Mean { sum, sum_squares, .. } => Moments { sum, sum_squares }.mean(n),
            Sample::Ratio { numerator, denominator, .. } => {
                if denominator.sum == 0.0 {
                    0.0
                } else {
                    numerator.sum / denominator.sum
                }
            }
        }
    }

    /// The variance of one user's contribution: p(1 − p), the sample
    /// variance, or the delta method's for a ratio (gbstats'
    /// `RatioStatistic`), so that `variance / users` is the squared
    /// standard error of [`Sample::mean`].
    pub fn variance(&self) -> f64 {
        let n = self.users() as f64;
        match *self {
            Sample::Proportion { .. } => {
                let p = self.mean();
                p * (1.0 - p)
            }
            Sample::Mean { sum, sum_squares, .. } => Moments { sum, sum_squares }.variance(n),
            Sample::Ratio { numerator, denominator, sum_of_products, .. } => {
                let mean_d = denominator.mean(n);
                if mean_d == 0.0 || n <= 1.0 {
                    return 0.0;
                }
                let mean_m = numerator.mean(n);
                let covariance = (sum_of_products - numerator.sum * denominator.sum / n) / (n - 1.0);
                numerator.variance(n) / mean_d.powi(2) - 2.0 * covariance * mean_m / mean_d.powi(3)
                    + mean_m.powi(2) * denominator.variance(n) / mean_d.powi(4)
            }
        }
    }
}

/// Why a comparison could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undefined {
    TooFewUsers,
    ZeroControlRate,
    NoVariance,
}

impl Undefined {
    pub fn reason(self) -> &'static str {
        match self {
            Undefined::TooFewUsers => "each variant needs at least 2 users",
            Undefined::ZeroControlRate => "the control's value is 0, so relative lift is undefined",
            Undefined::NoVariance => "every user has the same value, in both variants",
        }
    }
}

/// An estimate with its standard error, test and interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub standard_error: f64,
    pub t: f64,
    pub degrees_of_freedom: f64,
    pub p_value: f64,
    pub interval: (f64, f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub absolute: Estimate,
    pub relative: Estimate,
    /// P(treatment beats control) under a flat prior on the relative lift.
    pub chance_to_beat_control: f64,
}

/// Welch–Satterthwaite degrees of freedom for two arms.
fn welch_dof(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (va, na) = a;
    let (vb, nb) = b;
    let numerator = (vb / nb + va / na).powi(2);
    let denominator = vb.powi(2) / (nb.powi(2) * (nb - 1.0)) + va.powi(2) / (na.powi(2) * (na - 1.0));
    numerator / denominator
}

fn t_test(value: f64, standard_error: f64, dof: f64, alpha: f64) -> Option<Estimate> {
    if !(standard_error > 0.0 && standard_error.is_finite() && dof.is_finite() && dof > 0.0) {
        return None;
    }
    let t_dist = StudentsT::new(0.0, 1.0, dof).ok()?;
    let t = value / standard_error;
    let p_value = (2.0 * t_dist.sf(t.abs())).clamp(0.0, 1.0);
    let critical = t_dist.inverse_cdf(1.0 - alpha / 2.0);
    let half = critical * standard_error;
    Some(Estimate {
        value,
        standard_error,
        t,
        degrees_of_freedom: dof,
        p_value,
        interval: (value - half, value + half),
    })
}

/// Compares a treatment's conversion rate with the control's at
/// significance level `alpha`.
pub fn compare(control: Arm, treatment: Arm, alpha: f64) -> Result<Comparison, Undefined> {
    compare_samples(&control.into(), &treatment.into(), alpha)
}

/// Compares a treatment's metric with the control's at significance level
/// `alpha`: gbstats' `TwoSidedTTest`, for any kind of [`Sample`].
pub fn compare_samples(control: &Sample, treatment: &Sample, alpha: f64) -> Result<Comparison, Undefined> {
    if control.users() < 2 || treatment.users() < 2 {
        return Err(Undefined::TooFewUsers);
    }
    let (pa, pb) = (control.mean(), treatment.mean());
    let (va, vb) = (control.variance(), treatment.variance());
    let (na, nb) = (control.users() as f64, treatment.users() as f64);
    if pa == 0.0 {
        return Err(Undefined::ZeroControlRate);
    }
    if va <= 0.0 && vb <= 0.0 {
        return Err(Undefined::NoVariance);
    }
    let dof = welch_dof((va, na), (vb, nb));
    let absolute_se = (vb / nb + va / na).sqrt();
    let absolute = t_test(pb - pa, absolute_se, dof, alpha).ok_or(Undefined::NoVariance)?;
    let relative_se = ((vb / nb) / pa.powi(2) + (va / na) * pb.powi(2) / pa.powi(4)).sqrt();
    let relative = t_test((pb - pa) / pa, relative_se, dof, alpha).ok_or(Undefined::NoVariance)?;
    let normal = Normal::standard();
    let chance_to_beat_control = normal.cdf(relative.value / relative.standard_error);
    Ok(Comparison { absolute, relative, chance_to_beat_control })
}

/// The default tuning of sequential intervals: the sample size (both arms)
/// at which the confidence sequence is tightest, as in GrowthBook.
pub const DEFAULT_SEQUENTIAL_TUNING: f64 = 5_000.0;

/// An always-valid confidence sequence around `estimate` (Waudby-Smith et
/// al. 2023, the asymptotic one of their eq. 9, with ρ from eq. 161 tuned
/// to be tightest at `tuning` observations), and its always-valid p-value
/// (eq. 155) against no effect, for `observations` units in both arms: an
/// interval one may watch as data arrive and stop on when it excludes 0,
/// with the false-positive rate still `alpha`. The conventions (and the
/// variance, the estimate's standard error squared) are gbstats'
/// `SequentialTwoSidedTTest`.
pub fn sequential(estimate: &Estimate, observations: f64, alpha: f64, tuning: f64) -> (f64, (f64, f64)) {
    let n = observations;
    let log_alpha = alpha.ln();
    let rho_squared = (-2.0 * log_alpha + (-2.0 * log_alpha + 1.0).ln()) / tuning;
    let variance = estimate.standard_error.powi(2);
    let spread = n * rho_squared + 1.0;
    let half =
        (variance * n).sqrt() * (2.0 * spread * (spread.sqrt() / alpha).ln() / (n * n * rho_squared)).sqrt();
    let z_squared = estimate.value.powi(2) * n / variance;
    let e_value = (rho_squared * z_squared / (2.0 * spread)).exp() / spread.sqrt();
    let p_value = (1.0 / e_value).min(1.0);
    (p_value, (estimate.value - half, estimate.value + half))
}

/// How a treatment is compared with the control.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "name", rename_all = "camelCase")]
pub enum Engine {
    /// A fixed-horizon Welch t-test: valid when read once, at the planned
    /// sample size.
    #[default]
    Frequentist,
    /// Always-valid confidence sequences: results may be read at any time
    /// and acted on when an interval excludes 0. `tuning` is the sample
    /// size (both arms) at which the intervals are tightest.
    Sequential { tuning: f64 },
    /// The lift's posterior under a Gaussian prior on it (flat when
    /// `prior` is absent): chance to win, credible interval and risk.
    Bayesian { prior: Option<GaussianPrior> },
}

/// The sequential tunings an engine may have.
pub const SEQUENTIAL_TUNINGS: std::ops::RangeInclusive<f64> = 10.0..=1e9;
/// The prior means (relative lifts) a Bayesian engine may have.
pub const PRIOR_MEANS: std::ops::RangeInclusive<f64> = -10.0..=10.0;
/// The prior standard deviations a Bayesian engine may have.
pub const PRIOR_STD_DEVS: std::ops::RangeInclusive<f64> = 0.001..=100.0;

/// A Gaussian prior on the relative lift.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GaussianPrior {
    pub mean: f64,
    pub std_dev: f64,
}

/// The posterior of a lift under a Gaussian prior (flat when `None`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Posterior {
    pub mean: f64,
    pub std_dev: f64,
    /// P(lift > 0): the treatment beats the control.
    pub chance_to_win: f64,
    /// The central `1 − alpha` credible interval.
    pub interval: (f64, f64),
    /// Expected loss (in lift) of shipping the control, then of shipping
    /// the treatment: E[max(lift, 0)] and E[max(−lift, 0)].
    pub risk: (f64, f64),
}

/// Updates `prior` with a lift estimated as `estimate` (normal, with its
/// standard error): gbstats' `EffectBayesianABTest` with a relative prior.
pub fn bayesian(estimate: &Estimate, prior: Option<GaussianPrior>, alpha: f64) -> Option<Posterior> {
    let data_precision = 1.0 / estimate.standard_error.powi(2);
    let (precision, mean) = match prior {
        Some(prior) if prior.std_dev > 0.0 => {
            let prior_precision = 1.0 / prior.std_dev.powi(2);
            let precision = data_precision + prior_precision;
            (precision, (estimate.value * data_precision + prior.mean * prior_precision) / precision)
        }
        _ => (data_precision, estimate.value),
    };
    let std_dev = (1.0 / precision).sqrt();
    let posterior = Normal::new(mean, std_dev).ok()?;
    let standard = Normal::standard();
    let z = mean / std_dev;
    // E[max(X, 0)] = μΦ(μ/σ) + σφ(μ/σ), and E[max(−X, 0)] its mirror.
    let density = std_dev * standard.pdf(z);
    let risk = (mean * standard.cdf(z) + density, density - mean * standard.cdf(-z));
    Some(Posterior {
        mean,
        std_dev,
        chance_to_win: posterior.sf(0.0),
        interval: (posterior.inverse_cdf(alpha / 2.0), posterior.inverse_cdf(1.0 - alpha / 2.0)),
        risk: (risk.0.max(0.0), risk.1.max(0.0)),
    })
}

/// Wilson score interval of a conversion rate.
pub fn wilson_interval(arm: Arm, alpha: f64) -> Option<(f64, f64)> {
    let n = arm.users as f64;
    let p = arm.rate()?;
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Users per variant below which the SRM check is not evaluated.
pub const SRM_MIN_USERS: u64 = 8;
/// p-value below which users per variant are declared mismatched.
pub const SRM_THRESHOLD: f64 = 0.001;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Srm {
    pub chi_square: f64,
    pub p_value: f64,
    pub mismatch: bool,
}

/// χ² goodness of fit of observed users against expected weights (any
/// positive scale). `None` below [`SRM_MIN_USERS`] users in some variant.
pub fn sample_ratio_mismatch(users: &[u64], weights: &[f64]) -> Option<Srm> {
    if users.len() < 2 || users.len() != weights.len() || users.iter().any(|&u| u < SRM_MIN_USERS) {
        return None;
    }
    let total_users: f64 = users.iter().map(|&u| u as f64).sum();
    let total_weight: f64 = weights.iter().sum();
    if total_weight <= 0.0 || weights.iter().any(|&w| w <= 0.0) {
        return None;
    }
    let chi_square: f64 = users
        .iter()
        .zip(weights)
        .map(|(&observed, &weight)| {
            let expected = total_users * weight / total_weight;
            (observed as f64 - expected).powi(2) / expected
        })
        .sum();
    let p_value = ChiSquared::new((users.len() - 1) as f64).ok()?.sf(chi_square);
    Some(Srm { chi_square, p_value, mismatch: p_value < SRM_THRESHOLD })
}

/// The indices of `p_values`, smallest p-value first: the ranks both
/// step-wise corrections walk.
fn ascending(p_values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    order
}

/// Holm–Bonferroni adjusted p-values, in the order given.
pub fn holm_bonferroni(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let order = ascending(p_values);
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &index) in order.iter().enumerate() {
        let value = ((m - rank) as f64 * p_values[index]).min(1.0);
        running_max = running_max.max(value);
        adjusted[index] = running_max;
    }
    adjusted
}

/// Benjamini–Hochberg adjusted p-values (the false discovery rate's), in
/// the order given: the running minimum, from the largest p-value down,
/// of `m / rank × p`.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let order = ascending(p_values);
    let mut adjusted = vec![0.0; m];
    let mut running_min: f64 = 1.0;
    for (rank, &index) in order.iter().enumerate().rev() {
        running_min = running_min.min(m as f64 / (rank + 1) as f64 * p_values[index]);
        adjusted[index] = running_min;
    }
    adjusted
}

/// How p-values are adjusted for comparing several treatments (and, with
/// several metrics, metrics) at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Correction {
    /// Holm–Bonferroni: the family-wise error rate, as before.
    #[default]
    Holm,
    /// Benjamini–Hochberg: the false discovery rate (more power, more
    /// false positives among many comparisons).
    Bh,
    /// None: each comparison at the stated level on its own.
    None,
}

impl Correction {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "holm" => Some(Correction::Holm),
            "bh" => Some(Correction::Bh),
            "none" => Some(Correction::None),
            _ => None,
        }
    }

    pub fn adjust(self, p_values: &[f64]) -> Vec<f64> {
        match self {
            Correction::Holm => holm_bonferroni(p_values),
            Correction::Bh => benjamini_hochberg(p_values),
            Correction::None => p_values.to_vec(),
        }
    }
}

/// Users per variant needed to detect a relative lift of `mde` over a
/// control rate `baseline` with a two-sided test at `alpha` and `power`.
pub fn required_users_per_variant(baseline: f64, mde: f64, alpha: f64, power: f64) -> Option<u64> {
    let treatment = baseline * (1.0 + mde);
    if !(baseline > 0.0 && baseline < 1.0 && treatment > 0.0 && treatment < 1.0 && mde != 0.0) {
        return None;
    }
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - alpha / 2.0) + normal.inverse_cdf(power);
    let variance = baseline * (1.0 - baseline) + treatment * (1.0 - treatment);
    Some((z * z * variance / (treatment - baseline).powi(2)).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!((actual - expected).abs() <= tolerance, "{actual} != {expected} (±{tolerance})");
    }

    /// gbstats reference: control 100/1000 vs treatment 130/1000.
    #[test]
    fn matches_gbstats_reference_values() {
        let c = compare(Arm::new(1000, 100), Arm::new(1000, 130), 0.05).unwrap();
        close(c.relative.value, 0.30, 1e-12);
        close(c.relative.standard_error, 0.162850, 1e-6);
        close(c.relative.t, 1.84219, 1e-5);
        close(c.relative.degrees_of_freedom, 1972.48, 0.01);
        close(c.relative.p_value, 0.065597, 1e-6);
        close(c.relative.interval.0, -0.019375, 1e-6);
        close(c.relative.interval.1, 0.619375, 1e-6);
        close(c.absolute.value, 0.03, 1e-12);
        close(c.absolute.standard_error, 0.014251, 1e-6);
        close(c.absolute.p_value, 0.035411, 1e-6);
        close(c.absolute.interval.0, 0.002051, 1e-6);
        close(c.absolute.interval.1, 0.057949, 1e-6);
        close(c.chance_to_beat_control, 0.967276, 1e-6);
    }

    #[test]
    fn srm_reference_values() {
        let two = sample_ratio_mismatch(&[5100, 4900], &[50.0, 50.0]).unwrap();
        close(two.chi_square, 4.0, 1e-9);
        close(two.p_value, 0.0455, 1e-4);
        assert!(!two.mismatch);
        let skewed = sample_ratio_mismatch(&[10300, 9700], &[50.0, 50.0]).unwrap();
        close(skewed.chi_square, 18.0, 1e-9);
        close(skewed.p_value, 2.209e-5, 1e-8);
        assert!(skewed.mismatch);
        let three = sample_ratio_mismatch(&[3400, 3300, 3300], &[1.0, 1.0, 1.0]).unwrap();
        close(three.chi_square, 2.0, 1e-9);
        close(three.p_value, 0.3679, 1e-4);
        assert_eq!(sample_ratio_mismatch(&[7, 100], &[50.0, 50.0]), None, "too few users");
    }

    #[test]
    fn holm_reference_values() {
        let adjusted = holm_bonferroni(&[0.01, 0.04, 0.03, 0.005]);
        for (a, e) in adjusted.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            close(*a, e, 1e-12);
        }
        assert!(holm_bonferroni(&[]).is_empty());
    }

    #[test]
    fn benjamini_hochberg_reference_values() {
        // By hand: sorted 0.005, 0.01, 0.03, 0.04 → 4/1·0.005, 4/2·0.01,
        // 4/3·0.03, 4/4·0.04 = 0.02, 0.02, 0.04, 0.04, then running minima
        // from the top (R's p.adjust(…, "BH") gives the same).
        let adjusted = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]);
        for (a, e) in adjusted.iter().zip([0.02, 0.04, 0.04, 0.02]) {
            close(*a, e, 1e-12);
        }
        // A larger p-value's smaller product lowers the smaller ones':
        // 3/1·0.04 = 0.12 and 3/2·0.045 = 0.0675 both fall to 3/3·0.05.
        for (a, e) in benjamini_hochberg(&[0.04, 0.045, 0.05]).iter().zip([0.05, 0.05, 0.05]) {
            close(*a, e, 1e-12);
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(Correction::None.adjust(&[0.2, 0.01]), vec![0.2, 0.01]);
    }

    #[test]
    fn wilson_reference_values() {
        // Wilson 95% interval for 81/263 (Wikipedia / R's prop.test without correction).
        let (lo, hi) = wilson_interval(Arm::new(263, 81), 0.05).unwrap();
        close(lo, 0.2553, 1e-4);
        close(hi, 0.3662, 1e-4);
        assert_eq!(wilson_interval(Arm::new(0, 0), 0.05), None);
        let (lo, hi) = wilson_interval(Arm::new(10, 0), 0.05).unwrap();
        close(lo, 0.0, 1e-12);
        close(hi, 0.2775, 1e-4);
    }

    #[test]
    fn sample_size_reference_value() {
        // 10% baseline, 20% relative lift, α 0.05, power 0.8: the classic
        // two-proportion formula gives 3,839 users per arm.
        assert_eq!(required_users_per_variant(0.10, 0.20, 0.05, 0.8), Some(3839));
        assert_eq!(required_users_per_variant(0.0, 0.05, 0.05, 0.8), None);
    }

    #[test]
    fn guard_rails_give_reasons_not_nan() {
        assert_eq!(compare(Arm::new(1, 1), Arm::new(100, 10), 0.05), Err(Undefined::TooFewUsers));
        assert_eq!(compare(Arm::new(100, 0), Arm::new(100, 10), 0.05), Err(Undefined::ZeroControlRate));
        assert_eq!(compare(Arm::new(100, 100), Arm::new(100, 100), 0.05), Err(Undefined::NoVariance));
        assert!(compare(Arm::new(100, 100), Arm::new(100, 90), 0.05).is_ok());
    }

    proptest! {
        #[test]
        fn intervals_contain_estimates_and_p_values_are_probabilities(
            na in 2u64..100_000, nb in 2u64..100_000, fa in 0.0f64..1.0, fb in 0.0f64..1.0,
        ) {
            let control = Arm::new(na, (na as f64 * fa) as u64);
            let treatment = Arm::new(nb, (nb as f64 * fb) as u64);
            if let Ok(c) = compare(control, treatment, 0.05) {
                for estimate in [c.absolute, c.relative] {
                    prop_assert!(estimate.interval.0 <= estimate.value && estimate.value <= estimate.interval.1);
                    prop_assert!((0.0..=1.0).contains(&estimate.p_value));
                }
                prop_assert!((0.0..=1.0).contains(&c.chance_to_beat_control));
            }
            if let Some((lo, hi)) = wilson_interval(control, 0.05) {
                let p = control.rate().unwrap();
                prop_assert!(lo <= p + 1e-12 && p <= hi + 1e-12);
            }
        }

        #[test]
        fn swapping_arms_mirrors_the_absolute_test(
            na in 2u64..50_000, nb in 2u64..50_000, fa in 0.01f64..0.99, fb in 0.01f64..0.99,
        ) {
            let a = Arm::new(na, ((na as f64 * fa) as u64).max(1));
            let b = Arm::new(nb, ((nb as f64 * fb) as u64).max(1));
            if let (Ok(ab), Ok(ba)) = (compare(a, b, 0.05), compare(b, a, 0.05)) {
                prop_assert!((ab.absolute.value + ba.absolute.value).abs() < 1e-12);
                prop_assert!((ab.absolute.p_value - ba.absolute.p_value).abs() < 1e-9);
                prop_assert!((ab.absolute.standard_error - ba.absolute.standard_error).abs() < 1e-12);
            }
        }
    }
}
