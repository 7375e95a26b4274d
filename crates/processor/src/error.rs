//! Errors of the processor's public API, all raised while starting: a processor that runs never
//! stops on an error. Trouble while working (database down, Redis down, a lock not had, a bad
//! event) is handled where it happens: retried, failed with a reason, or waited out.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] inbox_config::ConfigError),
    #[error(transparent)]
    Store(#[from] persistence::StoreError),
    /// The Redis URL could not be turned into a client (an unreachable Redis is not an error:
    /// the processor falls back to the database lock).
    #[error("invalid configuration: redis.url: {0}")]
    Redis(String),
    /// The notification endpoint's URL is not one the HTTP client can send to.
    #[error("invalid configuration: {0}")]
    Notify(String),
    #[error("cannot listen on {addr} (processor.metrics_addr): {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
