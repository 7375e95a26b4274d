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
