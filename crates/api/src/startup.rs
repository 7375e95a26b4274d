//! Builds the API from its settings and resolved keys: pool, routes, bound listeners. `main` and
//! the tests both go through `Application::build`; tests bind port 0. Migrations are left to the
//! processor or `inboxctl migrate`: the API only reads and writes rows.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use inbox_config::{ApiKey, ConfigError, Settings};
use persistence::{build_pool, DbPool, StoreError};

use crate::auth::Keys;
use crate::console::{self, Console};
use crate::error::ApiError;
use crate::routes::{collections, events, notifications};
use crate::state::AppState;
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Server,
    pool: DbPool,
    metrics_port: u16,
    metrics: ServerHandle,
}

impl Application {
    pub async fn build(settings: &Settings, keys: &[ApiKey]) -> Result<Application, StartupError> {
        let api = &settings.api;
        let url = settings.database.database_url()?;
        let pool_settings = settings.database.pool_settings();
        let pool = tokio::task::spawn_blocking(move || build_pool(&url, &pool_settings))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        let keys = Keys::new(keys);
        if keys.is_empty() {
            tracing::warn!(
                "no API keys are configured ([api.keys.<name>]): every /v1 request gets 401"
            );
        }
        let metrics_handle = telemetry::metrics_handle();
        let metrics = inbox_web::metrics_listener::start(api.metrics_addr, metrics_handle)
            .map_err(|source| StartupError::Bind {
                addr: api.metrics_addr,
                source,
            })?;
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            keys,
            body_limit: api.body_limit_bytes,
            request_timeout: Duration::from_secs(api.request_timeout_secs),
            max_page_size: api.max_page_size,
        });
        let console = web::Data::new(Console::new(settings));
        let addr = api.bind;
        let listener =
            TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(console.clone())
                .wrap(from_fn(telemetry::count_requests))
                .wrap(from_fn(inbox_web::request_id::request_id))
                .service(
                    web::scope("/v1")
                        .service(
                            resource("/collections")
                                .route(web::post().to(collections::create))
                                .route(web::get().to(collections::list)),
                        )
                        .service(
                            resource("/collections/{request_ref}")
                                .route(web::get().to(collections::show)),
                        )
                        .service(
                            resource("/collections/{request_ref}/status")
                                .route(web::post().to(collections::set_status)),
                        )
                        .service(resource("/events").route(web::get().to(events::list)))
                        .service(
                            resource("/events/replay").route(web::post().to(events::replay_many)),
                        )
                        .service(resource("/events/{id}").route(web::get().to(events::show)))
                        .service(
                            resource("/events/{id}/replay").route(web::post().to(events::replay)),
                        )
                        .service(
                            resource("/notifications").route(web::get().to(notifications::list)),
                        )
                        .service(
                            resource("/notifications/{id}")
                                .route(web::get().to(notifications::show)),
                        )
                        .service(
                            resource("/notifications/{id}/replay")
                                .route(web::post().to(notifications::replay)),
                        ),
                )
                .service(console::scope())
                .route("/healthz", web::get().to(inbox_web::health::healthz))
                .route(
                    "/readyz",
                    web::get().to(|state: web::Data<AppState>| async move {
                        inbox_web::health::readiness(&state.pool).await
                    }),
                )
                .default_service(web::to(inbox_web::health::not_found))
        })
        .shutdown_timeout(api.shutdown_grace_secs)
        .client_request_timeout(Duration::from_secs(api.request_timeout_secs));
        if api.workers > 0 {
            server = server.workers(api.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind { addr, source })?
            .run();
        tracing::info!(%addr, port, metrics = %api.metrics_addr, keys = keys_count(settings), "api listening");
        Ok(Application {
            port,
            server,
            pool,
            metrics_port: metrics.port,
            metrics: metrics.handle,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener (`api.metrics_addr`).
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Stops the server (gracefully, or at once with `graceful = false`) from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM / SIGINT (in-flight requests drain within the grace period) or a
    /// stop through the handle.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.metrics.stop(true).await;
        served
    }
}

/// A route's resource: a method it does not serve gets 405 in the API's error shape instead of
/// an empty answer.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(
    request: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(request.method().to_string()))
}

fn keys_count(settings: &Settings) -> usize {
    settings.api.keys.len()
}
