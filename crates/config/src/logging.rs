//! Logging set-up for the binaries: `tracing` to stderr, as text or one JSON object per line,
//! filtered by `RUST_LOG` when set, else by `log.level`.

use tracing_subscriber::EnvFilter;

use crate::error::ConfigError;
use crate::sections::{LogFormat, LogSettings};

/// actix-web reports every request it cannot parse (garbage, a bad header, a URI too long) as
/// an ERROR of this target, though the client is at fault and has had its 400: scanners alone
/// produce thousands, which drown real errors. Silenced unless the filter names `actix_http`.
const CLIENT_NOISE: &str = "actix_http::h1::dispatcher=off";

pub fn init(settings: &LogSettings) -> Result<(), ConfigError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => filter(&value, "RUST_LOG")?,
        _ => filter(&settings.level, "log.level")?,
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

fn filter(directives: &str, key: &str) -> Result<EnvFilter, ConfigError> {
    let directives = if directives.contains("actix_http") {
        directives.to_owned()
    } else {
        format!("{directives},{CLIENT_NOISE}")
    };
    EnvFilter::try_new(&directives).map_err(|e| ConfigError::new(key, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_noise_is_silenced_unless_asked_for() {
        let default = filter("info", "log.level").unwrap().to_string();
        assert!(
            default.contains("actix_http::h1::dispatcher=off"),
            "{default}"
        );
        let asked = filter("info,actix_http=debug", "log.level")
            .unwrap()
            .to_string();
        assert!(!asked.contains("=off"), "{asked}");
        assert_eq!(filter("info,[", "log.level").unwrap_err().key, "log.level");
    }
}
