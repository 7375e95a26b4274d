//! The `processor` binary as an operator runs it: killed outright mid-batch and restarted, it
//! loses nothing and applies nothing twice; stopped with SIGTERM under load, it exits 0 within
//! the grace period and leaves no event hidden behind a lease.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use persistence::{now, EventStatus};

use crate::fixtures::{
    all_events, count_with_status, create_collections, deliver, scenario, verify,
    verify_processed_once,
};
use crate::harness::{build, config_toml, eventually, write_config, Knobs};
use crate::helpers::{postgres, redis, Env};

struct Spawned {
    child: Child,
    log: PathBuf,
}

fn spawn(config: &Path, log: PathBuf) -> Spawned {
    let mut command = Command::new(env!("CARGO_BIN_EXE_processor"));
    command.arg("--config").arg(config);
    // Only the file configures it.
    for (name, _) in std::env::vars() {
        if name.starts_with("INBOX_")
            || ["DATABASE_URL", "REDIS_URL", "RUST_LOG"].contains(&name.as_str())
        {
            command.env_remove(name);
        }
    }
    let stderr = std::fs::File::create(&log).expect("log file");
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn the processor binary");
    Spawned { child, log }
}

impl Spawned {
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends SIGTERM and waits at most `limit` for the exit: its status, how long it took from
    /// the signal, and the log.
    async fn terminate_timed(&mut self, limit: Duration) -> (ExitStatus, Duration, String) {
        self.terminate();
        let signalled = Instant::now();
        let status = self.exit_within(limit).await;
        (status, signalled.elapsed(), self.log_text())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Events that a claim hides (RECEIVED, next attempt in the future).
/// One processor configured by `knobs`, logging to `processor.log` in the returned directory
/// (kept for as long as the process runs).
fn spawn_one(env: &Env, knobs: &Knobs) -> (tempfile::TempDir, Spawned) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config_toml(env, knobs));
    let child = spawn(&config, dir.path().join("processor.log"));
    (dir, child)
}

fn leased(env: &Env) -> usize {
    let at = now();
    all_events(&env.db)
        .iter()
        .filter(|e| e.status == EventStatus::Received && e.next_attempt_at > at)
        .count()
}

fn env_for(test: &str) -> Option<Env> {
    let db = postgres(test)?;
    // Redis when it is there (CI has it); the database lock otherwise.
    let redis = redis(test);
    Some(Env { db, redis })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_processor_loses_nothing_and_applies_nothing_twice() {
    let Some(env) = env_for("process::a_killed_processor_loses_nothing_and_applies_nothing_twice")
    else {
        return;
    };
    let plan = scenario(23, 100, 3_000);
    create_collections(&env.db, &plan.collections);
    deliver(&env.db, &plan.deliveries);
    let knobs = Knobs {
        batch_size: 100,
        concurrency: 4,
        lease_secs: 3,
        lock_wait_ms: 2_000,
        ..Knobs::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config_toml(&env, &knobs));

    let mut first = spawn(&config, dir.path().join("first.log"));
    eventually(
        "the first processor to get going",
        Duration::from_secs(60),
        // Mid-batch (batches are 100): at a multiple of 100 the kill could fall between two.
        || count_with_status(&env.db, EventStatus::Processed) >= 250,
    )
    .await;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reap");
    // Claimed (attempts counted) but not finished: what the kill left in hand, whether its
    // lease is still running or already ran out.
    let in_hand = all_events(&env.db)
        .iter()
        .filter(|e| e.status == EventStatus::Received && e.attempts > 0)
        .count();
    // Often none: a direct claim decides its events in the transaction that claims them, and
    // the kill rolls back the one in progress.
    let done_before = count_with_status(&env.db, EventStatus::Processed);

    let mut second = spawn(&config, dir.path().join("second.log"));
    eventually(
        "the restarted processor to finish",
        Duration::from_secs(60),
        || count_with_status(&env.db, EventStatus::Received) == 0,
    )
    .await;
    second.terminate();
    let status = second.exit_within(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}: {}", second.log_text());

    verify(&env.db, &plan.expected, plan.events);
    let reclaimed = all_events(&env.db)
        .iter()
        .filter(|e| e.attempts >= 2)
        .count();
    assert!(
        reclaimed >= in_hand,
        "{reclaimed} events claimed twice, {in_hand} were in hand"
    );
    eprintln!(
        "SIGKILL after {done_before} of {} events with {in_hand} in hand; restarted: all \
         processed once, {reclaimed} claimed more than once",
        plan.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_cleanly_within_the_grace_period() {
    let Some(env) = env_for("process::sigterm_under_load_exits_cleanly_within_the_grace_period")
    else {
        return;
    };
    let plan = scenario(29, 200, 4_000);
    create_collections(&env.db, &plan.collections);
    deliver(&env.db, &plan.deliveries);
    let grace = Duration::from_secs(5);
    let knobs = Knobs {
        batch_size: 100,
        concurrency: 4,
        lease_secs: 60,
        shutdown_grace_secs: grace.as_secs(),
        ..Knobs::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &config_toml(&env, &knobs));

    let mut child = spawn(&config, dir.path().join("processor.log"));
    eventually(
        "the processor to get going",
        Duration::from_secs(60),
        // Mid-batch, so that there are unstarted events in hand to give back.
        || count_with_status(&env.db, EventStatus::Processed) >= 450,
    )
    .await;
    let (status, took, log) = child.terminate_timed(grace + Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        took <= grace,
        "exit took {took:?}, more than the {grace:?} grace"
    );
    assert!(log.contains("SIGTERM received"), "{log}");
    // Nothing hidden behind a lease: events leased but not started were handed back, and a
    // direct claim in progress was finished or rolled back; what was not finished is claimable
    // at once.
    assert_eq!(leased(&env), 0);
    let processed = count_with_status(&env.db, EventStatus::Processed);
    assert!(
        processed < plan.events as i64,
        "all done before SIGTERM: not under load"
    );
    verify_processed_once(&env.db, &all_events(&env.db));

    // Another processor takes over at once and finishes the rest.
    let (successor, _) = build(&env, &knobs).await;
    successor.run_until_idle().await.unwrap();
    verify(&env.db, &plan.expected, plan.events);
    eprintln!(
        "SIGTERM after {processed} of {} events: exit 0 in {took:?}",
        plan.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_grace_even_when_work_in_hand_cannot_finish() {
    let test = "process::sigterm_exits_within_the_grace_even_when_work_in_hand_cannot_finish";
    let Some(db) = postgres(test) else { return };
    // A lock wait is interrupted at shutdown, but a statement waiting in the database is not:
    // a host application holds the collection's row.
    let env = Env { db, redis: None };
    // Another transaction holds the collection's row for longer than the grace.
    let holder = one_event_on_a_held_row(&env, "stuck");
    let holder_pid = holder.pid;

    let grace = Duration::from_secs(1);
    let knobs = Knobs {
        lock_wait_ms: 8_000,
        lease_secs: 30,
        shutdown_grace_secs: grace.as_secs(),
        ..Knobs::default()
    };
    let (_dir, mut child) = spawn_one(&env, &knobs);
    eventually(
        "the processor to wait for the collection's row",
        Duration::from_secs(30),
        || blocked_by(&env, holder_pid) > 0,
    )
    .await;
    let (status, took, log) = child.terminate_timed(Duration::from_secs(10)).await;
    holder.let_go();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        took <= grace,
        "exit took {took:?}, more than the {grace:?} grace: {log}"
    );
    // The direct claim waiting for the row is abandoned; the process does not wait for it.
    assert!(
        log.contains("Shutting down during a claim: its transaction is abandoned"),
        "{log}"
    );
    // Its lease, not a lost event: it is still RECEIVED and comes back when the lease ends.
    let events = all_events(&env.db);
    assert_eq!(events[0].status, EventStatus::Received);
}

/// A direct claim that fails (here: a collection row held past `lock_wait_ms`) is followed by a
/// leased claim, which counts the attempt; the rounds then finish the event once the row is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_direct_claim_is_followed_by_a_leased_one() {
    let Some(env) = env_for("process::a_failed_direct_claim_is_followed_by_a_leased_one") else {
        return;
    };
    let holder = one_event_on_a_held_row(&env, "held");

    let knobs = Knobs {
        lock_wait_ms: 300,
        lease_secs: 30,
        ..Knobs::default()
    };
    let (_dir, mut child) = spawn_one(&env, &knobs);
    eventually("the event to be leased", Duration::from_secs(30), || {
        leased(&env) == 1
    })
    .await;
    let event = all_events(&env.db).remove(0);
    assert_eq!(event.attempts, 1, "the failed direct claim counted nothing");
    let log = child.log_text();
    assert!(
        log.contains("A direct claim failed: the next claim leases"),
        "{log}"
    );

    holder.let_go();
    eventually("the event to be processed", Duration::from_secs(30), || {
        count_with_status(&env.db, EventStatus::Processed) == 1
    })
    .await;
    assert_eq!(all_events(&env.db)[0].attempts, 1);
    child.terminate();
    let status = child.exit_within(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}: {}", child.log_text());
}

/// A leased event's round that waits in the database past the shutdown grace (a host
/// application holds the collection's row, and `lock_wait_ms` is longer than the grace) is given
/// up: the process still exits 0 within the grace, and the event keeps its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_up_a_round_that_waits_past_the_grace() {
    let test = "process::sigterm_gives_up_a_round_that_waits_past_the_grace";
    let Some(db) = postgres(test) else { return };
    let env = Env { db, redis: None };
    let holder = one_event_on_a_held_row(&env, "round");
    let holder_pid = holder.pid;

    let grace = Duration::from_secs(1);
    let knobs = Knobs {
        // The direct claim gives up after this and leases the event; its round then waits as
        // long again, past the grace.
        lock_wait_ms: 5_000,
        lease_secs: 30,
        shutdown_grace_secs: grace.as_secs(),
        ..Knobs::default()
    };
    let (_dir, mut child) = spawn_one(&env, &knobs);
    eventually(
        "the leased event's round to wait for the collection's row",
        Duration::from_secs(30),
        || leased(&env) == 1 && blocked_by(&env, holder_pid) > 0,
    )
    .await;
    let (status, took, log) = child.terminate_timed(Duration::from_secs(10)).await;
    holder.let_go();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        took <= grace,
        "exit took {took:?}, more than the {grace:?} grace: {log}"
    );
    assert!(
        log.contains("Shutdown grace of 1s ran out with 1 payments in hand"),
        "{log}"
    );
    // Nothing was written: the event is still RECEIVED, leased, with its one attempt.
    let event = all_events(&env.db).remove(0);
    assert_eq!(event.status, EventStatus::Received);
    assert_eq!(event.attempts, 1);
    assert!(event.next_attempt_at > now());
}

/// A collection row held elsewhere does not stall a round's other payments: the round's
/// transaction gives up after `lock_wait_ms`, the other payment's event is applied, and the held
/// one is retried until its row is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_row_holds_back_only_its_own_payment_in_a_round() {
    let test = "process::a_held_row_holds_back_only_its_own_payment_in_a_round";
    let Some(env) = env_for(test) else { return };
    let prefix = crate::fixtures::unique_prefix();
    let (held, free) = (format!("{prefix}-held"), format!("{prefix}-free"));
    create_collections(&env.db, &[held.clone(), free.clone()]);
    let holder = RowHolder::hold(&env, &held);
    // Both arrive together: the direct claim that waits for the held row fails, and the leased
    // claim after it gives both payments to one round.
    deliver(
        &env.db,
        &[
            crate::fixtures::Delivery::new(
                &format!("{held}-e"),
                &held,
                domain::CollectionStatus::Success,
            ),
            crate::fixtures::Delivery::new(
                &format!("{free}-e"),
                &free,
                domain::CollectionStatus::Success,
            ),
        ],
    );
    let knobs = Knobs {
        lock_wait_ms: 500,
        lease_secs: 30,
        ..Knobs::default()
    };
    let (_dir, mut child) = spawn_one(&env, &knobs);
    eventually(
        "the free payment's event to be processed while the other row is held",
        Duration::from_secs(20),
        || count_with_status(&env.db, EventStatus::Processed) == 1,
    )
    .await;
    let events = all_events(&env.db);
    let waiting = events
        .iter()
        .find(|e| e.request_ref.as_deref() == Some(held.as_str()))
        .unwrap();
    let log = child.log_text();
    assert_eq!(waiting.status, EventStatus::Received, "{log}");
    assert!(log.contains("lock timeout"), "{log}");

    holder.let_go();
    eventually(
        "the held payment's event to be processed",
        Duration::from_secs(30),
        || count_with_status(&env.db, EventStatus::Processed) == 2,
    )
    .await;
    child.terminate();
    let status = child.exit_within(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}: {}", child.log_text());
}

/// One payment (`<unique prefix>-<name>`) with one SUCCESS delivery waiting, whose collection row
/// a host application's transaction holds.
fn one_event_on_a_held_row(env: &Env, name: &str) -> RowHolder {
    let reference = format!("{}-{name}", crate::fixtures::unique_prefix());
    create_collections(&env.db, std::slice::from_ref(&reference));
    deliver(
        &env.db,
        &[crate::fixtures::Delivery::new(
            &format!("{reference}-e"),
            &reference,
            domain::CollectionStatus::Success,
        )],
    );
    RowHolder::hold(env, &reference)
}

/// A host application's transaction holding one collection's row (`FOR UPDATE`) until told to
/// let go.
struct RowHolder {
    /// Its backend, to see who waits for it.
    pid: i32,
    let_go: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl RowHolder {
    fn hold(env: &Env, request_ref: &str) -> RowHolder {
        let (held_tx, held_rx) = std::sync::mpsc::channel::<i32>();
        let (let_go, let_go_rx) = std::sync::mpsc::channel::<()>();
        let mut conn = env.db.conn();
        let request_ref = request_ref.to_owned();
        let thread = std::thread::spawn(move || {
            persistence::write_transaction(&mut conn, |conn| {
                use diesel::connection::SimpleConnection;
                conn.batch_execute(&format!(
                    "SELECT id FROM collections WHERE request_ref = '{request_ref}' FOR UPDATE"
                ))?;
                held_tx.send(backend_pid(conn)).unwrap();
                let_go_rx.recv().unwrap();
                Ok::<_, diesel::result::Error>(())
            })
            .unwrap()
        });
        let pid = held_rx.recv().unwrap();
        RowHolder {
            pid,
            let_go,
            thread,
        }
    }

    fn let_go(self) {
        self.let_go.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

fn backend_pid(conn: &mut persistence::DbConnection) -> i32 {
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let persistence::DbConnection::Pg(c) = conn else {
        panic!("PostgreSQL only");
    };
    diesel::RunQueryDsl::get_result::<Pid>(diesel::sql_query("SELECT pg_backend_pid() AS pid"), c)
        .unwrap()
        .pid
}

/// How many sessions wait for a lock the session `pid` holds.
fn blocked_by(env: &Env, pid: i32) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = env.db.conn();
    let persistence::DbConnection::Pg(c) = &mut *conn else {
        panic!("PostgreSQL only");
    };
    diesel::RunQueryDsl::get_result::<Count>(
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind::<diesel::sql_types::Integer, _>(pid),
        c,
    )
    .unwrap()
    .n
}

/// The processor reads payloads, never signatures: a provider whose signing secret is not in
/// its environment does not keep it from starting, and its events are processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_starts_without_the_providers_signing_secrets() {
    let env = crate::helpers::sqlite_env();
    let plan = scenario(7, 5, 20);
    create_collections(&env.db, &plan.collections);
    deliver(&env.db, &plan.deliveries);
    let knobs = Knobs::default();
    let secret_var = "WEBHOOK_INBOX_TEST_SECRET_NEVER_SET";
    assert!(std::env::var_os(secret_var).is_none());
    let config = format!(
        "{}\n[providers.paystack]\npreset = \"paystack\"\nsecrets = [\"{secret_var}\"]\n",
        config_toml(&env, &knobs)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, &config);

    let mut child = spawn(&path, dir.path().join("processor.log"));
    eventually(
        "every event to be processed",
        Duration::from_secs(30),
        || count_with_status(&env.db, EventStatus::Processed) == plan.events as i64,
    )
    .await;
    let (status, _, log) = child.terminate_timed(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(!log.contains(secret_var), "{log}");
    verify(&env.db, &plan.expected, plan.events);
}
