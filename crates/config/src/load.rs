//! The layered loader: defaults, file, environment; then `DATABASE_URL` / `REDIS_URL`, validation
//! and provider secrets. The environment is passed in, so tests need not touch the process's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;

use crate::error::ConfigError;
use crate::providers::Provider;
use crate::relative;
use crate::sections::Settings;

/// Where environment variables come from.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
    fn vars(&self) -> Vec<(String, String)>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

impl Environment for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn vars(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Settings plus the providers resolved from them (secrets read).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub providers: Arc<BTreeMap<String, Provider>>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

/// Loads from the process environment; `file` is the `--config` argument, if given.
pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
    load_from(file, &ProcessEnvironment)
}

pub fn load_from(file: Option<&Path>, env: &dyn Environment) -> Result<Loaded, ConfigError> {
    let (settings, file) = load_settings_from(file, env)?;
    let providers = settings
        .providers
        .iter()
        .map(|(name, p)| Ok((name.clone(), p.resolve(name, env)?)))
        .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;
    Ok(Loaded {
        settings,
        providers: Arc::new(providers),
        file,
    })
}

/// Like `load_from`, without reading provider secrets: for tools that do not verify requests
/// (`inboxctl`), which should not need every provider's secret in their environment.
pub fn load_settings_from(
    file: Option<&Path>,
    env: &dyn Environment,
) -> Result<(Settings, Option<PathBuf>), ConfigError> {
    let file = file.map(Path::to_path_buf).or_else(|| {
        env.var("INBOX_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let mut builder = config::Config::builder();
    if let Some(path) = &file {
        if !path.is_file() {
            return Err(ConfigError::new(
                "config",
                format!("configuration file {} does not exist", path.display()),
            ));
        }
        builder =
            builder.add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml));
    }
    let inbox_vars: HashMap<String, String> = env
        .vars()
        .into_iter()
        .filter(|(k, _)| k.starts_with("INBOX__"))
        .collect();
    let has_var = |key: &str| inbox_vars.contains_key(key);
    let database_from_inbox = has_var("INBOX__DATABASE__URL");
    let redis_from_inbox = has_var("INBOX__REDIS__URL");
    builder = builder.add_source(
        config::Environment::with_prefix("INBOX")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(inbox_vars)),
    );
    let raw = builder.build().map_err(from_config_error)?;
    let mut settings: Settings = raw.try_deserialize().map_err(from_config_error)?;

    // The conventional variables apply unless the INBOX__ form names the same setting.
    let database_url_var = env.var("DATABASE_URL").filter(|v| !v.is_empty());
    let database_from_env = database_from_inbox || database_url_var.is_some();
    if !database_from_inbox {
        if let Some(url) = database_url_var {
            settings.database.url = SecretString::from(url);
        }
    }
    // A relative SQLite path set by the file is relative to the file (see `relative`).
    if let (Some(path), false) = (&file, database_from_env) {
        if let Some(url) = relative::file_database_url(path)? {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            if let Some(resolved) = relative::resolve_sqlite_path(&url, dir)? {
                settings.database.url = SecretString::from(resolved);
            }
        }
    }
    if !redis_from_inbox {
        if let Some(url) = env.var("REDIS_URL").filter(|v| !v.is_empty()) {
            settings.redis.url = Some(SecretString::from(url));
        }
    }
    settings.validate()?;
    Ok((settings, file))
}

fn from_config_error(err: config::ConfigError) -> ConfigError {
    let key = match &err {
        config::ConfigError::Type { key: Some(key), .. } => key.clone(),
        config::ConfigError::At { key: Some(key), .. } => key.clone(),
        config::ConfigError::NotFound(key) => key.clone(),
        _ => "config".to_owned(),
    };
    ConfigError::new(key, err.to_string())
}
