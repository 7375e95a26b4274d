//! The payment locks on their own: Redis `SET NX PX` for a round's keys with compare-and-delete,
//! and the PostgreSQL advisory try-locks behind `persistence::lock`.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use persistence::lock::try_database_locks;
use persistence::{write_transaction, StoreError};
use processor::lock::{lock_key, RedisLock};

use crate::fixtures::unique_prefix;
use crate::helpers::{postgres, redis};

#[tokio::test]
async fn redis_lock_excludes_and_releases() {
    let Some(url) = redis("locks::redis_lock_excludes_and_releases") else {
        return;
    };
    let lock = RedisLock::new(&url, Duration::from_secs(10), 4).unwrap();
    let key = lock_key(&unique_prefix());
    let other = lock_key(&unique_prefix());
    assert!(key.starts_with("webhook_processing:"));

    let first = lock
        .try_acquire_many(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(first.holds(&key));
    // A second round gets the free key and not the held one.
    let second = lock
        .try_acquire_many(&[key.clone(), other.clone()])
        .await
        .unwrap();
    assert!(!second.holds(&key));
    assert!(second.holds(&other));
    assert_eq!(second.keys().len(), 1);

    // Free again as soon as the holder lets go.
    assert_eq!(lock.release_many(first).await.unwrap(), 0, "none expired");
    let third = lock
        .try_acquire_many(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(third.holds(&key));
    assert_eq!(lock.release_many(third).await.unwrap(), 0);
    assert_eq!(lock.release_many(second).await.unwrap(), 0);
}

#[tokio::test]
async fn an_expired_holder_never_deletes_the_next_holders_lock() {
    let Some(url) = redis("locks::an_expired_holder_never_deletes_the_next_holders_lock") else {
        return;
    };
    let short = RedisLock::new(&url, Duration::from_millis(100), 2).unwrap();
    let long = RedisLock::new(&url, Duration::from_secs(10), 2).unwrap();
    let key = lock_key(&unique_prefix());

    let expired = short
        .try_acquire_many(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(expired.holds(&key));
    // The next holder gets it once the first one's time to live has passed.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let next = long
        .try_acquire_many(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(next.holds(&key));
    assert_eq!(
        short.release_many(expired).await.unwrap(),
        1,
        "released a lock it no longer held"
    );
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query(&mut conn).unwrap();
    assert_eq!(exists, 1, "the next holder's lock was deleted");
    assert_eq!(long.release_many(next).await.unwrap(), 0);
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query(&mut conn).unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_quickly() {
    // Nothing listens on port 1.
    let lock = RedisLock::new("redis://127.0.0.1:1", Duration::from_secs(10), 2).unwrap();
    let started = Instant::now();
    let result = lock
        .try_acquire_many(&["webhook_processing:x".to_owned()])
        .await;
    assert!(result.is_err());
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
    let inside = write_transaction(&mut holder, |conn| {
        assert_eq!(try_database_locks(conn, &[&key])?, vec![true]);
        assert_eq!(advisory_locks_held(conn), 1);
        // Another round: the held lock is busy, another payment's is free; nothing waits.
        let started = Instant::now();
        let contended = write_transaction(&mut other, |c| {
            try_database_locks(c, &[&key, "webhook_processing:another"])
        })?;
        assert!(started.elapsed() < Duration::from_secs(1));
        Ok::<_, StoreError>(contended)
    })
    .unwrap();
    assert_eq!(inside, vec![false, true]);
    // Committed: both pooled connections go back holding nothing.
    assert_eq!(advisory_locks_held(&mut holder), 0);
    assert_eq!(advisory_locks_held(&mut other), 0);
    // Once the holder is done, the same lock is free.
    let after = write_transaction(&mut other, |c| try_database_locks(c, &[&key])).unwrap();
    assert_eq!(after, vec![true]);
}
