//! Logging set-up for the binaries: `tracing` to stderr, as text or one JSON object per line,
//! filtered by `RUST_LOG` when set, else by `log.level`.

use tracing_subscriber::EnvFilter;

use crate::error::ConfigError;
use crate::sections::{LogFormat, LogSettings};

pub fn init(settings: &LogSettings) -> Result<(), ConfigError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => {
            EnvFilter::try_new(&value).map_err(|e| ConfigError::new("RUST_LOG", e.to_string()))?
        }
        _ => EnvFilter::try_new(&settings.level)
            .map_err(|e| ConfigError::new("log.level", e.to_string()))?,
    };
    use std::io::IsTerminal;
    // Colours only for a person at a terminal, never in files or log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| ConfigError::new("log", format!("logging already set up: {e}")))
}
