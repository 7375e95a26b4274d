//! The log lines operators look for, captured from a processor running on this thread: a
//! payment lock held elsewhere times out with the design's warning and the event is retried;
//! once free, the lock is acquired (debug line); a dead Redis falls back to the database lock.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::CollectionStatus;
use persistence::EventStatus;

use crate::fixtures::{create_collections, deliver, event_by_event_id, unique_prefix, Delivery};
use crate::harness::{build, metric, Knobs};
use crate::helpers::{postgres, redis, Env};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `test` on a single-threaded runtime with its logs captured (the async parts of the
/// processor, where the lock lines are written, run on this thread).
fn with_logs(test: impl std::future::Future<Output = ()>) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || runtime.block_on(test));
    captured.text()
}

/// A short lock wait, and a retry long enough that `run_until_idle` is over before it is due, on
/// a busy machine too: exactly one timeout is counted.
fn busy_lock_knobs() -> Knobs {
    Knobs {
        lock_wait_ms: 300,
        retry_base_ms: 1_000,
        retry_max_ms: 1_000,
        ..Knobs::default()
    }
}

#[test]
fn a_busy_lock_times_out_then_is_acquired() {
    let test = "logs::a_busy_lock_times_out_then_is_acquired";
    let (Some(db), Some(url)) = (postgres(test), redis(test)) else {
        return;
    };
    let env = Env {
        db,
        redis: Some(url.clone()),
    };
    let reference = format!("{}-busy", unique_prefix());
    let key = format!("webhook_processing:{reference}");
    let event_id = format!("{reference}-e");
    let logs = with_logs(async {
        create_collections(&env.db, std::slice::from_ref(&reference));
        deliver(
            &env.db,
            &[Delivery::new(
                &event_id,
                &reference,
                CollectionStatus::Success,
            )],
        );
        // Another holder (a processor elsewhere) has the payment's lock.
        let mut redis = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg("someone-else")
            .arg("PX")
            .arg(30_000)
            .query(&mut redis)
            .unwrap();
        let (processor, addr) = build(&env, &busy_lock_knobs()).await;
        processor.run_until_idle().await.unwrap();
        let waiting = event_by_event_id(&env.db, &event_id);
        assert_eq!(waiting.status, EventStatus::Received);
        assert_eq!(
            waiting.last_error.as_deref(),
            Some(format!("redis lock {key} not acquired within 300ms").as_str())
        );
        let timeouts = "webhook_inbox_processor_lock_timeouts_total{backend=\"redis\"}";
        assert_eq!(metric(addr, timeouts).await, 1.0);

        let _: () = redis::cmd("DEL").arg(&key).query(&mut redis).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while event_by_event_id(&env.db, &event_id).status == EventStatus::Received {
            assert!(std::time::Instant::now() < deadline, "the retry never came");
            tokio::time::sleep(Duration::from_millis(20)).await;
            processor.run_until_idle().await.unwrap();
        }
        assert_eq!(
            event_by_event_id(&env.db, &event_id).status,
            EventStatus::Processed
        );

        // A late FAILED for the paid collection is skipped, and said so.
        let late = Delivery::new(
            &format!("{reference}-late"),
            &reference,
            CollectionStatus::Failed,
        );
        deliver(&env.db, &[late]);
        processor.run_until_idle().await.unwrap();
        let skipped = "webhook_inbox_processor_events_total{outcome=\"skipped_terminal\"}";
        assert_eq!(metric(addr, skipped).await, 1.0);
    });
    assert!(
        logs.lines().any(|line| line.contains(" INFO ")
            && line.contains("Skipping status update: already in terminal status SUCCESS")),
        "{logs}"
    );
    assert!(
        logs.contains("Failed to acquire Redis lock after 300ms"),
        "{logs}"
    );
    assert!(
        logs.contains(&format!("Acquired Redis lock: {key}")),
        "{logs}"
    );
}

#[test]
fn a_dead_redis_falls_back_to_the_database_lock() {
    let test = "logs::a_dead_redis_falls_back_to_the_database_lock";
    let Some(db) = postgres(test) else { return };
    // Nothing listens on port 1.
    let env = Env {
        db,
        redis: Some("redis://127.0.0.1:1".to_owned()),
    };
    let reference = format!("{}-dead", unique_prefix());
    let logs = with_logs(async {
        create_collections(&env.db, std::slice::from_ref(&reference));
        deliver(
            &env.db,
            &[Delivery::new(
                &format!("{reference}-e"),
                &reference,
                CollectionStatus::Pending,
            )],
        );
        let (processor, addr) = build(&env, &Knobs::default()).await;
        processor.run_until_idle().await.unwrap();
        assert_eq!(
            metric(addr, "webhook_inbox_processor_lock_fallbacks_total").await,
            1.0
        );
        assert_eq!(
            metric(
                addr,
                "webhook_inbox_processor_lock_acquired_total{backend=\"database\"}"
            )
            .await,
            1.0
        );
        assert_eq!(
            metric(
                addr,
                "webhook_inbox_processor_events_total{outcome=\"applied\"}"
            )
            .await,
            1.0
        );
    });
    assert!(
        logs.contains("Redis unavailable: using the database lock"),
        "{logs}"
    );
}

#[test]
fn a_busy_database_lock_times_out_and_the_event_is_retried() {
    let test = "logs::a_busy_database_lock_times_out_and_the_event_is_retried";
    let Some(db) = postgres(test) else { return };
    let env = Env { db, redis: None };
    let reference = format!("{}-dbbusy", unique_prefix());
    let key = format!("webhook_processing:{reference}");
    let event_id = format!("{reference}-e");
    // A second payment, whose lock is free, goes through meanwhile.
    let free = format!("{}-dbfree", unique_prefix());
    let free_event = format!("{free}-e");
    create_collections(&env.db, &[reference.clone(), free.clone()]);
    deliver(
        &env.db,
        &[
            Delivery::new(&event_id, &reference, CollectionStatus::Success),
            Delivery::new(&free_event, &free, CollectionStatus::Success),
        ],
    );

    // Another processor holds the payment's database lock until told to let go.
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (let_go_tx, let_go_rx) = std::sync::mpsc::channel::<()>();
    let mut conn = env.db.conn();
    let holder = std::thread::spawn({
        let key = key.clone();
        move || {
            persistence::write_transaction(&mut conn, |conn| {
                let had = persistence::lock::try_database_locks(conn, &[&key])?;
                held_tx.send(()).unwrap();
                let_go_rx.recv().unwrap();
                Ok::<_, persistence::StoreError>(had)
            })
            .unwrap()
        }
    });
    held_rx.recv().unwrap();
    let logs = with_logs(async {
        let (processor, addr) = build(&env, &busy_lock_knobs()).await;
        processor.run_until_idle().await.unwrap();
        let waiting = event_by_event_id(&env.db, &event_id);
        assert_eq!(waiting.status, EventStatus::Received);
        assert_eq!(
            event_by_event_id(&env.db, &free_event).status,
            EventStatus::Processed
        );
        assert_eq!(
            waiting.last_error.as_deref(),
            Some(format!("database lock {key} not acquired within 300ms").as_str())
        );
        let timeouts = "webhook_inbox_processor_lock_timeouts_total{backend=\"database\"}";
        assert_eq!(metric(addr, timeouts).await, 1.0);

        let_go_tx.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while event_by_event_id(&env.db, &event_id).status == EventStatus::Received {
            assert!(std::time::Instant::now() < deadline, "the retry never came");
            tokio::time::sleep(Duration::from_millis(20)).await;
            processor.run_until_idle().await.unwrap();
        }
        assert_eq!(
            event_by_event_id(&env.db, &event_id).status,
            EventStatus::Processed
        );
    });
    assert_eq!(holder.join().unwrap(), vec![true]);
    assert!(
        logs.contains("Failed to acquire database lock after 300ms"),
        "{logs}"
    );
}
