//! How long an operator's console session lives: the rule the api applies to a session on every
//! request, and the cutoffs by which the api and `inboxctl purge` delete the rows of ended ones.
//! Pure, like the rest of this crate: callers pass the session's times and "now".

use chrono::{DateTime, TimeDelta, Utc};

/// A session unused this long is over.
pub const IDLE: TimeDelta = TimeDelta::minutes(30);
/// A session is over this long after sign-in, used or not.
pub const LIFETIME: TimeDelta = TimeDelta::hours(12);
/// The stored time of last use is moved forward at most this often. Writing it on every page
/// view would make each view of every replica a write; one write a minute per session keeps the
/// idle limit within a minute of exact (a session can end up to `TOUCH_EVERY` early, never late).
pub const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// Where a session stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Open; `touch` when its stored last use is `TOUCH_EVERY` old or more and should be moved
    /// to now.
    Live { touch: bool },
    /// Unused for `IDLE`.
    Idle,
    /// Signed in `LIFETIME` ago.
    Expired,
}

impl Standing {
    pub fn is_live(self) -> bool {
        matches!(self, Standing::Live { .. })
    }
}

/// The standing of a session signed in at `started_at` and last used (as stored) at
/// `last_seen_at`. A `last_seen_at` ahead of `now` (another replica's clock runs a little
/// ahead) counts as just used.
pub fn standing(
    started_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Standing {
    if now - started_at >= LIFETIME {
        Standing::Expired
    } else if now - last_seen_at >= IDLE {
        Standing::Idle
    } else {
        Standing::Live {
            touch: now - last_seen_at >= TOUCH_EVERY,
        }
    }
}

/// A stored session is over when it was last used at or before `idle`, or signed in at or
/// before `lifetime`: the same rule as `standing`, as two instants a query can compare with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub idle: DateTime<Utc>,
    pub lifetime: DateTime<Utc>,
}

pub fn cutoffs(now: DateTime<Utc>) -> Cutoffs {
    Cutoffs {
        idle: now - IDLE,
        lifetime: now - LIFETIME,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn a_session_lives_while_used_and_never_past_its_lifetime() {
        let start = at(0);
        let mut last_seen = start;
        let mut now = start;
        // Used every 20 minutes, it lives until its lifetime ends.
        while now - start + TimeDelta::minutes(20) < LIFETIME {
            now += TimeDelta::minutes(20);
            assert_eq!(
                standing(start, last_seen, now),
                Standing::Live { touch: true }
            );
            last_seen = now;
        }
        assert_eq!(
            standing(start, last_seen, start + LIFETIME),
            Standing::Expired
        );
    }

    #[test]
    fn an_unused_session_is_idle_and_a_fresh_use_is_not_written_again() {
        let start = at(0);
        let seconds = |s| start + TimeDelta::seconds(s);
        assert_eq!(
            standing(start, start, seconds(59)),
            Standing::Live { touch: false },
            "used within the minute: nothing to write"
        );
        assert_eq!(
            standing(start, start, seconds(60)),
            Standing::Live { touch: true }
        );
        assert_eq!(
            standing(start, start, start + IDLE - TimeDelta::seconds(1)),
            Standing::Live { touch: true }
        );
        assert_eq!(standing(start, start, start + IDLE), Standing::Idle);
        assert_eq!(
            standing(start, seconds(30), start),
            Standing::Live { touch: false },
            "a last use slightly in the future is a recent one"
        );
    }

    proptest! {
        /// What a query deletes by the cutoffs is exactly what `standing` calls over.
        #[test]
        fn the_cutoffs_agree_with_the_standing(
            started in 0i64..200_000,
            used_after in 0i64..200_000,
            now_after in 0i64..200_000,
        ) {
            let started_at = at(started);
            let last_seen_at = at(started + used_after);
            let now = at(started + used_after + now_after);
            let cut = cutoffs(now);
            let over_by_cutoffs = last_seen_at <= cut.idle || started_at <= cut.lifetime;
            prop_assert_eq!(!standing(started_at, last_seen_at, now).is_live(), over_by_cutoffs);
        }
    }
}
