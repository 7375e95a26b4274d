//! Provider entries: a preset, optionally another signature scheme or other field paths, and the
//! names of the environment variables holding its secrets (several during a rotation), so that
//! secrets come from Kubernetes Secrets or the shell, never from the config file.

use domain::extract::{FieldMap, FieldPath};
use domain::provider::{PayloadProfile, Preset};
use domain::signature::{Scheme, SigningSecret};
use domain::{AmountCheck, Unit};
use serde::Deserialize;

use crate::error::ConfigError;
use crate::load::Environment;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub preset: Preset,
    /// Replaces the preset's signature scheme; `"none"` accepts unsigned requests (the receiver
    /// warns at start-up).
    #[serde(default)]
    pub signature: Option<Scheme>,
    /// Names of environment variables, each holding one accepted secret.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Replaces the preset's search paths for the fields given.
    #[serde(default)]
    pub fields: FieldOverrides,
    /// How strictly successes' amounts are checked: `strict`, `when_present` or `off`
    /// (default: the preset's; docs/providers.md, "Amounts").
    #[serde(default)]
    pub amount_check: Option<AmountCheck>,
    /// The unit of the amounts this provider sends: `minor` or `major` (default: the preset's).
    #[serde(default)]
    pub amount_unit: Option<AmountUnit>,
}

/// `providers.<name>.amount_unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountUnit {
    Minor,
    Major,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldOverrides {
    pub event_id: Option<Vec<String>>,
    pub request_ref: Option<Vec<String>>,
    pub status: Option<Vec<String>>,
    pub provider_ref: Option<Vec<String>>,
    pub amount: Option<Vec<String>>,
    pub currency: Option<Vec<String>>,
}

/// A provider ready to verify and read requests.
#[derive(Clone)]
pub struct Provider {
    pub name: String,
    pub preset: Preset,
    pub scheme: Scheme,
    pub secrets: Vec<SigningSecret>,
    pub payload: PayloadProfile,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("preset", &self.preset)
            .field("scheme", &self.scheme)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Provider {
    pub fn is_unsigned(&self) -> bool {
        matches!(self.scheme, Scheme::None)
    }
}

impl ProviderSettings {
    pub(crate) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let scheme = self.scheme();
        if scheme.requires_secret() && self.secrets.is_empty() {
            return Err(ConfigError::new(
                format!("providers.{name}.secrets"),
                format!(
                    "the {} scheme needs at least one secret (names of environment variables); \
                     set signature = \"none\" to accept unsigned requests",
                    self.preset.name()
                ),
            ));
        }
        for (field, paths) in self.fields.lists() {
            for path in paths {
                FieldPath::parse(path).map_err(|e| {
                    ConfigError::new(format!("providers.{name}.fields.{field}"), e.to_string())
                })?;
            }
        }
        Ok(())
    }

    fn scheme(&self) -> Scheme {
        self.signature
            .clone()
            .unwrap_or_else(|| self.preset.scheme())
    }

    /// Reads the secrets from the environment and builds the provider.
    pub fn resolve(&self, name: &str, env: &dyn Environment) -> Result<Provider, ConfigError> {
        self.validate(name)?;
        let key = format!("providers.{name}.secrets");
        let scheme = self.scheme();
        let mut secrets = Vec::with_capacity(self.secrets.len());
        for var in &self.secrets {
            let value = env.var(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError::new(&key, format!("environment variable {var} is not set"))
            })?;
            let secret = scheme.secret(&value).map_err(|e| {
                ConfigError::new(&key, format!("the secret in {var} is unusable: {e}"))
            })?;
            secrets.push(secret);
        }
        Ok(Provider {
            name: name.to_owned(),
            preset: self.preset,
            scheme,
            secrets,
            payload: self.payload_profile(),
        })
    }

    /// How to read this provider's payloads: the preset's fields with the overrides. All that the
    /// processor needs; it never reads the signing secrets.
    pub fn payload_profile(&self) -> PayloadProfile {
        let mut payload = self.preset.payload();
        self.fields.apply(&mut payload.fields);
        if let Some(check) = self.amount_check {
            payload.amount_check = check;
        }
        match self.amount_unit {
            Some(AmountUnit::Minor) => payload.amount_unit = Unit::Minor,
            Some(AmountUnit::Major) => payload.amount_unit = Unit::Major,
            None => {}
        }
        payload
    }
}

impl FieldOverrides {
    fn lists(&self) -> [(&'static str, &[String]); 6] {
        fn or_empty(v: &Option<Vec<String>>) -> &[String] {
            v.as_deref().unwrap_or(&[])
        }
        [
            ("event_id", or_empty(&self.event_id)),
            ("request_ref", or_empty(&self.request_ref)),
            ("status", or_empty(&self.status)),
            ("provider_ref", or_empty(&self.provider_ref)),
            ("amount", or_empty(&self.amount)),
            ("currency", or_empty(&self.currency)),
        ]
    }

    /// Paths were checked by `validate`; any that fail to parse here are dropped.
    fn apply(&self, fields: &mut FieldMap) {
        let parse = |paths: &Vec<String>| -> Vec<FieldPath> {
            paths
                .iter()
                .filter_map(|p| FieldPath::parse(p).ok())
                .collect()
        };
        let targets = [
            (&self.event_id, &mut fields.event_id),
            (&self.request_ref, &mut fields.request_ref),
            (&self.status, &mut fields.status),
            (&self.provider_ref, &mut fields.provider_ref),
            (&self.amount, &mut fields.amount),
            (&self.currency, &mut fields.currency),
        ];
        for (overridden, target) in targets {
            if let Some(paths) = overridden {
                *target = parse(paths);
            }
        }
    }
}
