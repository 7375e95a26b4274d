//! What commands share: the loaded settings, and one database connection opened on demand.

use std::path::Path;

use inbox_config::{ProcessEnvironment, Settings};
use persistence::{DbConnection, SqliteOptions};

use crate::error::CtlError;

pub struct Context {
    pub settings: Settings,
    pub json: bool,
}

impl Context {
    pub fn load(config: Option<&Path>, json: bool) -> Result<Context, CtlError> {
        // Provider secrets are not read here: only `send` needs one, and it resolves its own.
        let (settings, _) = inbox_config::load_settings_from(config, &ProcessEnvironment)?;
        Ok(Context { settings, json })
    }

    pub fn connect(&self) -> Result<DbConnection, CtlError> {
        let url = self.settings.database.database_url()?;
        let options = SqliteOptions {
            busy_timeout: std::time::Duration::from_millis(
                self.settings.database.sqlite_busy_timeout_ms,
            ),
        };
        Ok(DbConnection::open(&url, options)?)
    }

    /// `operator:<login>` unless given.
    pub fn actor(&self, given: Option<String>) -> String {
        given.unwrap_or_else(|| {
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown".to_owned());
            format!("operator:{user}")
        })
    }
}
