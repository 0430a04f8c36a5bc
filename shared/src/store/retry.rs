//! Retrying what a store refuses for a while: a conflict with another
//! transaction, or throttling. One policy, which the DynamoDB adapter
//! applies to every write and the scale model (`bench`) applies to its
//! simulated DynamoDB, so that the model measures the code that runs.

use std::future::Future;
use std::time::Duration;

use super::StoreError;

/// Retries after the first attempt, before the refusal is the caller's.
pub const MAX_RETRIES: u32 = 8;

/// The wait before retry `attempt` (from 1): full jitter over an
/// exponential ceiling of 25 ms × 2^attempt (capped at 2^8), at least 5 ms.
/// `jitter(n)` draws uniformly from `0..=n`.
pub fn backoff_delay(attempt: u32, jitter: impl FnOnce(u64) -> u64) -> Duration {
    let ceiling = Duration::from_millis(25) * 2u32.saturating_pow(attempt.min(8));
    Duration::from_millis(jitter(ceiling.as_millis() as u64)).max(Duration::from_millis(5))
}

/// What one attempt came to: done (for good or ill), or refused for now.
#[derive(Debug)]
pub enum Attempt<T> {
    Done(Result<T, StoreError>),
    /// A refusal that may pass if the same request is sent again later (a
    /// conflict with another transaction, throttling).
    Again(StoreError),
}

/// Runs `attempt` until it is done, or [`MAX_RETRIES`] retries of
/// refusals for now are used up (then the last refusal).
pub async fn retrying<T, Fut>(
    mut attempt: impl FnMut() -> Fut,
    mut jitter: impl FnMut(u64) -> u64,
) -> Result<T, StoreError>
where
    Fut: Future<Output = Attempt<T>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Attempt::Done(outcome) => return outcome,
            Attempt::Again(_) if retries < MAX_RETRIES => {
                retries += 1;
                tokio::time::sleep(backoff_delay(retries, &mut jitter)).await;
            }
            Attempt::Again(refusal) => return Err(refusal),
        }
    }
}

/// Jitter from the thread's random generator.
pub fn random_jitter(max: u64) -> u64 {
    use rand::Rng;
    rand::rng().random_range(0..=max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_a_cap_and_never_fall_under_five_ms() {
        assert_eq!(backoff_delay(1, |max| max), Duration::from_millis(50));
        assert_eq!(backoff_delay(3, |max| max), Duration::from_millis(200));
        assert_eq!(backoff_delay(8, |max| max), backoff_delay(20, |max| max));
        assert_eq!(backoff_delay(8, |max| max), Duration::from_millis(6_400));
        assert_eq!(backoff_delay(4, |_| 0), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_for_now_are_retried_and_the_rest_returned() {
        let mut calls = 0;
        let outcome: Result<u32, StoreError> = retrying(
            || {
                calls += 1;
                let call = calls;
                async move {
                    if call < 3 { Attempt::Again(StoreError::Conflict) } else { Attempt::Done(Ok(call)) }
                }
            },
            |max| max,
        )
        .await;
        assert_eq!(outcome.unwrap(), 3);
        let mut calls = 0;
        let refused: Result<(), StoreError> = retrying(
            || {
                calls += 1;
                async { Attempt::Done(Err(StoreError::ConditionFailed { index: 2 })) }
            },
            |max| max,
        )
        .await;
        assert!(matches!(refused, Err(StoreError::ConditionFailed { index: 2 })));
        assert_eq!(calls, 1, "a failed condition is not retried");
        let mut calls = 0;
        let started = tokio::time::Instant::now();
        let exhausted: Result<(), StoreError> = retrying(
            || {
                calls += 1;
                async { Attempt::Again(StoreError::Unavailable("throttled".into())) }
            },
            |max| max,
        )
        .await;
        assert!(matches!(exhausted, Err(StoreError::Unavailable(_))));
        assert_eq!(calls, 1 + MAX_RETRIES);
        let waited: u64 = (1..=MAX_RETRIES).map(|n| backoff_delay(n, |max| max).as_millis() as u64).sum();
        assert_eq!(started.elapsed(), Duration::from_millis(waited));
    }
}
