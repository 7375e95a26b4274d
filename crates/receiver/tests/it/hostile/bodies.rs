//! Bodies and provider names: odd but valid JSON objects (recorded), and the ways a body is not a
//! JSON object (answered 400 `invalid_json`).

use rand::rngs::SmallRng;
use rand::Rng;

use super::corpus::pick;

/// A JSON object the receiver must record, though few senders would write it.
pub fn odd_object(rng: &mut SmallRng, tag: &str) -> Vec<u8> {
    let depth = rng.random_range(1..=100);
    match rng.random_range(0..10) {
        0 => format!(
            r#"{{"event_id":"{tag}","n":{}1{}}}"#,
            r#"{"n":"#.repeat(depth),
            "}".repeat(depth)
        ),
        1 => format!(r#"{{"event_id":"{tag}","memo":"a\u0000b","\u0000":"\u0000"}}"#),
        2 => format!(r#"{{"event_id":"{tag}","name":"é 😀 \u2028 \ud83d\ude00 \t"}}"#),
        3 => format!(
            r#"{{"event_id":"{tag}","amount":1e400,"n":123456789012345678901234567890,"m":-0.0}}"#
        ),
        4 => format!(r#"{{"event_id":"shadowed","event_id":"{tag}"}}"#),
        5 => pick(
            rng,
            &[
                "{}",
                r#"{"event_id":null}"#,
                r#"{"event_id":{"x":1}}"#,
                r#"{"event_id":[1]}"#,
                r#"{"event_id":true}"#,
                r#"{"event_id":"   "}"#,
            ],
        )
        .to_owned(),
        6 => format!(" \n\t\r{{\"event_id\":\"{tag}\"}}\r\n "),
        7 => {
            let keys: Vec<String> = (0..2_000).map(|k| format!(r#""k{k}":{k}"#)).collect();
            format!(r#"{{"event_id":"{tag}",{}}}"#, keys.join(","))
        }
        8 => format!(r#"{{"event_id":"{tag}","blob":"{}"}}"#, "x".repeat(200_000)),
        _ => format!(
            r#"{{"event_id":"{tag}","a":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    }
    .into_bytes()
}

pub fn malformed(rng: &mut SmallRng) -> Vec<u8> {
    let fixed: &[&[u8]] = &[
        b"{",
        br#"{"a":"#,
        br#"{"a" 1}"#,
        b"{'a':1}",
        b"{a:1}",
        br#"{"a":1,}"#,
        b"}",
        b"",
        b"   ",
        b"{}}",
        b"{} {}",
        br#"{"a":NaN}"#,
        br#"{"a":tru}"#,
        br#"{"a":"\ud800"}"#,
        br#"{"a":"\udc00\ud800"}"#,
        b"\xef\xbb\xbf{}",
        br#"{"a":"unterminated"#,
        b"{\"a\":\"\x01\"}",
        br#"{"a":01}"#,
        br#"{"a":1.}"#,
        br#"{"a":"\x41"}"#,
        br#"{"a":"\u12"}"#,
        b"{\"a\":1}\x00",
        b"\x00{}",
    ];
    match rng.random_range(0..4) {
        0 | 1 => pick(rng, fixed).to_vec(),
        2 => {
            // A valid object cut anywhere before its end.
            let whole = br#"{"event_id":"evt_cut","data":{"reference":"r","amount":[1,2,3]}}"#;
            whole[..rng.random_range(0..whole.len() - 1)].to_vec()
        }
        _ => (0..rng.random_range(1..300))
            .map(|_| rng.random_range(0x20u8..0x7f))
            .collect(),
    }
}

pub fn non_object(rng: &mut SmallRng) -> Vec<u8> {
    pick(
        rng,
        &[
            &b"[]"[..],
            b"[1,2]",
            br#""str""#,
            b"1",
            b"-0.5",
            b"null",
            b"true",
            b"false",
            br#"[{"event_id":"x"}]"#,
            br#""{}""#,
            b"1e400",
        ],
    )
    .to_vec()
}

/// Nesting past serde_json's limit of 128, up to what fits the body limit.
pub fn too_deep(rng: &mut SmallRng) -> Vec<u8> {
    let depth = pick(rng, &[129usize, 130, 200, 1_000, 2_000, 50_000]);
    match rng.random_range(0..4) {
        0 => format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        1 => format!(
            "{}1{}",
            r#"{"a":"#.repeat(depth.min(40_000)),
            "}".repeat(depth.min(40_000))
        ),
        2 => format!(
            r#"{{"event_id":"deep","a":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        ),
        _ => "[".repeat(depth), // never closed
    }
    .into_bytes()
}

pub fn invalid_utf8(rng: &mut SmallRng) -> Vec<u8> {
    let bad: &[u8] = pick(
        rng,
        &[
            &b"\xff\xfe"[..],
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xe2\x82",
            b"\x80",
            b"\xf8\x88\x80\x80\x80",
            b"\xf4\x90\x80\x80",
        ],
    );
    match rng.random_range(0..3) {
        0 => [&br#"{"event_id":""#[..], bad, br#""}"#].concat(),
        1 => [&b"{\""[..], bad, br#"":1}"#].concat(),
        _ => [&br#"{"event_id":"evt","memo":"ok "#[..], bad, br#" tail"}"#].concat(),
    }
}

/// A `{provider}` path segment naming no configured provider, as sent (percent-encoded or not).
pub fn unknown_name(rng: &mut SmallRng) -> Vec<u8> {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.~";
    match rng.random_range(0..6) {
        0 | 1 => (0..rng.random_range(1..40))
            .map(|_| ALNUM[rng.random_range(0..ALNUM.len())])
            .collect(),
        2 => pick(
            rng,
            &[
                &b"PAYSTACK"[..],
                b"paystack%20",
                b"generic%00",
                b"%C3%A9t%C3%A9",
                b"%FF%FE",
                b"a%2Fb",
                b"%2e%2e",
                b"..",
                b".",
                b"%",
                b"%zz",
                b"stripe;x=1",
            ],
        )
        .to_vec(),
        3 => vec![b'n'; rng.random_range(1_000..10_000)],
        4 => "%E2%9C%93".repeat(rng.random_range(1..500)).into_bytes(),
        _ => format!("{}%00", "z".repeat(rng.random_range(1..100))).into_bytes(),
    }
}
