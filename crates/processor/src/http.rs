//! The processor's only HTTP: `GET /healthz` (the process answers), `GET /readyz` (the database
//! answers and the claim loop goes round) and `GET /metrics`, on `processor.metrics_addr`,
//! served by actix-web with one worker. It never accepts work: events arrive through the database.

use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use persistence::{ping, run_blocking, DbPool};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::liveness::Liveness;
use crate::metrics::Metrics;

/// How long `/readyz` waits for a pooled connection and `SELECT 1` before it says the database
/// is unreachable: below the probes' 2 s timeout, so the answer is ours and says why.
const DATABASE_CHECK: Duration = Duration::from_secs(1);

/// What the handlers read.
pub(crate) struct Probes {
    pub(crate) metrics: Metrics,
    pub(crate) liveness: Liveness,
    pub(crate) pool: DbPool,
}

/// Serves until `stop` fires (the processor is dropped). Signals are left to the binary, which
/// stops the claim loop on SIGTERM; this server must not stop on its own before that.
pub(crate) async fn serve(listener: TcpListener, probes: Probes, stop: CancellationToken) {
    let server = match listener
        .into_std()
        .and_then(|listener| build(listener, probes))
    {
        Ok(server) => server,
        Err(error) => {
            tracing::error!(%error, "Cannot serve /healthz, /readyz and /metrics");
            return;
        }
    };
    let handle = server.handle();
    tokio::spawn(async move {
        stop.cancelled().await;
        handle.stop(false).await;
    });
    if let Err(error) = server.await {
        tracing::error!(%error, "The metrics server failed");
    }
}

fn build(
    listener: std::net::TcpListener,
    probes: Probes,
) -> std::io::Result<actix_web::dev::Server> {
    let probes = web::Data::new(probes);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(probes.clone())
            .service(web::resource("/healthz").get(healthz))
            .service(web::resource("/readyz").get(readyz))
            .service(web::resource("/metrics").get(metrics))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the database answers within `DATABASE_CHECK` and the claim loop started a pass
/// recently (`Liveness`); 503 otherwise, the body saying which part is not ready.
async fn readyz(probes: web::Data<Probes>) -> HttpResponse {
    let pool = probes.pool.clone();
    let database = match tokio::time::timeout(DATABASE_CHECK, run_blocking(&pool, ping)).await {
        Ok(Ok(())) => "ok",
        Ok(Err(error)) => {
            tracing::warn!(%error, "Not ready: the database is unreachable");
            "unreachable"
        }
        Err(_) => {
            tracing::warn!("Not ready: the database did not answer within {DATABASE_CHECK:?}");
            "unreachable"
        }
    };
    let claim_loop = probes.liveness.check();
    if !claim_loop.is_running() {
        tracing::warn!(state = claim_loop.as_str(), "Not ready: the claim loop");
    }
    let ready = database == "ok" && claim_loop.is_running();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": database,
        "claim_loop": claim_loop.as_str(),
        "last_pass_seconds_ago": claim_loop.since().map(|d| d.as_secs_f64()),
        "stale_after_seconds": probes.liveness.stale_after().as_secs_f64(),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(probes: web::Data<Probes>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(probes.metrics.render())
}
