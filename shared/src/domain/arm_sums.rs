//! What an experiment arm's users add to the sufficient statistics of its
//! per-user conversion metrics: conversions per user, revenue per user and
//! revenue per conversion (a ratio of the two per-user sums).
//!
//! A user's conversions `c` and revenue `r` in an arm are already kept on
//! their attribution item (`domain::attribution`, the arm's [`Activity`]).
//! From them a user adds `c`, `c²`, `r`, `r²` and `c·r` to their arm's
//! [`ArmSums`]. Each is a function of the user's final state only, and the
//! store adds the *difference* of a user's contributions before and after
//! each change ([`change_in`]), in the transaction that puts the user's item:
//! so the sums telescope to the same totals whatever order events arrive
//! in, and a redelivered event (which changes no state) adds nothing.
//!
//! Revenue is in millionths ([`REVENUE_SCALE`]); its square and product
//! would overflow 64 bits in millionths, so `r²` is kept as whole
//! hundredths squared and `c·r` as hundredths, each rounded per user. The
//! rounding is of the user's own contribution (not of a difference), so it
//! telescopes too: the totals are the same integers in any order, and each
//! user is off by at most half a hundredth squared.

use super::attribution::{Activity, REVENUE_SCALE, UserAttribution};
use super::metric::rounded;

/// Millionths per hundredth, the unit `r²` and `c·r` are kept in.
const MICROS_PER_HUNDREDTH: i128 = 10_000;
/// Hundredths per unit of revenue.
const HUNDREDTHS_PER_UNIT: f64 = 100.0;

/// The sums an arm's users add to (or, as a change, what one user's
/// change adds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArmSums {
    /// Σc: the arm's conversions (equal to its counter's when the sums
    /// cover all of its data).
    pub conversions: i64,
    /// Σc².
    pub conversions_squared: i64,
    /// Σr, in millionths.
    pub revenue: i64,
    /// Σr², in hundredths squared.
    pub revenue_squared: i64,
    /// Σc·r, in hundredths.
    pub conversions_by_revenue: i64,
}

/// Names of the stored attributes, in the order of [`ArmSums::as_array`].
pub const ATTRIBUTES: [&str; 5] = ["sc", "scc", "sr", "srr", "scr"];

impl ArmSums {
    pub fn as_array(&self) -> [i64; 5] {
        [
            self.conversions,
            self.conversions_squared,
            self.revenue,
            self.revenue_squared,
            self.conversions_by_revenue,
        ]
    }

    pub fn of_array([c, cc, r, rr, cr]: [i64; 5]) -> ArmSums {
        ArmSums {
            conversions: c,
            conversions_squared: cc,
            revenue: r,
            revenue_squared: rr,
            conversions_by_revenue: cr,
        }
    }

    /// What one user with these arm activities adds.
    fn of_user(activity: &Activity) -> ArmSums {
        let c: i64 = activity.conversions.values().map(|day| day.count).sum();
        let r: i64 = activity.conversions.values().map(|day| day.revenue).sum();
        ArmSums {
            conversions: c,
            conversions_squared: c.saturating_mul(c),
            revenue: r,
            revenue_squared: rounded(i128::from(r).pow(2), MICROS_PER_HUNDREDTH.pow(2)),
            conversions_by_revenue: rounded(i128::from(c) * i128::from(r), MICROS_PER_HUNDREDTH),
        }
    }

    fn minus(self, other: ArmSums) -> ArmSums {
        let [a, b] = [self.as_array(), other.as_array()];
        ArmSums::of_array(std::array::from_fn(|i| a[i].wrapping_sub(b[i])))
    }

    #[cfg(test)]
    fn plus(self, other: ArmSums) -> ArmSums {
        let [a, b] = [self.as_array(), other.as_array()];
        ArmSums::of_array(std::array::from_fn(|i| a[i].wrapping_add(b[i])))
    }

    pub fn is_zero(&self) -> bool {
        self.as_array() == [0; 5]
    }

    /// Σr in units (of the `value` property).
    pub fn revenue_units(&self) -> f64 {
        self.revenue as f64 / REVENUE_SCALE
    }

    /// Σr² in units squared.
    pub fn revenue_squared_units(&self) -> f64 {
        self.revenue_squared as f64 / HUNDREDTHS_PER_UNIT.powi(2)
    }

    /// Σc·r in units.
    pub fn conversions_by_revenue_units(&self) -> f64 {
        self.conversions_by_revenue as f64 / HUNDREDTHS_PER_UNIT
    }
}

/// What a user's change from `before` to `after` adds to the sums of the
/// arm `(experimentId, variant)`.
pub fn change_in(before: &UserAttribution, after: &UserAttribution, arm: (&str, &str)) -> ArmSums {
    let of = |user: &UserAttribution| user.arm(arm).map(ArmSums::of_user).unwrap_or_default();
    of(after).minus(of(before))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attribution::{SegmentKind, revenue_of};
    use serde_json::json;

    fn converted(user: &mut UserAttribution, day: i64, arm: &str, value: f64) {
        let revenue = revenue_of(json!({"value": value}).as_object().unwrap());
        user.add_to_segment(day, SegmentKind::Variant, ("exp", arm), Some(revenue));
    }

    #[test]
    fn a_users_sums_are_their_conversions_and_revenue() {
        let mut user = UserAttribution::default();
        converted(&mut user, 1, "B", 19.99);
        converted(&mut user, 3, "B", 5.01);
        let sums = change_in(&UserAttribution::default(), &user, ("exp", "B"));
        assert!(change_in(&UserAttribution::default(), &user, ("exp", "A")).is_zero());
        assert_eq!(sums.conversions, 2);
        assert_eq!(sums.conversions_squared, 4);
        assert_eq!(sums.revenue, 25_000_000);
        assert_eq!(sums.revenue_squared, 6_250_000, "25.00² = 625 units² = 6,250,000 hundredths²");
        assert_eq!(sums.conversions_by_revenue, 5_000, "2 × 25.00 = 50 units = 5,000 hundredths");
        assert!((sums.revenue_squared_units() - 625.0).abs() < 1e-9);
        assert!((sums.conversions_by_revenue_units() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn changes_telescope_to_the_final_state_in_any_order() {
        let values = [12.345, 0.005, 999.99, 1.0, 0.0];
        let finals: Vec<ArmSums> = [values.to_vec(), values.iter().rev().copied().collect()]
            .into_iter()
            .map(|order| {
                let mut user = UserAttribution::default();
                let mut total = ArmSums::default();
                for (day, value) in order.into_iter().enumerate() {
                    let before = user.clone();
                    converted(&mut user, day as i64, "A", value);
                    total = total.plus(change_in(&before, &user, ("exp", "A")));
                }
                total
            })
            .collect();
        assert_eq!(finals[0], finals[1]);
        let mut user = UserAttribution::default();
        for (day, value) in values.into_iter().enumerate() {
            converted(&mut user, day as i64, "A", value);
        }
        assert_eq!(finals[0], change_in(&UserAttribution::default(), &user, ("exp", "A")));
    }

    #[test]
    fn days_without_conversions_change_nothing() {
        let mut user = UserAttribution::default();
        converted(&mut user, 1, "A", 3.0);
        let before = user.clone();
        user.add_to_segment(2, SegmentKind::Variant, ("exp", "A"), None);
        assert!(change_in(&before, &user, ("exp", "A")).is_zero());
    }
}
