//! The signature schemes of the providers we know, as each one's documentation describes them
//! (sources in docs/providers.md). Only how they sign: where their fields live is the payload
//! presets' business.

use super::{Encoding, HmacAlgorithm, HmacScheme, Scheme, StaticTokenScheme};

impl Scheme {
    /// Paystack: HMAC-SHA512, hex, of the raw body keyed with the account's secret key, in
    /// `x-paystack-signature`.
    pub fn paystack() -> Self {
        Self::hmac(
            HmacAlgorithm::Sha512,
            Encoding::Hex,
            &["x-paystack-signature"],
        )
    }

    /// The original implementation's generic check: HMAC-SHA256, hex, of the raw body in the
    /// first present of `Signature`, `X-Kore-Signature`, `X-Signature`.
    pub fn generic() -> Self {
        Self::hmac(
            HmacAlgorithm::Sha256,
            Encoding::Hex,
            &["Signature", "X-Kore-Signature", "X-Signature"],
        )
    }

    /// Flutterwave (v3 and legacy dashboards): `verif-hash` carries the secret hash itself.
    pub fn flutterwave_verif_hash() -> Self {
        Self::StaticToken(StaticTokenScheme {
            header: "verif-hash".to_string(),
        })
    }

    /// Flutterwave v4: HMAC-SHA256, base64, of the raw body keyed with the secret hash, in
    /// `flutterwave-signature`. (See docs/providers.md on how firmly this is sourced.)
    pub fn flutterwave_signature() -> Self {
        Self::hmac(
            HmacAlgorithm::Sha256,
            Encoding::Base64,
            &["flutterwave-signature"],
        )
    }

    fn hmac(algorithm: HmacAlgorithm, encoding: Encoding, headers: &[&str]) -> Self {
        Self::Hmac(HmacScheme {
            algorithm,
            encoding,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            prefix: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{verify, SignatureError};
    use super::*;

    #[test]
    fn flutterwave_v4_signature_is_base64_hmac_sha256_of_the_body() {
        let scheme = Scheme::flutterwave_signature();
        let body = br#"{"type":"charge.completed","data":{"id":"chg_1","reference":"order_1","status":"succeeded"}}"#;
        // Independently computed: base64(HMAC-SHA256("my-secret-hash", body)) (Python hmac).
        let headers = [(
            "flutterwave-signature",
            "BwiD40A6ILK5MW+dbPtiGYhPsGcLuMZUvVNia5/8jBg=",
        )];
        let secrets = [scheme.secret("my-secret-hash").unwrap()];
        assert!(verify(&scheme, &secrets, &headers, body, 0).is_ok());
        // The legacy header alone does not satisfy the v4 scheme.
        let legacy = [("verif-hash", "my-secret-hash")];
        assert_eq!(
            verify(&scheme, &secrets, &legacy, body, 0),
            Err(SignatureError::missing("flutterwave-signature"))
        );
    }
}
