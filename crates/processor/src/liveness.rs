//! Whether the claim loop still goes round: the loop beats at the top of every pass and `/readyz`
//! asks how long ago the last beat was. One atomic store per pass, no lock: the loop must never
//! wait for a probe, and this module must never decide anything about events.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Margin over `lock_wait` before a loop counts as stalled. A pass can legitimately take a lock
/// wait (all batch slots busy with payments waiting for their locks) plus a pooled connection and
/// an error back-off (at most 5 s, `claim_loop`); 10 s covers the last two.
const SLACK: Duration = Duration::from_secs(10);
/// Never beaten yet.
const NEVER: i64 = -1;

/// The claim loop's heartbeat: cheap to clone, shared by the loop and the HTTP probes.
#[derive(Debug, Clone)]
pub(crate) struct Liveness(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    origin: Instant,
    /// Milliseconds from `origin` to the start of the last pass, or `NEVER`.
    last_beat_ms: AtomicI64,
    stale_after: Duration,
}

/// What `/readyz` reports about the loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LoopState {
    /// `run` has not started a pass yet (a processor built and not run, or only drained by
    /// `run_until_idle`).
    NotStarted,
    /// The last pass started `since` ago, within the limit.
    Running { since: Duration },
    /// The last pass started `since` ago, longer ago than the limit: the loop is stuck, or has
    /// stopped (shutdown).
    Stalled { since: Duration },
}

impl LoopState {
    pub(crate) fn is_running(self) -> bool {
        matches!(self, LoopState::Running { .. })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LoopState::NotStarted => "not_started",
            LoopState::Running { .. } => "running",
            LoopState::Stalled { .. } => "stalled",
        }
    }

    /// Seconds since the last pass started, when there was one.
    pub(crate) fn since(self) -> Option<Duration> {
        match self {
            LoopState::NotStarted => None,
            LoopState::Running { since } | LoopState::Stalled { since } => Some(since),
        }
    }
}

impl Liveness {
    /// A loop counts as stalled when its last pass started more than
    /// max(3 x `poll_interval`, `lock_wait` + 10 s) ago (the rule in docs/processor.md).
    pub(crate) fn new(poll_interval: Duration, lock_wait: Duration) -> Liveness {
        Liveness::with_limit(
            poll_interval
                .saturating_mul(3)
                .max(lock_wait.saturating_add(SLACK)),
        )
    }

    fn with_limit(stale_after: Duration) -> Liveness {
        Liveness(Arc::new(Inner {
            origin: Instant::now(),
            last_beat_ms: AtomicI64::new(NEVER),
            stale_after,
        }))
    }

    /// Called by the claim loop at the top of every pass.
    pub(crate) fn beat(&self) {
        self.beat_at(Instant::now());
    }

    fn beat_at(&self, at: Instant) {
        let ms = i64::try_from(at.saturating_duration_since(self.0.origin).as_millis())
            .unwrap_or(i64::MAX);
        self.0.last_beat_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn stale_after(&self) -> Duration {
        self.0.stale_after
    }

    pub(crate) fn check(&self) -> LoopState {
        self.check_at(Instant::now())
    }

    fn check_at(&self, now: Instant) -> LoopState {
        let Ok(ms) = u64::try_from(self.0.last_beat_ms.load(Ordering::Relaxed)) else {
            return LoopState::NotStarted;
        };
        let beat = self.0.origin + Duration::from_millis(ms);
        let since = now.saturating_duration_since(beat);
        if since > self.0.stale_after {
            LoopState::Stalled { since }
        } else {
            LoopState::Running { since }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_three_polls_or_a_lock_wait_and_slack() {
        let ms = Duration::from_millis;
        let limit = |poll, wait| Liveness::new(ms(poll), ms(wait)).stale_after();
        assert_eq!(limit(1_000, 10_000), ms(20_000));
        assert_eq!(limit(100, 0), ms(10_000));
        assert_eq!(limit(60_000, 10_000), ms(180_000));
    }

    #[test]
    fn a_loop_is_running_until_its_last_pass_is_too_old() {
        let liveness = Liveness::with_limit(Duration::from_secs(3));
        let start = liveness.0.origin;
        assert_eq!(liveness.check_at(start), LoopState::NotStarted);
        assert!(!liveness.check().is_running());

        let clone = liveness.clone();
        clone.beat_at(start + Duration::from_secs(1));
        let at = |secs| liveness.check_at(start + Duration::from_secs(secs));
        assert_eq!(
            at(4),
            LoopState::Running {
                since: Duration::from_secs(3)
            }
        );
        assert_eq!(
            at(5),
            LoopState::Stalled {
                since: Duration::from_secs(4)
            }
        );
        clone.beat_at(start + Duration::from_secs(5));
        assert!(at(5).is_running());
    }
}
