//! `[api]`: the host application's API server, and its keys. A key is declared by name with its
//! scopes and the names of the environment variables holding its material (two during a
//! rotation), as provider secrets are: the material never sits in the configuration file.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::ConfigError;
use crate::load::Environment;

/// Shortest accepted key material: a key is a password that never expires, so a short one is
/// refused at start-up rather than guessed later.
pub const MIN_KEY_LEN: usize = 24;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    pub bind: SocketAddr,
    /// Where `/metrics` is served: its own listener, as the receiver's.
    pub metrics_addr: SocketAddr,
    /// Largest accepted request body; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Headers within this, then the whole body within this again; else 408.
    pub request_timeout_secs: u64,
    /// Actix worker threads; 0 means one per core.
    pub workers: usize,
    /// On SIGTERM, how long in-flight requests may take to finish.
    pub shutdown_grace_secs: u64,
    /// The most rows one page of a list may hold (`limit` above it is refused with 422).
    pub max_page_size: u32,
    /// Mark the console's cookies `Secure` whatever the request says: set it when the console is
    /// reached over TLS through a proxy that does not send `X-Forwarded-Proto: https`.
    pub console_secure_cookie: bool,
    /// The keys allowed in, by name (the name is the actor of their overrides).
    pub keys: BTreeMap<String, ApiKeySettings>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8081)),
            // Beside a local processor (9090) and receiver (9091).
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9092)),
            body_limit_bytes: 64 * 1024,
            request_timeout_secs: 30,
            workers: 0,
            shutdown_grace_secs: 30,
            max_page_size: 500,
            console_secure_cookie: false,
            keys: BTreeMap::new(),
        }
    }
}

/// What a key may do. `write` includes nothing of `read`: a key is given each scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read collections, events and notifications.
    Read,
    /// Create collections.
    Write,
    /// Override a collection's status; replay events.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    pub scopes: Vec<Scope>,
    /// Names of environment variables, each holding one accepted key (two during a rotation).
    pub secrets: Vec<String>,
}

/// A key ready to compare: its name, its scopes, and the material of each of its secrets.
#[derive(Clone)]
pub struct ApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub secrets: Vec<SecretString>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl ApiSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("api.body_limit_bytes", self.body_limit_bytes as u64),
            ("api.request_timeout_secs", self.request_timeout_secs),
            ("api.max_page_size", self.max_page_size.into()),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be greater than 0"));
            }
        }
        for (name, key) in &self.keys {
            let at = format!("api.keys.{name}");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ConfigError::new(
                    at,
                    "key names may hold only letters, digits, '-' and '_'",
                ));
            }
            if key.scopes.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.scopes"),
                    "name at least one of \"read\", \"write\", \"admin\"",
                ));
            }
            if key.secrets.is_empty() || key.secrets.len() > 2 {
                return Err(ConfigError::new(
                    format!("{at}.secrets"),
                    "name one environment variable holding the key, or two during a rotation",
                ));
            }
        }
        Ok(())
    }

    /// Reads each key's material from the environment. A variable that is unset or shorter than
    /// `MIN_KEY_LEN` stops start-up, naming the variable, never its value.
    pub fn resolve_keys(&self, env: &dyn Environment) -> Result<Vec<ApiKey>, ConfigError> {
        let mut keys = Vec::new();
        for (name, key) in &self.keys {
            let mut secrets = Vec::new();
            for var in &key.secrets {
                let at = format!("api.keys.{name}.secrets");
                let value = env.var(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                    ConfigError::new(&at, format!("environment variable {var} is not set"))
                })?;
                if value.trim().len() < MIN_KEY_LEN {
                    return Err(ConfigError::new(
                        &at,
                        format!(
                            "the key in {var} is shorter than {MIN_KEY_LEN} characters; make one \
                             with `openssl rand -hex 32`"
                        ),
                    ));
                }
                secrets.push(SecretString::from(value.trim().to_owned()));
            }
            keys.push(ApiKey {
                name: name.clone(),
                scopes: key.scopes.clone(),
                secrets,
            });
        }
        let mut seen: Vec<&str> = Vec::new();
        for key in &keys {
            for secret in &key.secrets {
                let material = secret.expose_secret();
                if seen.contains(&material) {
                    return Err(ConfigError::new(
                        format!("api.keys.{}.secrets", key.name),
                        "two keys share the same material; each key needs its own",
                    ));
                }
                seen.push(material);
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(toml: &str) -> ApiSettings {
        let raw = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .unwrap();
        raw.try_deserialize().unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const LONG: &str = "k3y-material-0123456789abcdef";

    #[test]
    fn keys_come_from_the_environment_two_at_once_for_a_rotation() {
        let api = settings(
            "[keys.billing]\nscopes = [\"read\", \"write\"]\nsecrets = [\"OLD\", \"NEW\"]\n",
        );
        api.validate().unwrap();
        let keys = api
            .resolve_keys(&env(&[
                ("OLD", LONG),
                ("NEW", "another-key-material-9876543210"),
            ]))
            .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].name, "billing");
        assert_eq!(keys[0].scopes, vec![Scope::Read, Scope::Write]);
        assert_eq!(keys[0].secrets.len(), 2);
        assert!(!format!("{:?}", keys[0]).contains(LONG));
    }

    #[test]
    fn a_missing_short_or_shared_key_stops_start_up_without_quoting_it() {
        let api = settings("[keys.app]\nscopes = [\"read\"]\nsecrets = [\"APP_KEY\"]\n");
        let err = api.resolve_keys(&env(&[])).unwrap_err();
        assert!(err.to_string().contains("APP_KEY is not set"), "{err}");
        let err = api
            .resolve_keys(&env(&[("APP_KEY", "short-key")]))
            .unwrap_err();
        assert!(err.to_string().contains("shorter than 24"), "{err}");
        assert!(!err.to_string().contains("short-key"), "{err}");
        let two = settings(
            "[keys.a]\nscopes = [\"read\"]\nsecrets = [\"A\"]\n\
             [keys.b]\nscopes = [\"admin\"]\nsecrets = [\"B\"]\n",
        );
        let err = two
            .resolve_keys(&env(&[("A", LONG), ("B", LONG)]))
            .unwrap_err();
        assert!(err.to_string().contains("share the same material"), "{err}");
    }

    #[test]
    fn declarations_are_checked() {
        let no_scope = settings("[keys.app]\nscopes = []\nsecrets = [\"K\"]\n");
        assert!(no_scope
            .validate()
            .unwrap_err()
            .to_string()
            .contains("scopes"));
        let three = settings("[keys.app]\nscopes = [\"read\"]\nsecrets = [\"A\", \"B\", \"C\"]\n");
        assert!(three
            .validate()
            .unwrap_err()
            .to_string()
            .contains("secrets"));
        let bad_name = settings("[keys.\"a b\"]\nscopes = [\"read\"]\nsecrets = [\"K\"]\n");
        assert!(bad_name.validate().is_err());
    }
}
