//! Signature headers that must never pass: garbled (malformed, truncated, from another body, in
//! a header the scheme does not read) and amplified (more candidates than a sender ever sends,
//! the genuine one among them, refused before any MAC is computed).

use std::sync::LazyLock;

use domain::provider::Preset;
use rand::rngs::SmallRng;
use rand::Rng;

use super::corpus::pick;

type Headers = Vec<(Vec<u8>, Vec<u8>)>;

fn owned(headers: &[(String, String)]) -> Headers {
    headers
        .iter()
        .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
        .collect()
}

fn value<'a>(valid: &'a [(String, String)], name: &str) -> &'a str {
    valid
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.as_str())
}

fn random_hex(rng: &mut SmallRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

fn random_base64(rng: &mut SmallRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text: String = (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    text.push('=');
    text
}

/// One change to the genuine headers `valid` that must turn the answer into a 401.
pub fn garbled(rng: &mut SmallRng, preset: Preset, valid: &[(String, String)]) -> Headers {
    let (name, genuine) = valid
        .first()
        .map_or(("", ""), |(k, v)| (k.as_str(), v.as_str()));
    let one = |value: &[u8]| vec![(name.as_bytes().to_vec(), value.to_vec())];
    match preset {
        Preset::Generic | Preset::Paystack => {
            let len = genuine.len();
            let mut flipped = genuine.as_bytes().to_vec();
            flipped[len / 2] = if flipped[len / 2] == b'0' { b'1' } else { b'0' };
            match rng.random_range(0..10) {
                0 => one(random_hex(rng, len).as_bytes()),
                1 => {
                    let wrong_len = pick(rng, &[2, len - 2, len + 2, 8_192]);
                    one(random_hex(rng, wrong_len).as_bytes())
                }
                2 => one(&flipped),
                3 => one(pick(
                    rng,
                    &[&b""[..], b"   ", b"\xff\xfe\xfd", b"zz", b"sha256="],
                )),
                4 => one(format!("sha256={genuine}").as_bytes()),
                5 => one(&genuine.as_bytes()[..len / 2]),
                // A header this scheme does not read.
                6 => vec![(b"X-Hub-Signature".to_vec(), genuine.as_bytes().to_vec())],
                // The genuine tag behind garbage in a header read first.
                7 if preset == Preset::Generic => vec![
                    (b"Signature".to_vec(), random_hex(rng, len).into_bytes()),
                    (b"X-Signature".to_vec(), genuine.as_bytes().to_vec()),
                ],
                _ => one(format!("{genuine},{genuine}").as_bytes()),
            }
        }
        Preset::Stripe => {
            let t = genuine
                .split(',')
                .find_map(|p| p.strip_prefix("t="))
                .unwrap_or("0");
            let v1 = genuine
                .split(',')
                .find_map(|p| p.strip_prefix("v1="))
                .unwrap_or("");
            let header = match rng.random_range(0..10) {
                0 => format!("t=abc,v1={v1}"),
                1 => format!("v1={v1}"),
                2 => format!("t={t}"),
                3 => format!("t={t},v0={v1}"),
                4 => format!("t=99999999999999999999,v1={v1}"),
                5 => format!("t={t},v1={}", random_hex(rng, 64)),
                6 => format!("t={},v1={v1}", t.parse::<i64>().unwrap_or(0) + 1),
                7 => pick(rng, &[",,,,", "=", "t=,v1=", "t", ""]).to_owned(),
                8 => format!("t={t},v1={}", &v1[..v1.len() / 2]),
                _ => format!("t={t},v1={v1}0"), // odd length: not hex
            };
            one(header.as_bytes())
        }
        Preset::StandardWebhooks => {
            let mut headers = owned(valid);
            let slot = |headers: &Headers, name: &str| {
                headers
                    .iter()
                    .position(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
                    .unwrap_or(0)
            };
            let signature = value(valid, "webhook-signature").to_owned();
            match rng.random_range(0..7) {
                0 => {
                    let i = slot(&headers, "webhook-timestamp");
                    headers[i].1 =
                        pick(rng, &[&b"abc"[..], b"1.5", b"-", b"99999999999999999999"]).to_vec();
                }
                1 => {
                    let i = slot(&headers, "webhook-signature");
                    headers[i].1 = format!("v1,{}", random_base64(rng, 43)).into_bytes();
                }
                2 => {
                    let i = slot(&headers, "webhook-signature");
                    headers[i].1 = signature.replacen("v1,", "v2,", 1).into_bytes();
                }
                3 => {
                    let i = slot(&headers, "webhook-signature");
                    headers[i].1 =
                        pick(rng, &[&b"v1,!!!not-base64"[..], b"v1,", b",", b"v1"]).to_vec();
                }
                4 => {
                    // Another message id under the same signature.
                    let i = slot(&headers, "webhook-id");
                    headers[i].1.extend_from_slice(b"-x");
                }
                5 => {
                    let i = slot(&headers, "webhook-timestamp");
                    let t: i64 = value(valid, "webhook-timestamp").parse().unwrap_or(0);
                    headers[i].1 = (t + 1).to_string().into_bytes();
                }
                _ => {
                    let i = slot(&headers, "webhook-signature");
                    headers[i].1 = b"\xff\xfe".to_vec();
                }
            }
            headers
        }
        Preset::Flutterwave => {
            let token: Vec<u8> = match rng.random_range(0..4) {
                0 => random_hex(rng, 12).into_bytes(),
                1 => genuine.as_bytes()[..genuine.len() - 1].to_vec(),
                2 => format!("{genuine}x").into_bytes(),
                _ => pick(rng, &[&b"\xff"[..], b"   ", b""]).to_vec(),
            };
            one(&token)
        }
    }
}

const MOST_COPIES: usize = 1_400;
/// Well-formed candidates that are not the tag, made once: `v1=<64 hex>,` and `v1,<base64> `.
static STRIPE_JUNK: LazyLock<String> =
    LazyLock::new(|| (0..MOST_COPIES).map(|n| format!("v1={n:064x},")).collect());
static STANDARD_JUNK: LazyLock<String> =
    LazyLock::new(|| (0..MOST_COPIES).map(|n| format!("v1,{n:043}= ")).collect());

/// More signatures than the schemes take (8), the genuine one last; or the genuine header
/// repeated behind a forged one.
pub fn amplified(rng: &mut SmallRng, preset: Preset, valid: &[(String, String)]) -> Headers {
    let copies = pick(rng, &[9usize, 50, 500, MOST_COPIES]);
    match preset {
        Preset::Stripe => {
            let genuine = value(valid, "Stripe-Signature");
            let t = genuine.split(',').next().unwrap_or("t=0");
            let junk = &STRIPE_JUNK[..copies * "v1=,".len() + copies * 64];
            let v1 = genuine.split(',').nth(1).unwrap_or("");
            vec![(
                b"Stripe-Signature".to_vec(),
                format!("{t},{junk}{v1}").into_bytes(),
            )]
        }
        Preset::StandardWebhooks => {
            let mut headers = owned(valid);
            let genuine = value(valid, "webhook-signature");
            let junk = &STANDARD_JUNK[..copies * "v1,= ".len() + copies * 43];
            for (name, value) in &mut headers {
                if name.eq_ignore_ascii_case(b"webhook-signature") {
                    *value = format!("{junk}{genuine}").into_bytes();
                }
            }
            headers
        }
        _ => {
            // The header repeated (within actix's 96 headers), a forged value first.
            let (name, genuine) = valid
                .first()
                .map_or(("", ""), |(k, v)| (k.as_str(), v.as_str()));
            let mut headers: Headers = (0..copies.min(80))
                .map(|_| {
                    (
                        name.as_bytes().to_vec(),
                        random_hex(rng, genuine.len()).into_bytes(),
                    )
                })
                .collect();
            headers.push((name.as_bytes().to_vec(), genuine.as_bytes().to_vec()));
            headers
        }
    }
}
