//! `/metrics` on a listener of its own (`*.metrics_addr`), never on the public port: the internet
//! must not read the service's counters.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::health;

/// The listener's port (the configured one, or the one chosen for port 0) and its handle, to
/// stop it after the main server.
pub struct MetricsListener {
    pub port: u16,
    pub handle: ServerHandle,
}

/// Binds `addr` and serves `GET /metrics` from `handle` on one worker, in the background.
pub fn start(
    addr: SocketAddr,
    handle: PrometheusHandle,
) -> Result<MetricsListener, std::io::Error> {
    let listener = TcpListener::bind(addr)?;
    let port = listener.local_addr()?.port();
    let handle = web::Data::new(handle);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .route(
                "/metrics",
                web::get().to(|handle: web::Data<PrometheusHandle>| async move {
                    health::prometheus_text(&handle)
                }),
            )
            .default_service(web::to(health::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let stop = server.handle();
    tokio::spawn(server);
    Ok(MetricsListener { port, handle: stop })
}
