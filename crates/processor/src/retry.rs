//! When to try an event again after a transient failure: exponential back-off with jitter.
//!
//! The delay before attempt n+1 is `retry_base * 2^(n-1)`, capped at `retry_max`, then scaled
//! by a random factor in [0.8, 1.2] (and capped again). `n` is the event's `attempts`, which each
//! claim bumps, so the first retry waits about `retry_base`. The ±20% jitter spreads events that
//! failed together (a database blip, a payment whose collection is not created yet) while
//! keeping each delay close to the documented curve, which operators can reason about.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// Whether an event claimed `attempts` times has had all its tries.
    pub(crate) fn exhausted(&self, attempts: i32) -> bool {
        i64::from(attempts) >= i64::from(self.max_attempts)
    }

    pub(crate) fn delay(&self, attempts: i32, rng: &mut impl Rng) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 31)).unwrap_or(0);
        let raw = self.base.saturating_mul(1u32 << doublings).min(self.max);
        raw.mul_f64(rng.random_range(0.8..=1.2)).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(1_000),
            max: Duration::from_millis(60_000),
            max_attempts: 5,
        }
    }

    #[test]
    fn delays_double_within_the_jitter() {
        let mut rng = rand::rng();
        for attempts in 1..=6 {
            let nominal = 1_000.0 * f64::from(2u32.pow(attempts as u32 - 1));
            for _ in 0..200 {
                let ms = policy().delay(attempts, &mut rng).as_secs_f64() * 1_000.0;
                assert!(ms >= nominal * 0.8 - 1e-6, "attempt {attempts}: {ms}");
                assert!(ms <= nominal * 1.2 + 1e-6, "attempt {attempts}: {ms}");
            }
        }
    }

    #[test]
    fn delays_never_pass_the_cap() {
        let mut rng = rand::rng();
        for attempts in [7, 8, 30, 31, 32, 1_000, i32::MAX] {
            let delay = policy().delay(attempts, &mut rng);
            assert!(delay <= Duration::from_secs(60), "{attempts}: {delay:?}");
            assert!(delay >= Duration::from_secs(48), "{attempts}: {delay:?}");
        }
        // A claim count below one (never stored, but not trusted) waits the base.
        assert!(policy().delay(0, &mut rng) <= Duration::from_millis(1_200));
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut rng = rand::rng();
        let delays: std::collections::BTreeSet<_> =
            (0..50).map(|_| policy().delay(3, &mut rng)).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn attempts_run_out_at_max_attempts() {
        assert!(!policy().exhausted(4));
        assert!(policy().exhausted(5));
        assert!(policy().exhausted(6));
    }
}
