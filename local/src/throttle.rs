//! Token buckets, as API Gateway usage plans apply them: one bucket per
//! tenant and route group, checked after authentication (so made-up keys
//! cannot buy fresh buckets); one per client address for callers without a
//! known key, and one per address for the admin routes. Keys are never
//! tracked at all; memory grows with tenants and addresses only, and idle
//! buckets are forgotten.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use shared::api::Function;
use shared::limiter::{RequestLimiter, Subject};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub per_second: u32,
    pub burst: u32,
}

/// Requests per second and burst for each route group (env `THROTTLE_*`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub ingest: Limit,
    pub analytics: Limit,
    pub experiments: Limit,
    /// Callers without a known key, per client address.
    pub unauthenticated: Limit,
    /// The admin routes, per client address.
    pub admin: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ingest: Limit { per_second: 100, burst: 200 },
            analytics: Limit { per_second: 20, burst: 40 },
            experiments: Limit { per_second: 10, burst: 20 },
            unauthenticated: Limit { per_second: 50, burst: 100 },
            admin: Limit { per_second: 20, burst: 50 },
        }
    }
}

pub struct Throttle {
    ingest: DefaultKeyedRateLimiter<String>,
    analytics: DefaultKeyedRateLimiter<String>,
    experiments: DefaultKeyedRateLimiter<String>,
    unauthenticated: DefaultKeyedRateLimiter<Option<std::net::IpAddr>>,
    admin: DefaultKeyedRateLimiter<Option<std::net::IpAddr>>,
    clock: DefaultClock,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(limit: Limit) -> DefaultKeyedRateLimiter<K> {
    let rate = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Self {
            ingest: limiter(limits.ingest),
            analytics: limiter(limits.analytics),
            experiments: limiter(limits.experiments),
            unauthenticated: limiter(limits.unauthenticated),
            admin: limiter(limits.admin),
            clock: DefaultClock::default(),
        }
    }

    /// Whole seconds until a refused request may be sent again.
    fn wait(&self, not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
        let wait = not_until.wait_time_from(self.clock.now());
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    }

    /// Forgets idle buckets.
    pub fn forget_idle(&self) {
        self.ingest.retain_recent();
        self.analytics.retain_recent();
        self.experiments.retain_recent();
        self.unauthenticated.retain_recent();
        self.admin.retain_recent();
    }

    /// Buckets held.
    #[cfg(test)]
    fn buckets(&self) -> usize {
        self.ingest.len()
            + self.analytics.len()
            + self.experiments.len()
            + self.unauthenticated.len()
            + self.admin.len()
    }
}

impl RequestLimiter for Throttle {
    fn check(&self, subject: Subject<'_>) -> Result<(), u64> {
        let checked = match subject {
            Subject::Tenant(tenant, function) => {
                let limiter = match function {
                    Function::Ingest => &self.ingest,
                    Function::Summary => &self.analytics,
                    // A tenant's keys (served by the admin function) count
                    // with its experiments, as the usage plan has it.
                    Function::Experiments | Function::Admin => &self.experiments,
                    Function::Health => return Ok(()),
                };
                limiter.check_key(&tenant.to_owned())
            }
            Subject::Unauthenticated(addr) => self.unauthenticated.check_key(&addr),
            Subject::Admin(addr) => self.admin.check_key(&addr),
        };
        checked.map_err(|not_until| self.wait(not_until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_refuses_with_a_wait() {
        let throttle =
            Throttle::new(Limits { experiments: Limit { per_second: 1, burst: 3 }, ..Limits::default() });
        let tenant = |id, function| Subject::Tenant(id, function);
        for _ in 0..3 {
            assert_eq!(throttle.check(tenant("t1", Function::Experiments)), Ok(()));
        }
        let wait = throttle.check(tenant("t1", Function::Experiments)).unwrap_err();
        assert!((1..=1).contains(&wait));
        assert_eq!(
            throttle.check(tenant("t2", Function::Experiments)),
            Ok(()),
            "tenants have separate buckets"
        );
        assert_eq!(throttle.check(tenant("t1", Function::Summary)), Ok(()), "groups have separate buckets");
        assert_eq!(throttle.check(tenant("t1", Function::Health)), Ok(()));
    }

    #[test]
    fn callers_without_a_known_key_share_a_bucket_per_address() {
        let one = Limit { per_second: 1, burst: 2 };
        let throttle = Throttle::new(Limits { unauthenticated: one, admin: one, ..Limits::default() });
        let here = Some(std::net::IpAddr::from([127, 0, 0, 1]));
        let there = Some(std::net::IpAddr::from([127, 0, 0, 2]));
        assert!(throttle.check(Subject::Unauthenticated(here)).is_ok());
        assert!(throttle.check(Subject::Unauthenticated(here)).is_ok());
        assert!(throttle.check(Subject::Unauthenticated(here)).is_err());
        assert!(throttle.check(Subject::Unauthenticated(there)).is_ok(), "addresses have separate buckets");
        assert!(throttle.check(Subject::Admin(here)).is_ok(), "admin routes have their own");
        assert_eq!(throttle.buckets(), 3);
    }
}
