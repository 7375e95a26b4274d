//! Console sessions in the database: stored by id hash, found, touched forward only, closed;
//! ended ones deleted at the next sign-in and by the purge; the least recently used evicted past
//! the cap.

use chrono::{DateTime, TimeDelta, Utc};
use domain::console_session::{cutoffs, IDLE, LIFETIME};
use persistence::{
    close_session, count_ended_sessions, find_session, now, open_session, purge_ended_sessions,
    touch_session, NewConsoleSession,
};

use crate::helpers::TestDb;

on_both_backends!(
    a_session_is_stored_found_touched_forward_and_closed,
    ended_sessions_go_at_sign_in_and_by_the_purge,
    past_the_cap_the_least_recently_used_go,
);

/// A sign-in at `at` that deletes nothing by time (its sweep is a day before anything here), so
/// that sessions of any age can be laid out; `sign_in` is the real one.
fn open(db: &TestDb, hash: &str, at: DateTime<Utc>, max_open: i64) {
    let long_ago = cutoffs(now() - LIFETIME - TimeDelta::days(1));
    open_session(&mut db.conn(), &new(hash, at), long_ago, max_open).unwrap();
}

fn sign_in(db: &TestDb, hash: &str, at: DateTime<Utc>) {
    open_session(&mut db.conn(), &new(hash, at), cutoffs(at), 10).unwrap();
}

fn new(hash: &str, at: DateTime<Utc>) -> NewConsoleSession<'_> {
    NewConsoleSession {
        id_hash: hash,
        key_name: "ops",
        key_fingerprint: "0123456789abcdef",
        at,
    }
}

fn hashes(db: &TestDb, of: &[&str]) -> Vec<String> {
    of.iter()
        .filter(|h| find_session(&mut db.conn(), h).unwrap().is_some())
        .map(|h| h.to_string())
        .collect()
}

fn a_session_is_stored_found_touched_forward_and_closed(db: TestDb) {
    let at = now() - TimeDelta::minutes(10);
    open(&db, "a", at, 10);
    let found = find_session(&mut db.conn(), "a").unwrap().unwrap();
    assert_eq!(found.key_name, "ops");
    assert_eq!(found.key_fingerprint, "0123456789abcdef");
    assert_eq!((found.started_at, found.last_seen_at), (at, at));
    assert!(find_session(&mut db.conn(), "b").unwrap().is_none());

    let later = at + TimeDelta::minutes(5);
    touch_session(&mut db.conn(), "a", later).unwrap();
    // A replica whose clock is behind does not move it back.
    touch_session(&mut db.conn(), "a", later - TimeDelta::seconds(3)).unwrap();
    let found = find_session(&mut db.conn(), "a").unwrap().unwrap();
    assert_eq!((found.started_at, found.last_seen_at), (at, later));

    assert!(close_session(&mut db.conn(), "a").unwrap());
    assert!(!close_session(&mut db.conn(), "a").unwrap());
    assert!(find_session(&mut db.conn(), "a").unwrap().is_none());
}

fn ended_sessions_go_at_sign_in_and_by_the_purge(db: TestDb) {
    let t = now();
    // Signed in 12.5 h ago and used a minute ago: past its lifetime.
    open(&db, "old", t - LIFETIME - TimeDelta::minutes(30), 10);
    touch_session(&mut db.conn(), "old", t - TimeDelta::minutes(1)).unwrap();
    // Unused for 31 minutes: idle.
    open(&db, "idle", t - IDLE - TimeDelta::minutes(1), 10);
    open(&db, "live", t - TimeDelta::minutes(5), 10);
    let all = ["old", "idle", "live", "new"];
    assert_eq!(hashes(&db, &all), ["old", "idle", "live"]);
    assert_eq!(count_ended_sessions(&mut db.conn(), cutoffs(t)).unwrap(), 2);

    // A sign-in now deletes both.
    sign_in(&db, "new", t);
    assert_eq!(hashes(&db, &all), ["live", "new"]);

    // An hour on, "live" and "new" have idled out; the purge takes them.
    let later = t + TimeDelta::hours(1);
    assert_eq!(
        count_ended_sessions(&mut db.conn(), cutoffs(later)).unwrap(),
        2
    );
    assert_eq!(purge_ended_sessions(&mut db.conn(), cutoffs(t)).unwrap(), 0);
    assert_eq!(
        purge_ended_sessions(&mut db.conn(), cutoffs(later)).unwrap(),
        2
    );
    assert!(hashes(&db, &all).is_empty());
}

fn past_the_cap_the_least_recently_used_go(db: TestDb) {
    let t = now() - TimeDelta::minutes(20);
    for (n, hash) in ["s0", "s1", "s2"].iter().enumerate() {
        open(&db, hash, t + TimeDelta::minutes(n as i64), 3);
    }
    // s0 used last: s1 is the least recently used.
    touch_session(&mut db.conn(), "s0", t + TimeDelta::minutes(5)).unwrap();
    open(&db, "s3", t + TimeDelta::minutes(6), 3);
    assert_eq!(hashes(&db, &["s0", "s1", "s2", "s3"]), ["s0", "s2", "s3"]);
}
