//! The `Scheme` a provider is configured with, and how configuration spells it: a bare name
//! for the schemes that need no setting, otherwise a table tagged by `scheme`. Also where a
//! configured secret string becomes the scheme's key.

use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::Deserialize;

use super::{
    HmacScheme, SecretError, SigningSecret, StandardWebhooksScheme, StaticTokenScheme, StripeScheme,
};

/// How one provider signs its webhooks.
///
/// In configuration either a bare name (`"none"`, `"stripe"`, `"standard-webhooks"`, which need
/// no other setting) or a table tagged by `scheme`:
///
/// ```toml
/// signature = { scheme = "hmac", algorithm = "sha512", encoding = "hex", headers = ["x-paystack-signature"] }
/// signature = { scheme = "stripe", tolerance_secs = 600 }
/// signature = { scheme = "static-token", header = "verif-hash" }
/// ```
// `remote = "Self"` makes serde generate `Scheme::deserialize` as an inherent function for the
// table form, which the hand-written `Deserialize` below falls back to after the shorthand.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(remote = "Self", tag = "scheme", rename_all = "kebab-case")]
pub enum Scheme {
    /// HMAC of the raw body alone, in one of a list of headers (Paystack, generic senders,
    /// Flutterwave's `flutterwave-signature`).
    Hmac(HmacScheme),
    /// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` over `{t}.{body}`.
    Stripe(StripeScheme),
    /// `webhook-id` / `webhook-timestamp` / `webhook-signature` over `{id}.{timestamp}.{body}`.
    StandardWebhooks(StandardWebhooksScheme),
    /// A header that must equal the secret (Flutterwave's legacy `verif-hash`). Does not
    /// protect the body.
    StaticToken(StaticTokenScheme),
    /// Accepts everything. Only when configuration says so explicitly.
    None,
}

impl Scheme {
    /// The schemes a bare name in configuration stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "stripe" => Some(Self::Stripe(StripeScheme::default())),
            "standard-webhooks" => Some(Self::StandardWebhooks(StandardWebhooksScheme::default())),
            _ => None,
        }
    }

    /// False only for [`Scheme::None`]: configuration must refuse a signed scheme without
    /// secrets (here, with no secret, every request is rejected).
    pub fn requires_secret(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Turns the configured secret string into this scheme's key. Standard Webhooks secrets
    /// (`whsec_<base64>`) are base64-decoded; every other scheme, Stripe's `whsec_...` included,
    /// uses the string's bytes as they are.
    pub fn secret(&self, configured: &str) -> Result<SigningSecret, SecretError> {
        match self {
            Self::StandardWebhooks(_) => SigningSecret::standard_webhooks(configured),
            _ => SigningSecret::raw(configured),
        }
    }
}

impl<'de> Deserialize<'de> for Scheme {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameOrTable;

        impl<'de> Visitor<'de> for NameOrTable {
            type Value = Scheme;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "\"none\", \"stripe\", \"standard-webhooks\", or a table with a `scheme` key",
                )
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Scheme, E> {
                Scheme::from_name(name)
                    .ok_or_else(|| E::invalid_value(Unexpected::Str(name), &self))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scheme, A::Error> {
                Scheme::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_any(NameOrTable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct ProviderConfig {
        signature: Scheme,
    }

    fn parse(toml_like_json: &str) -> Result<Scheme, serde_json::Error> {
        serde_json::from_str::<ProviderConfig>(toml_like_json).map(|c| c.signature)
    }

    #[test]
    fn bare_names_stand_for_schemes_without_settings() {
        assert_eq!(parse(r#"{"signature":"none"}"#).unwrap(), Scheme::None);
        assert_eq!(
            parse(r#"{"signature":"stripe"}"#).unwrap(),
            Scheme::Stripe(StripeScheme::default())
        );
        assert_eq!(
            parse(r#"{"signature":"standard-webhooks"}"#).unwrap(),
            Scheme::StandardWebhooks(StandardWebhooksScheme::default())
        );
        // `hmac` needs a header, so it has no bare form.
        assert!(parse(r#"{"signature":"hmac"}"#).is_err());
    }

    #[test]
    fn tables_are_tagged_by_scheme_with_kebab_names() {
        let paystack = parse(
            r#"{"signature":{"scheme":"hmac","algorithm":"sha512","encoding":"hex",
                "headers":["x-paystack-signature"]}}"#,
        )
        .unwrap();
        assert_eq!(paystack, Scheme::paystack());

        let stripe = parse(r#"{"signature":{"scheme":"stripe","tolerance_secs":600}}"#).unwrap();
        assert_eq!(
            stripe,
            Scheme::Stripe(StripeScheme {
                tolerance_secs: 600
            })
        );

        let token = parse(r#"{"signature":{"scheme":"static-token","header":"verif-hash"}}"#);
        assert_eq!(token.unwrap(), Scheme::flutterwave_verif_hash());

        assert_eq!(
            parse(r#"{"signature":{"scheme":"none"}}"#).unwrap(),
            Scheme::None
        );
    }

    #[test]
    fn configuration_mistakes_are_refused() {
        let ok = r#"{"signature":{"scheme":"hmac","algorithm":"sha256","encoding":"hex","headers":["x"]}}"#;
        assert!(
            parse(ok).is_ok(),
            "the baseline the mistakes below depart from"
        );
        assert!(parse(
            r#"{"signature":{"scheme":"hmac","algorithm":"md5","encoding":"hex","headers":["x"]}}"#
        )
        .is_err());
        assert!(parse(
            r#"{"signature":{"scheme":"hmac","algorithm":"sha256","encoding":"hex","headers":[]}}"#
        )
        .is_err());
        assert!(parse(r#"{"signature":{"scheme":"stripe","tolerance":600}}"#).is_err());
        assert!(parse(r#"{"signature":{"scheme":"stripe","tolerance_secs":-1}}"#).is_err());
        assert!(parse(r#"{"signature":{"scheme":"rsa"}}"#).is_err());
    }

    #[test]
    fn only_none_needs_no_secret() {
        assert!(!Scheme::None.requires_secret());
        assert!(Scheme::paystack().requires_secret());
        assert!(Scheme::flutterwave_verif_hash().requires_secret());
    }
}
