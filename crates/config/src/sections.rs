//! The configuration sections and their defaults. Durations are whole numbers with their unit in
//! the key (`_ms`, `_secs`), so a value means the same in TOML and in an environment variable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use persistence::{DatabaseUrl, PoolSettings, SqliteOptions};
use secrecy::SecretString;
use serde::Deserialize;

use crate::api::ApiSettings;
use crate::error::ConfigError;
use crate::notify::NotifySettings;
use crate::providers::ProviderSettings;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub receiver: ReceiverSettings,
    pub processor: ProcessorSettings,
    pub api: ApiSettings,
    pub notify: NotifySettings,
    /// Named providers: the `{provider}` of `POST /webhooks/{provider}`.
    pub providers: BTreeMap<String, ProviderSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…`, `sqlite://path` or a file path. Kept secret: it may hold a password.
    pub url: SecretString,
    pub pool_size: u32,
    pub pool_min_idle: u32,
    /// How long a request waits for a pooled connection before the answer is 503.
    pub pool_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
    /// PostgreSQL: the statement and idle-in-transaction timeout of the services' pooled
    /// connections; 0 leaves the server's settings.
    pub statement_timeout_ms: u64,
    /// Apply pending migrations at start-up (under an advisory lock on PostgreSQL).
    pub run_migrations: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: SecretString::from("sqlite://var/inbox.db"),
            pool_size: 16,
            pool_min_idle: 1,
            pool_timeout_ms: 1_000,
            sqlite_busy_timeout_ms: 5_000,
            statement_timeout_ms: 30_000,
            run_migrations: true,
        }
    }
}

impl DatabaseSettings {
    pub fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        use secrecy::ExposeSecret;
        DatabaseUrl::parse(self.url.expose_secret())
            .map_err(|e| ConfigError::new("database.url", e.to_string()))
    }

    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_size: self.pool_size,
            min_idle: self.pool_min_idle,
            connection_timeout: Duration::from_millis(self.pool_timeout_ms),
            sqlite: SqliteOptions {
                busy_timeout: Duration::from_millis(self.sqlite_busy_timeout_ms),
            },
            statement_timeout: (self.statement_timeout_ms > 0)
                .then(|| Duration::from_millis(self.statement_timeout_ms)),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db`; empty means no Redis (locks use the database).
    pub url: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `receiver=debug,info`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverSettings {
    pub bind: SocketAddr,
    /// Where `/metrics` is served: its own listener, never the public webhook port.
    pub metrics_addr: SocketAddr,
    /// Largest accepted request body; larger ones get 413.
    pub body_limit_bytes: usize,
    /// The headers must arrive within this, and then the whole body within this again; a
    /// request still incomplete gets 408 and its connection is closed.
    pub request_timeout_secs: u64,
    /// Actix worker threads; 0 means one per core.
    pub workers: usize,
    /// On SIGTERM, how long in-flight requests may take to finish.
    pub shutdown_grace_secs: u64,
    /// Group commit: threads writing batches of deliveries (SQLite always uses one).
    pub record_writers: usize,
    /// Group commit: most deliveries recorded in one transaction.
    pub record_batch_max: usize,
    /// Deliveries waiting for a writer; past this the receiver answers 503 (overload).
    pub record_queue_capacity: usize,
    /// A delivery not recorded within this gets 503 `storage_unavailable`, whatever the
    /// database does (down, or silent).
    pub record_timeout_ms: u64,
}

impl Default for ReceiverSettings {
    fn default() -> Self {
        ReceiverSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            // Beside a local processor, whose default is 9090.
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9091)),
            body_limit_bytes: 256 * 1024,
            request_timeout_secs: 30,
            workers: 0,
            shutdown_grace_secs: 30,
            record_writers: 4,
            record_batch_max: 100,
            record_queue_capacity: 4096,
            // Twice the pool's wait for a connection: a batch may queue behind one such wait.
            record_timeout_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorSettings {
    /// Where `GET /healthz`, `GET /readyz` and `GET /metrics` listen.
    pub metrics_addr: SocketAddr,
    /// Events claimed per batch.
    pub batch_size: u32,
    /// Events worked on at once.
    pub concurrency: u32,
    /// How often to look for work when no notification arrives.
    pub poll_interval_ms: u64,
    /// How long a claim hides an event from other processors; a processor that dies mid-work
    /// gives its events back after this long.
    pub lease_secs: u64,
    /// How long to wait for a payment's lock before retrying the event later.
    pub lock_wait_ms: u64,
    /// How long a Redis lock lives if its holder dies without releasing it.
    pub lock_ttl_ms: u64,
    /// Attempts before an event with a transient failure ends FAILED.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter, up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// On SIGTERM, how long work in hand may take to finish.
    pub shutdown_grace_secs: u64,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        ProcessorSettings {
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            batch_size: 200,
            concurrency: 4,
            poll_interval_ms: 1_000,
            lease_secs: 300,
            lock_wait_ms: 10_000,
            lock_ttl_ms: 30_000,
            max_attempts: 8,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            shutdown_grace_secs: 30,
        }
    }
}

impl Settings {
    /// Checks every value that deserialisation alone cannot; the first problem found is the
    /// error, naming its key.
    /// Each provider's payload profile, by name, without reading any secret.
    pub fn payload_profiles(&self) -> BTreeMap<String, domain::PayloadProfile> {
        self.providers
            .iter()
            .map(|(name, provider)| (name.clone(), provider.payload_profile()))
            .collect()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database.database_url()?;
        positive("database.pool_size", self.database.pool_size.into())?;
        positive("database.pool_timeout_ms", self.database.pool_timeout_ms)?;
        if let Some(url) = &self.redis.url {
            use secrecy::ExposeSecret;
            let url = url.expose_secret();
            if !(url.is_empty() || url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    "redis.url",
                    "expected redis://host:port[/db] or rediss://…",
                ));
            }
        }
        positive(
            "receiver.body_limit_bytes",
            self.receiver.body_limit_bytes as u64,
        )?;
        positive(
            "receiver.request_timeout_secs",
            self.receiver.request_timeout_secs,
        )?;
        positive(
            "receiver.record_timeout_ms",
            self.receiver.record_timeout_ms,
        )?;
        let p = &self.processor;
        positive("processor.batch_size", p.batch_size.into())?;
        positive("processor.concurrency", p.concurrency.into())?;
        positive("processor.poll_interval_ms", p.poll_interval_ms)?;
        positive("processor.lease_secs", p.lease_secs)?;
        if p.lease_secs > 7 * 24 * 3600 {
            return Err(ConfigError::new(
                "processor.lease_secs",
                "must be at most 604800 (a week): a dead processor's events come back only after it",
            ));
        }
        positive("processor.lock_ttl_ms", p.lock_ttl_ms)?;
        positive("processor.max_attempts", p.max_attempts.into())?;
        positive("processor.retry_base_ms", p.retry_base_ms)?;
        if p.retry_max_ms < p.retry_base_ms {
            return Err(ConfigError::new(
                "processor.retry_max_ms",
                "must not be smaller than processor.retry_base_ms",
            ));
        }
        if p.lease_secs * 1_000 <= p.lock_wait_ms {
            return Err(ConfigError::new(
                "processor.lease_secs",
                "must be longer than processor.lock_wait_ms, or a claim could run out while \
                 its processor still waits for the lock",
            ));
        }
        self.api.validate()?;
        self.notify.validate()?;
        for (name, provider) in &self.providers {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ConfigError::new(
                    format!("providers.{name}"),
                    "provider names may hold only letters, digits, '-' and '_'",
                ));
            }
            provider.validate(name)?;
        }
        Ok(())
    }
}

fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::new(key, "must be greater than 0"))
    } else {
        Ok(())
    }
}
