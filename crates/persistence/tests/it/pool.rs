//! Pools and the bridge from async code to blocking database work.

use persistence::connection::DatabaseUrl;
use persistence::{build_pool, find_collection, run_blocking, PoolSettings, StoreError};

use crate::helpers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_blocking_runs_database_work_off_the_async_threads() {
    let db = helpers::sqlite();
    let found = run_blocking(&db.pool, |conn| find_collection(conn, "REQ-none"))
        .await
        .unwrap();
    assert_eq!(found, None);
    let err = run_blocking(&db.pool, |_| -> Result<(), StoreError> {
        Err(StoreError::NotFound("thing".into()))
    })
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
}

#[test]
fn a_pool_on_an_unreachable_database_says_why() {
    let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/none").unwrap();
    let err = build_pool(&url, &PoolSettings::default()).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(
        err.to_string().contains("127.0.0.1:1") || err.to_string().contains("port 1"),
        "{err}"
    );
}

#[test]
fn sqlite_directories_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/inbox.db");
    let url = DatabaseUrl::parse(path.to_str().unwrap()).unwrap();
    build_pool(&url, &PoolSettings::default()).unwrap();
    assert!(path.exists());
}

/// A statement that outlives `statement_timeout` is cancelled by the server, and a transaction
/// left idle ends there too (its locks released): the bounds a stopped or partitioned holder
/// cannot outlast. Migrations open their own connection, without them.
#[test]
fn pooled_postgres_connections_carry_the_statement_timeouts() {
    let Some(db) = helpers::postgres("pool_statement_timeout") else {
        return;
    };
    use diesel::connection::SimpleConnection;
    let settings = PoolSettings {
        max_size: 1,
        min_idle: 0,
        statement_timeout: Some(std::time::Duration::from_millis(300)),
        ..PoolSettings::default()
    };
    let pool = build_pool(&db.url, &settings).unwrap();
    let mut conn = pool.get().unwrap();
    let started = std::time::Instant::now();
    let err = conn.batch_execute("SELECT pg_sleep(5)").unwrap_err();
    assert!(err.to_string().contains("statement timeout"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    conn.batch_execute("BEGIN; SELECT 1").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let err = conn.batch_execute("SELECT 1").unwrap_err();
    assert!(
        err.to_string().contains("idle-in-transaction") || err.to_string().contains("closed"),
        "{err}"
    );

    let unbounded = PoolSettings {
        statement_timeout: None,
        ..settings
    };
    let pool = build_pool(&db.url, &unbounded).unwrap();
    pool.get()
        .unwrap()
        .batch_execute("SELECT pg_sleep(0.5)")
        .unwrap();
}
