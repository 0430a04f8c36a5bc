//! Per-API-key token buckets, as API Gateway usage plans apply them: one
//! bucket per key and route group. Keys are tracked by hash, never in clear.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use shared::api::Function;

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ingest: Limit { per_second: 100, burst: 200 },
            analytics: Limit { per_second: 20, burst: 40 },
            experiments: Limit { per_second: 10, burst: 20 },
        }
    }
}

pub struct Throttle {
    ingest: DefaultKeyedRateLimiter<String>,
    analytics: DefaultKeyedRateLimiter<String>,
    experiments: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

fn limiter(limit: Limit) -> DefaultKeyedRateLimiter<String> {
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
            clock: DefaultClock::default(),
        }
    }

    /// Takes a token for this key, or says how many seconds to wait.
    pub fn check(&self, function: Function, key_hash: &str) -> Result<(), u64> {
        let limiter = match function {
            Function::Ingest => &self.ingest,
            Function::Summary => &self.analytics,
            Function::Experiments => &self.experiments,
            Function::Health | Function::Admin => return Ok(()),
        };
        limiter.check_key(&key_hash.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets idle keys so unknown keys cannot grow memory without bound.
    pub fn forget_idle(&self) {
        self.ingest.retain_recent();
        self.analytics.retain_recent();
        self.experiments.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_refuses_with_a_wait() {
        let throttle =
            Throttle::new(Limits { experiments: Limit { per_second: 1, burst: 3 }, ..Limits::default() });
        for _ in 0..3 {
            assert_eq!(throttle.check(Function::Experiments, "k1"), Ok(()));
        }
        let wait = throttle.check(Function::Experiments, "k1").unwrap_err();
        assert!((1..=1).contains(&wait));
        assert_eq!(throttle.check(Function::Experiments, "k2"), Ok(()), "keys have separate buckets");
        assert_eq!(throttle.check(Function::Summary, "k1"), Ok(()), "groups have separate buckets");
        assert_eq!(throttle.check(Function::Health, "k1"), Ok(()));
    }
}
