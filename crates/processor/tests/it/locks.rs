//! The payment locks on their own: Redis `SET NX PX` with compare-and-delete, and the
//! PostgreSQL advisory lock behind `persistence::lock`.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use persistence::lock::{with_database_lock, Locked};
use processor::lock::{lock_key, Acquired, RedisLock};
use tokio_util::sync::CancellationToken;

use crate::fixtures::unique_prefix;
use crate::helpers::{postgres, redis};

fn held(acquired: Acquired) -> processor::lock::RedisGuard {
    match acquired {
        Acquired::Held(guard) => guard,
        other => panic!("expected the lock, got {other:?}"),
    }
}

#[tokio::test]
async fn redis_lock_excludes_and_releases() {
    let Some(url) = redis("locks::redis_lock_excludes_and_releases") else {
        return;
    };
    let lock = RedisLock::new(&url, Duration::from_secs(10), 4).unwrap();
    let never = CancellationToken::new();
    let key = lock_key(&unique_prefix());
    assert!(key.starts_with("webhook_processing:"));

    let first = held(
        lock.acquire(&key, Duration::from_secs(1), &never)
            .await
            .unwrap(),
    );
    let started = Instant::now();
    let second = lock
        .acquire(&key, Duration::from_millis(200), &never)
        .await
        .unwrap();
    assert!(matches!(second, Acquired::TimedOut), "{second:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // A waiter gets it as soon as the holder lets go.
    let waiter = tokio::spawn({
        let (lock, key, never) = (lock.clone(), key.clone(), never.clone());
        async move { lock.acquire(&key, Duration::from_secs(5), &never).await }
    });
    assert!(lock.release(first).await.unwrap());
    let second = held(waiter.await.unwrap().unwrap());
    assert!(lock.release(second).await.unwrap());

    // Shutdown interrupts a wait.
    let holder = held(
        lock.acquire(&key, Duration::from_secs(1), &never)
            .await
            .unwrap(),
    );
    let cancel = CancellationToken::new();
    cancel.cancel();
    let cancelled = lock
        .acquire(&key, Duration::from_secs(5), &cancel)
        .await
        .unwrap();
    assert!(matches!(cancelled, Acquired::Cancelled), "{cancelled:?}");
    lock.release(holder).await.unwrap();
}

#[tokio::test]
async fn an_expired_holder_never_deletes_the_next_holders_lock() {
    let Some(url) = redis("locks::an_expired_holder_never_deletes_the_next_holders_lock") else {
        return;
    };
    let short = RedisLock::new(&url, Duration::from_millis(100), 2).unwrap();
    let long = RedisLock::new(&url, Duration::from_secs(10), 2).unwrap();
    let never = CancellationToken::new();
    let key = lock_key(&unique_prefix());

    let expired = held(
        short
            .acquire(&key, Duration::from_secs(1), &never)
            .await
            .unwrap(),
    );
    // The next holder gets it once the first one's time to live has passed.
    let next = held(
        long.acquire(&key, Duration::from_secs(5), &never)
            .await
            .unwrap(),
    );
    assert!(
        !short.release(expired).await.unwrap(),
        "released a lock it no longer held"
    );
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query(&mut conn).unwrap();
    assert_eq!(exists, 1, "the next holder's lock was deleted");
    assert!(long.release(next).await.unwrap());
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query(&mut conn).unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_quickly() {
    // Nothing listens on port 1.
    let lock = RedisLock::new("redis://127.0.0.1:1", Duration::from_secs(10), 2).unwrap();
    let started = Instant::now();
    let result = lock
        .acquire(
            "webhook_processing:x",
            Duration::from_secs(10),
            &CancellationToken::new(),
        )
        .await;
    assert!(result.is_err(), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    lock_timeout: String,
}

fn advisory_locks_held(conn: &mut persistence::DbConnection) -> i64 {
    let persistence::DbConnection::Pg(pg) = conn else {
        unreachable!()
    };
    diesel::sql_query(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    )
    .get_result::<Count>(pg)
    .unwrap()
    .n
}

#[tokio::test]
async fn postgres_advisory_lock_excludes_and_leaves_nothing_behind() {
    let Some(db) = postgres("locks::postgres_advisory_lock_excludes_and_leaves_nothing_behind")
    else {
        return;
    };
    let key = lock_key(&unique_prefix());
    let (mut holder, mut other) = (db.conn(), db.conn());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let contender = std::thread::spawn({
        let key = key.clone();
        move || {
            rx.recv().unwrap();
            let started = Instant::now();
            let busy = with_database_lock(&mut other, &key, Duration::from_millis(200), |_| Ok(()));
            let waited = started.elapsed();
            let free = with_database_lock(
                &mut other,
                "webhook_processing:another",
                Duration::from_millis(200),
                |_| Ok(()),
            );
            done_tx.send(()).unwrap();
            // Once the holder is done, the same lock is free.
            let after = with_database_lock(&mut other, &key, Duration::from_secs(5), |_| Ok(7));
            let persistence::DbConnection::Pg(pg) = &mut *other else {
                unreachable!()
            };
            let setting = diesel::sql_query("SHOW lock_timeout")
                .get_result::<Setting>(pg)
                .unwrap();
            (
                busy.unwrap(),
                waited,
                free.unwrap(),
                after.unwrap(),
                setting.lock_timeout,
            )
        }
    });
    let inside = with_database_lock(&mut holder, &key, Duration::from_secs(5), |conn| {
        assert_eq!(advisory_locks_held(conn), 1);
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
        Ok("done")
    })
    .unwrap();
    assert_eq!(inside, Locked::Held("done"));
    // Committed: the pooled connection goes back holding nothing.
    assert_eq!(advisory_locks_held(&mut holder), 0);
    let (busy, waited, free, after, lock_timeout) = contender.join().unwrap();
    assert_eq!(busy, Locked::TimedOut);
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert_eq!(free, Locked::Held(()));
    assert_eq!(after, Locked::Held(7));
    // The wait bound was local to the lock's transaction.
    assert_eq!(lock_timeout, "0");
}
