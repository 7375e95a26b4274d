//! Bearer API keys. A presented key is hashed (SHA-256) and the digest compared with every
//! configured key's digest in constant time, all of them every time: how long the check takes
//! says nothing about which key, or how much of one, was right. Keys never reach a log line;
//! the key's name does.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use inbox_config::{ApiKey, Scope};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::error::ApiError;
use crate::state::AppState;

/// The configured keys, as digests.
pub struct Keys {
    keys: Vec<KeyEntry>,
}

struct KeyEntry {
    caller: Caller,
    digests: Vec<[u8; 32]>,
}

/// Who is calling: the key's name (the `actor` of its overrides) and what it may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: Arc<str>,
    scopes: Vec<Scope>,
}

impl Caller {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// `Forbidden` unless the key holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(scope))
        }
    }
}

fn digest(material: &str) -> [u8; 32] {
    Sha256::digest(material.as_bytes()).into()
}

impl Keys {
    pub fn new(keys: &[ApiKey]) -> Keys {
        Keys {
            keys: keys
                .iter()
                .map(|key| KeyEntry {
                    caller: Caller {
                        name: Arc::from(key.name.as_str()),
                        scopes: key.scopes.clone(),
                    },
                    digests: key
                        .secrets
                        .iter()
                        .map(|s| digest(s.expose_secret()))
                        .collect(),
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The caller whose key this is, if any. Every digest is compared, whatever matched first.
    pub fn caller(&self, presented: &str) -> Option<&Caller> {
        let presented = digest(presented);
        let mut found: u32 = u32::MAX;
        for (index, entry) in self.keys.iter().enumerate() {
            for key in &entry.digests {
                let matched = key.ct_eq(&presented);
                found = u32::conditional_select(&found, &(index as u32), matched);
            }
        }
        self.keys.get(found as usize).map(|entry| &entry.caller)
    }
}

/// `Authorization: Bearer <key>`: the extractor every `/v1` handler takes first.
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request))
    }
}

fn authenticate(request: &HttpRequest) -> Result<Caller, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or(ApiError::Unauthorized)?;
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        })
        .filter(|key| !key.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let caller = state
        .keys
        .caller(presented)
        .cloned()
        .ok_or(ApiError::Unauthorized)?;
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn key(name: &str, scopes: &[Scope], secrets: &[&str]) -> ApiKey {
        ApiKey {
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            secrets: secrets
                .iter()
                .map(|s| SecretString::from(s.to_string()))
                .collect(),
        }
    }

    #[test]
    fn each_key_finds_its_caller_and_nothing_else_does() {
        let keys = Keys::new(&[
            key(
                "billing",
                &[Scope::Read],
                &["old-billing-key-0123456789", "new-billing-key-0123456789"],
            ),
            key("ops", &[Scope::Admin], &["ops-key-0123456789abcdefgh"]),
        ]);
        let name = |k: &str| keys.caller(k).map(|c| c.name.to_string());
        assert_eq!(
            name("old-billing-key-0123456789").as_deref(),
            Some("billing")
        );
        assert_eq!(
            name("new-billing-key-0123456789").as_deref(),
            Some("billing")
        );
        assert_eq!(name("ops-key-0123456789abcdefgh").as_deref(), Some("ops"));
        assert_eq!(name("ops-key-0123456789abcdefg"), None);
        assert_eq!(name(""), None);
        let ops = keys.caller("ops-key-0123456789abcdefgh").unwrap();
        assert!(ops.require(Scope::Admin).is_ok());
        assert!(matches!(
            ops.require(Scope::Read),
            Err(ApiError::Forbidden(Scope::Read))
        ));
    }
}
