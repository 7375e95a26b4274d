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
    /// `fingerprint` of each digest, in the same order.
    fingerprints: Vec<String>,
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

/// Which secret of a key signed a console session in: 8 bytes of a SHA-256 of the secret's
/// digest, as hex. Stored with the session so that removing or rotating that secret out of the
/// configuration ends the sessions it opened. It says nothing usable about the secret: keys are
/// long random strings, and this is a truncated hash of their hash.
fn fingerprint(digest: &[u8; 32]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"inbox console session key\0");
    hasher.update(digest);
    hex::encode(&hasher.finalize()[..8])
}

/// The signed-in key as a console session stores it: its name and which of its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    pub name: Arc<str>,
    pub fingerprint: String,
}

impl Keys {
    pub fn new(keys: &[ApiKey]) -> Keys {
        Keys {
            keys: keys
                .iter()
                .map(|key| {
                    let digests: Vec<[u8; 32]> = key
                        .secrets
                        .iter()
                        .map(|s| digest(s.expose_secret()))
                        .collect();
                    KeyEntry {
                        caller: Caller {
                            name: Arc::from(key.name.as_str()),
                            scopes: key.scopes.clone(),
                        },
                        fingerprints: digests.iter().map(fingerprint).collect(),
                        digests,
                    }
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The caller whose key this is, if any. Every digest is compared, whatever matched first.
    pub fn caller(&self, presented: &str) -> Option<&Caller> {
        self.find(presented).map(|(entry, _)| &entry.caller)
    }

    /// As `caller`, with which of the key's secrets it was: what a console sign-in stores.
    pub fn sign_in(&self, presented: &str) -> Option<(&Caller, KeyIdentity)> {
        let (entry, secret) = self.find(presented)?;
        let identity = KeyIdentity {
            name: entry.caller.name.clone(),
            fingerprint: entry.fingerprints.get(secret)?.clone(),
        };
        Some((&entry.caller, identity))
    }

    /// The key entry and the index of its secret that `presented` is, comparing every digest.
    fn find(&self, presented: &str) -> Option<(&KeyEntry, usize)> {
        let presented = digest(presented);
        let (mut found_key, mut found_secret) = (u32::MAX, u32::MAX);
        for (index, entry) in self.keys.iter().enumerate() {
            for (secret, key) in entry.digests.iter().enumerate() {
                let matched = key.ct_eq(&presented);
                found_key = u32::conditional_select(&found_key, &(index as u32), matched);
                found_secret = u32::conditional_select(&found_secret, &(secret as u32), matched);
            }
        }
        let entry = self.keys.get(found_key as usize)?;
        Some((entry, found_secret as usize))
    }

    /// The caller a console session signed in by key `name` with the secret `fingerprint` stands
    /// for under the current configuration: none once the key, or that secret, is no longer
    /// configured. Scopes are the
    /// key's current ones. Not constant time, and need not be: both values come from our own
    /// table, not from the client.
    pub fn of_session(&self, name: &str, fingerprint: &str) -> Option<&Caller> {
        self.keys
            .iter()
            .find(|entry| &*entry.caller.name == name)
            .filter(|entry| entry.fingerprints.iter().any(|f| f == fingerprint))
            .map(|entry| &entry.caller)
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

    #[test]
    fn a_session_stands_for_its_key_while_the_secret_that_signed_in_is_configured() {
        let old = "old-billing-key-0123456789";
        let new = "new-billing-key-0123456789";
        let both = Keys::new(&[key("billing", &[Scope::Read], &[old, new])]);
        let (caller, by_old) = both.sign_in(old).unwrap();
        assert_eq!(&*caller.name, "billing");
        let (_, by_new) = both.sign_in(new).unwrap();
        assert_ne!(by_old.fingerprint, by_new.fingerprint, "one per secret");
        assert_eq!(by_old.fingerprint.len(), 16);
        assert!(both.sign_in("not-a-key-0123456789abcdef").is_none());
        let of =
            |keys: &Keys, id: &KeyIdentity| keys.of_session(&id.name, &id.fingerprint).is_some();
        assert!(of(&both, &by_old) && of(&both, &by_new));

        // The old secret rotated out: its sessions end, the new one's stay.
        let rotated = Keys::new(&[key("billing", &[Scope::Read], &[new])]);
        assert!(!of(&rotated, &by_old));
        assert!(of(&rotated, &by_new));
        // The key removed, or the same secret under another name: nothing.
        let renamed = Keys::new(&[key("accounts", &[Scope::Read], &[old, new])]);
        assert!(!of(&renamed, &by_old));
        // Scopes are today's, not those of the sign-in.
        let widened = Keys::new(&[key("billing", &[Scope::Read, Scope::Admin], &[old])]);
        assert!(widened
            .of_session(&by_old.name, &by_old.fingerprint)
            .unwrap()
            .has(Scope::Admin));
    }
}
