//! Configuration of the webhook-inbox services, loaded once at start-up: built-in defaults, then
//! an optional TOML file (`--config` / `INBOX_CONFIG`), then `INBOX__SECTION__KEY` environment
//! variables; `DATABASE_URL` and `REDIS_URL` are honoured as such. `validate` turns every bad
//! value into one error naming its key, so a service never starts half-configured.

mod api;
mod error;
mod load;
pub mod logging;
mod notify;
mod providers;
mod relative;
mod sections;

pub use api::{ApiKey, ApiKeySettings, ApiSettings, Scope, MIN_KEY_LEN};
pub use error::ConfigError;
pub use load::{load, load_from, load_settings_from, Environment, Loaded, ProcessEnvironment};
pub use notify::NotifySettings;
pub use providers::{Provider, ProviderSettings};
pub use sections::{
    DatabaseSettings, LogFormat, LogSettings, ProcessorSettings, ReceiverSettings, RedisSettings,
    Settings,
};

#[cfg(test)]
mod docs_check;
#[cfg(test)]
mod tests;
