//! `loadgen`: drives a receiver with correctly signed webhooks and checks the outcome in the
//! database. `ingest` sends a run over HTTP (its collections created in the database, or with
//! `--api` through the host API); `backlog` writes a run straight into the database (for drain
//! benchmarks, processors stopped); `drain` waits for processors to finish a backlog. Each of
//! these ends with the invariant check; the exit code is 1 when it fails. `api-bench` times the
//! host API's create and read of collections; it fails on any unexpected answer.

mod api;
mod api_bench;
mod check;
mod cli;
mod http;
mod plan;
mod report;
mod send;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cli::{ApiArgs, Cli, Mode, RetryArgs, RunArgs};
use persistence::{DatabaseUrl, DbConnection, SqliteOptions};
use serde_json::json;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

type Failure = Box<dyn std::error::Error>;

fn connect(url: &str) -> Result<DbConnection, Failure> {
    Ok(DbConnection::open(
        &DatabaseUrl::parse(url)?,
        SqliteOptions::default(),
    )?)
}

fn make_plan(args: &RunArgs) -> plan::Plan {
    plan::make(&plan::PlanSettings {
        run: args.run.clone(),
        events: args.events,
        collections: args.collections,
        duplicate_ratio: args.duplicates,
        reorder_ratio: args.out_of_order,
        body_bytes: args.body_bytes,
        seed: args.seed,
    })
}

fn create_collections(conn: &mut DbConnection, plan: &plan::Plan) -> Result<(), Failure> {
    persistence::write_transaction(conn, |conn| -> Result<(), persistence::StoreError> {
        for c in 0..plan.expected.len() {
            let reference = plan::request_ref(&plan.run, c);
            persistence::create_collection(
                conn,
                &persistence::NewCollection::initiated(&reference),
                persistence::now(),
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

fn run(cli: Cli) -> Result<bool, Failure> {
    match cli.mode {
        Mode::Ingest {
            run,
            addr,
            concurrency,
            rate,
            drain_timeout_secs,
            retry,
            through,
        } => ingest(
            &run,
            addr,
            concurrency,
            rate,
            drain_timeout_secs,
            &retry,
            &through,
        ),
        Mode::Backlog { run } => backlog(&run),
        Mode::Drain {
            run,
            drain_timeout_secs,
        } => drain(&run, drain_timeout_secs),
        Mode::ApiBench {
            api,
            api_key,
            run,
            connections,
            seconds,
            out,
        } => {
            if !run
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err("--run: only letters, digits, '-' and '_' (it goes into paths)".into());
            }
            let api = Arc::new(api::Api::new(&api, &api_key));
            let settings = Arc::new(api_bench::BenchSettings {
                run,
                connections,
                duration: Duration::from_secs(seconds.max(1)),
            });
            let figures = runtime()?.block_on(api_bench::run(api, settings));
            finish(out.as_deref(), &figures)?;
            Ok(figures["passed"].as_bool().unwrap_or(false))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Creates the run's collections through the API, the way an application would; any answer
/// but 201 or 200 is an error naming the collection.
fn create_through_api(
    runtime: &tokio::runtime::Runtime,
    through: &ApiArgs,
    addr: &str,
    plan: &plan::Plan,
) -> Result<api::Created, Failure> {
    let key = through
        .api_key
        .as_deref()
        .ok_or("--api needs --api-key (or LOADGEN_API_KEY)")?;
    let refs: Vec<String> = (0..plan.expected.len())
        .map(|c| plan::request_ref(&plan.run, c))
        .collect();
    let created = runtime
        .block_on(api::create_collections(
            Arc::new(api::Api::new(addr, key)),
            Arc::new(refs),
            through.api_connections,
        ))
        .map_err(|e| format!("creating the run's collections through the API: {e}"))?;
    eprintln!(
        "loadgen: {} collections created through the API at {addr} in {:.2} s ({} there already)",
        created.new, created.seconds, created.existing
    );
    Ok(created)
}

fn ingest(
    args: &RunArgs,
    addrs: Vec<String>,
    concurrency: usize,
    rate: Option<f64>,
    drain_timeout: u64,
    retry: &RetryArgs,
    through: &ApiArgs,
) -> Result<bool, Failure> {
    let plan = Arc::new(make_plan(args));
    let answers = match &retry.answers {
        Some(path) => Some(Arc::new(send::AnswerLog::create(path)?)),
        None => None,
    };
    let runtime = runtime()?;
    let created_through_api = match &through.api {
        Some(addr) => Some(create_through_api(&runtime, through, addr, &plan)?),
        None => {
            create_collections(&mut connect(&args.database_url)?, &plan)?;
            None
        }
    };
    let scheme = args.preset.preset().scheme();
    let settings = Arc::new(send::SendSettings {
        addrs,
        path: format!("/webhooks/{}", args.provider),
        concurrency,
        secret: scheme.secret(&args.secret)?,
        scheme,
        rate,
        attempts: retry.attempts.max(1),
        retry_pause: Duration::from_millis(retry.retry_ms),
        attempt_timeout: Duration::from_millis(retry.attempt_timeout_ms.max(1)),
        answers: answers.clone(),
    });
    eprintln!(
        "loadgen: sending {} deliveries ({} collections) with {concurrency} connections{}",
        plan.deliveries.len(),
        plan.expected.len(),
        rate.map(|r| format!(" at {r:.0}/s")).unwrap_or_default()
    );
    let (sent, elapsed) = runtime.block_on(send::send_all(plan.clone(), settings));
    if let Some(log) = &answers {
        log.finish()?;
    }
    let acknowledged = sent
        .iter()
        .filter(|s| (200..300).contains(&s.status))
        .count();
    let retried = sent.iter().filter(|s| s.attempts > 1).count();
    let latency = report::percentiles(sent.iter().map(|s| s.latency).collect());
    let ingest_rate = acknowledged as f64 / elapsed.as_secs_f64();
    eprintln!("loadgen: {acknowledged}/{} acknowledged in {:.2} s: {ingest_rate:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms",
        sent.len(), elapsed.as_secs_f64(), latency.p50_ms, latency.p99_ms, latency.p999_ms);

    let mut figures = json!({
        "mode": "ingest", "run": args.run, "deliveries": sent.len(), "acknowledged": acknowledged,
        "retried": retried, "concurrency": concurrency, "rate_target": rate,
        "send_seconds": elapsed.as_secs_f64(), "ingest_per_sec": ingest_rate, "latency": latency,
        "timeline": report::timeline(&sent),
        "collections_created_through_api": created_through_api,
    });
    let mut passed = acknowledged == sent.len();
    if drain_timeout > 0 {
        // A connection of its own: one opened before sending may not have lived through what the
        // run did to the database (a fault test restarts it).
        let mut conn = connect(&args.database_url)?;
        let drained =
            check::wait_for_drain(&mut conn, &args.run, Duration::from_secs(drain_timeout))?;
        let lag = report::percentiles(check::lags(&mut conn, &args.provider, &args.run)?);
        let verdict = check::verify(&mut conn, &args.provider, &plan, &sent)?;
        eprintln!(
            "loadgen: drained {} after sending; lag p50 {:.1} ms, p99 {:.1} ms; invariants {}",
            drained.map_or("NOT within the timeout".to_owned(), |d| format!(
                "{:.2} s",
                d.as_secs_f64()
            )),
            lag.p50_ms,
            lag.p99_ms,
            if verdict.passed() { "hold" } else { "BROKEN" }
        );
        passed &= drained.is_some() && verdict.passed();
        figures["drain_after_send_seconds"] = json!(drained.map(|d| d.as_secs_f64()));
        figures["lag"] = json!(lag);
        figures["verdict"] = json!(verdict);
    }
    figures["passed"] = json!(passed);
    finish(args.out.as_deref(), &figures)?;
    Ok(passed)
}

fn backlog(args: &RunArgs) -> Result<bool, Failure> {
    let mut conn = connect(&args.database_url)?;
    let plan = make_plan(args);
    create_collections(&mut conn, &plan)?;
    let started = Instant::now();
    let at = persistence::now();
    for chunk in plan.deliveries.chunks(1000) {
        let payloads: Vec<serde_json::Value> = chunk
            .iter()
            .map(|d| serde_json::from_slice(&d.body))
            .collect::<Result<_, _>>()?;
        let references: Vec<String> = chunk
            .iter()
            .map(|d| plan::request_ref(&plan.run, d.collection))
            .collect();
        let news: Vec<persistence::BatchEvent<'_>> = chunk
            .iter()
            .zip(&payloads)
            .zip(&references)
            .map(|((d, payload), reference)| persistence::BatchEvent {
                event: persistence::NewWebhookEvent::received(
                    &args.provider,
                    Some(&d.event_id),
                    &d.event_id,
                    Some(reference),
                    payload,
                    None,
                    at,
                ),
                // The body the payload was parsed from: stored as it is, as the receiver does.
                payload_json: Some(&d.body),
            })
            .collect();
        persistence::record_events(&mut conn, &news)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "loadgen: wrote {} deliveries as a backlog in {seconds:.1} s",
        plan.deliveries.len(),
    );
    finish(
        args.out.as_deref(),
        &json!({"mode": "backlog", "run": args.run, "deliveries": plan.deliveries.len(),
        "write_seconds": seconds, "passed": true}),
    )?;
    Ok(true)
}

fn drain(args: &RunArgs, timeout: u64) -> Result<bool, Failure> {
    let mut conn = connect(&args.database_url)?;
    let plan = make_plan(args);
    let total = check::pending(&mut conn, &args.provider, &args.run)?;
    let drained = check::wait_for_drain(&mut conn, &args.run, Duration::from_secs(timeout))?;
    let sent: Vec<send::Sent> = (0..plan.deliveries.len())
        .map(|index| send::Sent {
            index,
            status: 202,
            id: None,
            latency: Duration::ZERO,
            done_at: Duration::ZERO,
            attempts: 1,
        })
        .collect();
    let verdict = check::verify(&mut conn, &args.provider, &plan, &sent)?;
    let rate = drained.map(|d| total as f64 / d.as_secs_f64());
    eprintln!(
        "loadgen: {total} events drained in {}: {} events/s; invariants {}",
        drained.map_or("NOT within the timeout".to_owned(), |d| format!(
            "{:.2} s",
            d.as_secs_f64()
        )),
        rate.map_or("-".to_owned(), |r| format!("{r:.0}")),
        if verdict.passed() { "hold" } else { "BROKEN" }
    );
    let passed = drained.is_some() && verdict.passed();
    finish(
        args.out.as_deref(),
        &json!({"mode": "drain", "run": args.run, "events": total,
        "drain_seconds": drained.map(|d| d.as_secs_f64()), "drain_per_sec": rate,
        "verdict": verdict, "passed": passed}),
    )?;
    Ok(passed)
}

fn finish(out: Option<&Path>, figures: &serde_json::Value) -> Result<(), Failure> {
    if let Some(path) = out {
        std::fs::write(path, serde_json::to_string_pretty(figures)?)?;
    }
    if !figures["passed"].as_bool().unwrap_or(false) {
        match figures.get("verdict") {
            Some(verdict) => eprintln!("loadgen: FAILED: {verdict}"),
            None => eprintln!("loadgen: FAILED"),
        }
    }
    Ok(())
}
