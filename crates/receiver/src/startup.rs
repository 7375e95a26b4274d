//! Builds the receiver from loaded configuration: pool, migrations, routes, bound listener.
//! `main` and the tests both go through `Application::build`; tests bind port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpServer};
use inbox_config::{ConfigError, Loaded};
use persistence::{build_pool, run_migrations, Backend, DbConnection, DbPool, StoreError};

use crate::recorder::{Recorder, RecorderSettings};
use crate::routes::{health, webhooks};
use crate::state::AppState;
use crate::tally::{IntakeFlusher, IntakeTally, FLUSH_INTERVAL};
use crate::{request_id, telemetry};

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
    /// The `/metrics` listener, running from `build` on; stopped after the main server.
    metrics: ServerHandle,
    /// Writes the per-minute counts; stopped after the main server, so the last are written.
    intake: IntakeFlusher,
}

impl Application {
    pub async fn build(loaded: Loaded) -> Result<Application, StartupError> {
        let settings = &loaded.settings;
        let url = settings.database.database_url()?;
        let pool_settings = settings.database.pool_settings();
        let migrate = settings.database.run_migrations;
        // Migrations run on a connection of their own, without the pool's statement timeout: a
        // long one (an index on a big table), or waiting for another replica's, is not a stall.
        let (pool, applied) = tokio::task::spawn_blocking(move || {
            let pool = build_pool(&url, &pool_settings)?;
            let applied = if migrate {
                run_migrations(&mut DbConnection::open(&url, pool_settings.sqlite)?)?
            } else {
                Vec::new()
            };
            Ok::<_, StoreError>((pool, applied))
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        if !applied.is_empty() {
            tracing::info!(?applied, "database migrations applied");
        }
        for provider in loaded.providers.values().filter(|p| p.is_unsigned()) {
            tracing::warn!(
                provider = %provider.name,
                "provider {} accepts UNSIGNED requests (signature = \"none\"): anyone who can reach \
                 this endpoint can record events for it",
                provider.name
            );
        }

        let addr = settings.receiver.bind;
        let listener =
            TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();
        let backend = settings.database.database_url()?.backend();
        let recorder = Recorder::start(
            pool.clone(),
            RecorderSettings {
                // SQLite has one writer at a time: more writer threads would only queue on its lock.
                writers: if backend == Backend::Sqlite {
                    1
                } else {
                    settings.receiver.record_writers
                },
                max_batch: settings.receiver.record_batch_max,
                queue_capacity: settings.receiver.record_queue_capacity,
                answer_timeout: Duration::from_millis(settings.receiver.record_timeout_ms),
            },
        )
        .map_err(|source| StartupError::Bind { addr, source })?;
        let metrics_addr = settings.receiver.metrics_addr;
        let metrics_handle = telemetry::metrics_handle();
        let metrics_listener =
            inbox_web::metrics_listener::start(metrics_addr, metrics_handle.clone()).map_err(
                |source| StartupError::Bind {
                    addr: metrics_addr,
                    source,
                },
            )?;
        let intake = Arc::new(IntakeTally::new(loaded.providers.keys()));
        let state = web::Data::new(AppState {
            recorder,
            pool: pool.clone(),
            providers: loaded.providers.clone(),
            body_limit: settings.receiver.body_limit_bytes,
            request_timeout: Duration::from_secs(settings.receiver.request_timeout_secs),
            metrics: metrics_handle,
            request_metrics: telemetry::RequestMetrics::new(
                loaded.providers.keys(),
                intake.clone(),
            ),
        });
        let static_routes: Vec<(String, Arc<str>)> = loaded
            .providers
            .keys()
            .filter_map(|name| {
                webhooks::static_route(name).map(|path| (path, Arc::from(name.as_str())))
            })
            .collect();
        let mut server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(state.clone())
                .wrap(from_fn(request_id::request_id));
            for (path, name) in &static_routes {
                let name = name.clone();
                app = app.route(
                    path,
                    web::post().to(
                        move |request: HttpRequest,
                              payload: web::Payload,
                              state: web::Data<AppState>| {
                            let name = name.clone();
                            async move {
                                webhooks::receive_for_provider(&name, request, payload, state).await
                            }
                        },
                    ),
                );
            }
            app.route(
                "/webhooks/{provider}",
                web::post().to(webhooks::receive_webhook),
            )
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .default_service(web::to(health::not_found))
        })
        .shutdown_timeout(settings.receiver.shutdown_grace_secs)
        .client_request_timeout(Duration::from_secs(settings.receiver.request_timeout_secs));
        if settings.receiver.workers > 0 {
            server = server.workers(settings.receiver.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind { addr, source })?
            .run();
        tracing::info!(%addr, port, metrics = %metrics_addr, providers = loaded.providers.len(), "receiver listening");
        let intake = IntakeFlusher::start(pool.clone(), intake, FLUSH_INTERVAL);
        Ok(Application {
            port,
            server,
            pool,
            metrics_port: metrics_listener.port,
            metrics: metrics_listener.handle,
            intake,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener (`receiver.metrics_addr`).
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
    /// stop through the handle; then writes the last per-minute counts.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.intake.stop().await;
        self.metrics.stop(true).await;
        served
    }
}
