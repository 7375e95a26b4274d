//! Property tests across every scheme: what `sign` produces, `verify` accepts; a changed body
//! byte or a different secret is refused wherever the scheme signs the body.

use proptest::prelude::*;

use super::{sign, verify, Scheme, SignatureError, StandardWebhooksScheme, StripeScheme};

fn schemes() -> Vec<Scheme> {
    vec![
        Scheme::paystack(),
        Scheme::generic(),
        Scheme::flutterwave_signature(),
        Scheme::flutterwave_verif_hash(),
        Scheme::Stripe(StripeScheme::default()),
        Scheme::StandardWebhooks(StandardWebhooksScheme::default()),
        Scheme::None,
    ]
}

/// A configured secret in the form the scheme expects (Standard Webhooks wants base64).
fn configured(scheme: &Scheme, seed: &[u8]) -> String {
    use base64::Engine;
    match scheme {
        Scheme::StandardWebhooks(_) => {
            format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(seed)
            )
        }
        _ => hex::encode(seed),
    }
}

/// Whether the scheme's signature covers the body (static tokens and `none` do not).
fn signs_body(scheme: &Scheme) -> bool {
    !matches!(scheme, Scheme::StaticToken(_) | Scheme::None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sign_then_verify_passes_and_a_flipped_body_byte_fails(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        seed in proptest::collection::vec(any::<u8>(), 16..48),
        now in 0i64..4_000_000_000,
        flip_at in any::<prop::sample::Index>(),
        flip_bits in 1u8..=255,
    ) {
        for scheme in schemes() {
            let secret = scheme.secret(&configured(&scheme, &seed)).unwrap();
            let headers = sign(&scheme, &secret, &body, now, None);
            let secrets = std::slice::from_ref(&secret);
            prop_assert!(verify(&scheme, secrets, &headers, &body, now).is_ok(), "{:?}", scheme);

            let mut tampered = body.clone();
            tampered[flip_at.index(body.len())] ^= flip_bits;
            let outcome = verify(&scheme, secrets, &headers, &tampered, now);
            if signs_body(&scheme) {
                prop_assert_eq!(outcome.map_err(|e| e.code()), Err("invalid_signature"), "{:?}", scheme);
            } else {
                prop_assert!(outcome.is_ok(), "{:?} does not sign the body", scheme);
            }
        }
    }

    #[test]
    fn another_secret_never_verifies(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        seed in proptest::collection::vec(any::<u8>(), 16..48),
        other in proptest::collection::vec(any::<u8>(), 16..48),
    ) {
        prop_assume!(seed != other);
        for scheme in schemes().into_iter().filter(Scheme::requires_secret) {
            let signer = scheme.secret(&configured(&scheme, &seed)).unwrap();
            let stranger = scheme.secret(&configured(&scheme, &other)).unwrap();
            let headers = sign(&scheme, &signer, &body, 1_000, None);
            let outcome = verify(&scheme, &[stranger], &headers, &body, 1_000);
            prop_assert!(matches!(outcome, Err(SignatureError::Invalid { .. })), "{:?}", scheme);
        }
    }
}
