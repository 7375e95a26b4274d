//! The HMAC primitives every scheme shares: algorithm and text encoding as configured, computing
//! a tag over several byte strings, and checking a presented tag in constant time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Sha256, Sha512};
use subtle::{Choice, ConstantTimeEq};

/// The hash under the HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    Sha256,
    Sha512,
}

/// How a tag is written as text in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lower-case when we write it; either case is accepted when we read it.
    Hex,
    /// Standard alphabet with padding.
    Base64,
}

impl Encoding {
    pub(crate) fn encode(self, tag: &[u8]) -> String {
        match self {
            Self::Hex => hex::encode(tag),
            Self::Base64 => STANDARD.encode(tag),
        }
    }

    /// `None` when the text is not in this encoding: such a signature can match nothing.
    pub(crate) fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Self::Hex => hex::decode(text).ok(),
            Self::Base64 => STANDARD.decode(text).ok(),
        }
    }
}

/// HMAC of the concatenation of `parts` (so `{t}.{body}` needs no copy of the body).
pub(crate) fn tag(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match algorithm {
        HmacAlgorithm::Sha256 => {
            keyed::<Hmac<Sha256>>(key, parts).map(|m| m.finalize().into_bytes().to_vec())
        }
        HmacAlgorithm::Sha512 => {
            keyed::<Hmac<Sha512>>(key, parts).map(|m| m.finalize().into_bytes().to_vec())
        }
    }
    .unwrap_or_default()
}

/// HMAC takes keys of any length, so `new_from_slice` cannot fail here; the `Option` only
/// spares us an `expect`, and a `None` would sign nothing and match nothing.
fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<M> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

/// The most signatures one header may carry. Senders put one there, two while they roll a
/// secret; a header with more is refused before any MAC is computed.
pub(crate) const MAX_SIGNATURES: usize = 8;

/// Index of the first secret whose tag equals one of `candidates` (already decoded). One MAC per
/// secret, whatever the number of candidates (the caller caps them at `MAX_SIGNATURES`), so the
/// work does not grow with what the sender puts in the header; each comparison is constant-time
/// and every candidate is compared.
pub(crate) fn first_matching_secret(
    algorithm: HmacAlgorithm,
    secrets: &[super::SigningSecret],
    parts: &[&[u8]],
    candidates: &[Vec<u8>],
) -> Option<usize> {
    secrets.iter().position(|secret| {
        let expected = tag(algorithm, secret.key(), parts);
        candidates
            .iter()
            .fold(Choice::from(0), |found, candidate| {
                found | expected.as_slice().ct_eq(candidate.as_slice())
            })
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        // RFC 4231 section 4.3: key "Jefe", data "what do ya want for nothing?".
        let parts: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        assert_eq!(
            hex::encode(tag(HmacAlgorithm::Sha256, b"Jefe", parts)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(tag(HmacAlgorithm::Sha512, b"Jefe", parts)),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn matching_needs_the_exact_tag() {
        use crate::signature::SigningSecret;
        let secrets = [
            SigningSecret::raw("other").unwrap(),
            SigningSecret::raw("k").unwrap(),
        ];
        let t = tag(HmacAlgorithm::Sha256, b"k", &[b"body"]);
        let find = |algorithm, candidates: &[Vec<u8>]| {
            first_matching_secret(algorithm, &secrets, &[b"body"], candidates)
        };
        assert_eq!(
            find(HmacAlgorithm::Sha256, std::slice::from_ref(&t)),
            Some(1)
        );
        // Every candidate is looked at: a match after a wrong one still counts.
        assert_eq!(
            find(HmacAlgorithm::Sha256, &[vec![0; 32], t.clone()]),
            Some(1)
        );
        assert_eq!(find(HmacAlgorithm::Sha256, &[t[..31].to_vec()]), None);
        assert_eq!(find(HmacAlgorithm::Sha512, &[t]), None);
    }

    #[test]
    fn hex_is_read_in_either_case_and_garbage_decodes_to_nothing() {
        assert_eq!(Encoding::Hex.decode("AbCd"), Some(vec![0xab, 0xcd]));
        assert_eq!(Encoding::Hex.decode("xyz"), None);
        assert_eq!(Encoding::Base64.decode("***"), None);
        assert_eq!(Encoding::Base64.encode(&[0xff, 0xfe]), "//4=");
    }
}
