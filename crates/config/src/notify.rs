//! `[notify]`: where the host application is told of each change of a collection (the
//! dispatcher, docs/notifications.md). The signing secrets, `whsec_` + base64 as Standard
//! Webhooks gives them, come from environment variables named here, as provider secrets do.

use domain::signature::{Scheme, SigningSecret};
use serde::Deserialize;

use crate::error::ConfigError;
use crate::load::Environment;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// The endpoint notifications are POSTed to; unset: none is delivered (they are still
    /// written, listed and told on PostgreSQL's channel).
    pub url: Option<String>,
    /// Names of environment variables, each holding a `whsec_` secret; two during a rotation
    /// (each delivery is then signed with both).
    pub secrets: Vec<String>,
    /// How long one delivery may take, connect to last byte.
    pub timeout_ms: u64,
    /// Attempts before a notification ends FAILED.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter, up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Deliveries in flight at once (different collections; one collection's go one by one).
    pub concurrency: u32,
    /// How often to look for due notifications when no wake-up arrives.
    pub poll_interval_ms: u64,
    /// How long a claimed notification is hidden from other dispatchers; one whose dispatcher
    /// died is sent again after this (with the same `webhook-id`).
    pub lease_secs: u64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            url: None,
            secrets: Vec::new(),
            timeout_ms: 5_000,
            max_attempts: 12,
            retry_base_ms: 1_000,
            retry_max_ms: 600_000,
            concurrency: 32,
            poll_interval_ms: 1_000,
            lease_secs: 30,
        }
    }
}

impl NotifySettings {
    /// The endpoint, when one is configured.
    pub fn endpoint(&self) -> Option<&str> {
        self.url.as_deref().filter(|u| !u.trim().is_empty())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("notify.timeout_ms", self.timeout_ms),
            ("notify.max_attempts", self.max_attempts.into()),
            ("notify.retry_base_ms", self.retry_base_ms),
            ("notify.concurrency", self.concurrency.into()),
            ("notify.poll_interval_ms", self.poll_interval_ms),
            ("notify.lease_secs", self.lease_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be greater than 0"));
            }
        }
        if self.retry_max_ms < self.retry_base_ms {
            return Err(ConfigError::new(
                "notify.retry_max_ms",
                "must not be smaller than notify.retry_base_ms",
            ));
        }
        if self.lease_secs * 1_000 <= self.timeout_ms {
            return Err(ConfigError::new(
                "notify.lease_secs",
                "must be longer than notify.timeout_ms, or a delivery in flight could be sent \
                 again by another dispatcher",
            ));
        }
        if let Some(url) = self.endpoint() {
            let parsed = url::Url::parse(url)
                .map_err(|e| ConfigError::new("notify.url", format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ConfigError::new(
                    "notify.url",
                    "expected http://host[:port]/path or https://…",
                ));
            }
            if self.secrets.is_empty() || self.secrets.len() > 2 {
                return Err(ConfigError::new(
                    "notify.secrets",
                    "name one environment variable holding the whsec_ secret, or two during a \
                     rotation",
                ));
            }
        }
        Ok(())
    }

    /// Reads the signing secrets from the environment; none when no endpoint is configured. An
    /// unset variable or a secret that is not `whsec_` + base64 stops start-up, naming the
    /// variable, never its value.
    pub fn resolve_secrets(
        &self,
        env: &dyn Environment,
    ) -> Result<Vec<SigningSecret>, ConfigError> {
        if self.endpoint().is_none() {
            return Ok(Vec::new());
        }
        let scheme = Scheme::StandardWebhooks(Default::default());
        self.secrets
            .iter()
            .map(|var| {
                let value = env.var(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                    ConfigError::new(
                        "notify.secrets",
                        format!("environment variable {var} is not set"),
                    )
                })?;
                scheme.secret(value.trim()).map_err(|e| {
                    ConfigError::new("notify.secrets", format!("the secret in {var}: {e}"))
                })
            })
            .collect()
    }
}
