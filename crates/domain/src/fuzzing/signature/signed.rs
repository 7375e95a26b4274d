//! The sender's side of `signature_header`: what `sign` produces is what `verify` accepts, for
//! the secret, time, skew and body the fuzzer chose, and a tampered body or a header over the
//! signature cap is refused.

use super::{is_timestamped, key, no_match, signs_body, MAX_SIGNATURES};
use crate::signature::{
    sign, verify, Encoding, InvalidReason, Scheme, SignatureError, DEFAULT_TOLERANCE_SECS,
};

/// What a sender signs verifies, with the secret at its place in a rotation, and a signed
/// timestamp is accepted exactly within the tolerance, in both directions.
pub(super) fn signed_round_trip(scheme: &Scheme, seed: &[u8], body: &[u8], now: i64, skew: i16) {
    let secret = key(scheme, seed);
    let headers = sign(scheme, &secret, body, now, None);
    let verified = verify(scheme, std::slice::from_ref(&secret), &headers, body, now);
    let Ok(verified) = verified else {
        panic!("{scheme:?} refuses its own signature: {verified:?}");
    };
    let timestamped = is_timestamped(scheme);
    assert_eq!(verified.signed_at, timestamped.then_some(now));
    let carried = headers.last().map(|(_, v)| v.clone());
    let stored = matches!(scheme, Scheme::Hmac(_)) || timestamped;
    assert_eq!(verified.signature, carried.filter(|_| stored));
    if matches!(scheme, Scheme::None) {
        return;
    }
    assert_eq!(verified.secret_index, Some(0));

    let mut other_seed = seed.to_vec();
    other_seed[0] ^= 0xff;
    let rotation = [key(scheme, &other_seed), secret.clone()];
    let rotated = verify(scheme, &rotation, &headers, body, now);
    assert_eq!(rotated.map(|v| v.secret_index), Ok(Some(1)));

    let Some(later) = now.checked_add(i64::from(skew)) else {
        return;
    };
    let at_later = verify(scheme, &[secret], &headers, body, later);
    if timestamped && skew.unsigned_abs() > 300 {
        assert_eq!(
            at_later,
            Err(SignatureError::TimestampOutOfTolerance {
                skew_secs: i64::from(skew),
                tolerance_secs: DEFAULT_TOLERANCE_SECS
            })
        );
    } else {
        assert!(at_later.is_ok(), "{scheme:?} at {skew:+}s: {at_later:?}");
    }
}

/// A changed, lengthened or shortened body is refused by every scheme that signs the body.
pub(super) fn tampered_body(
    scheme: &Scheme,
    seed: &[u8],
    body: &[u8],
    now: i64,
    at: usize,
    bits: u8,
) {
    let secret = key(scheme, seed);
    let headers = sign(scheme, &secret, body, now, None);
    let mut variants = vec![[body, b"}"].concat()];
    if let Some((_, shorter)) = body.split_last() {
        variants.push(shorter.to_vec());
        if bits != 0 {
            let mut flipped = body.to_vec();
            flipped[at % body.len()] ^= bits;
            variants.push(flipped);
        }
    }
    for tampered in variants {
        let outcome = verify(
            scheme,
            std::slice::from_ref(&secret),
            &headers,
            &tampered,
            now,
        );
        if signs_body(scheme) {
            assert_eq!(outcome, no_match(), "{scheme:?} took a tampered body");
        } else {
            assert!(outcome.is_ok(), "{scheme:?} does not sign the body");
        }
    }
}

/// The genuine signature among `junk` others: accepted up to the cap, refused as malformed past
/// it wherever the genuine one stands.
pub(super) fn over_the_cap(
    scheme: &Scheme,
    seed: &[u8],
    body: &[u8],
    now: i64,
    junk: usize,
    first: bool,
) {
    let secret = key(scheme, seed);
    let mut headers = sign(scheme, &secret, body, now, None);
    let Some((_, value)) = headers.last_mut() else {
        panic!("{scheme:?} signs nothing");
    };
    let filler = &body[..body.len().min(32)];
    let (separator, entry) = match scheme {
        Scheme::Stripe(_) => (",", format!("v1={}", hex::encode(filler))),
        _ => (" ", format!("v1,{}", Encoding::Base64.encode(filler))),
    };
    let (genuine, rest) = match scheme {
        // Stripe's value is `t=...,v1=...`: the timestamp stays in front.
        Scheme::Stripe(_) => match value.split_once(',') {
            Some((t, v1)) => (v1.to_owned(), Some(t.to_owned())),
            None => panic!("a Stripe signature without `,`: {value}"),
        },
        _ => (value.clone(), None),
    };
    let mut entries = vec![entry; junk];
    entries.insert(if first { 0 } else { junk }, genuine);
    let list = entries.join(separator);
    *value = rest.map_or_else(|| list.clone(), |t| format!("{t},{list}"));

    let outcome = verify(scheme, &[secret], &headers, body, now);
    if junk < MAX_SIGNATURES {
        assert!(outcome.is_ok(), "{scheme:?}, {junk} others: {outcome:?}");
    } else {
        assert!(
            matches!(
                outcome,
                Err(SignatureError::Invalid {
                    reason: InvalidReason::Malformed(_)
                })
            ),
            "{scheme:?} took {} signatures: {outcome:?}",
            junk + 1
        );
    }
}
