//! The hostile corpus: probe `i` is a pure function of the seed and `i` (and of the clock, for
//! signed timestamps), so a failure names a probe that can be generated again. Each probe carries what it targets (for the
//! documentation check) and the answers its category allows.

use domain::provider::Preset;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::providers::{
    delivery, event_body, sign, signed_post, Event, FORGED_STANDARD, OPEN, PROVIDERS,
};
use super::request::{Draft, Framing};
use super::wire::Sending;

pub const SEED: u64 = 0x5eed_0016_0003;
/// Probes sent; the replay pool below is drawn from, not added.
pub const PROBES: usize = 100_000;
/// `receiver.body_limit_bytes` of the test's receiver (the default).
pub const BODY_LIMIT: usize = 262_144;
/// Huge bodies: few, as each is 10 MB on the wire.
const HUGE: usize = 10 * 1024 * 1024;
const HUGE_EVERY: usize = PROBES / 5;
/// Incomplete requests: each holds a connection for `receiver.request_timeout_secs`.
const STALL_EVERY: usize = 3_000;
/// Byte-identical deliveries sent again and again, a third of them with long ids.
pub const REPLAY_POOL: usize = 120;
/// The longest event id, request_ref and webhook id accepted as they are (docs/architecture.md).
pub const MAX_KEY_LEN: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Valid,
    Replay,
    LongIds,
    OddValid,
    MalformedJson,
    NonObject,
    DeepNesting,
    InvalidUtf8,
    WrongContentType,
    MissingSignature,
    GarbledSignature,
    WrongSecret,
    Expired,
    Amplified,
    UnknownProvider,
    LongProvider,
    LongHeaders,
    Oversize,
    Huge,
    BrokenHttp,
    Truncated,
    Stalled,
    OtherRoutes,
    Health,
}

/// Per 1,000 probes. The kinds that are recorded (4.5 %) are a minority, as on the internet; in a
/// debug build each costs the receiver and PostgreSQL several times what a refusal costs.
const WEIGHTS: [(Kind, u32); 21] = [
    (Kind::Valid, 12),
    (Kind::Replay, 20),
    (Kind::LongIds, 8),
    (Kind::OddValid, 5),
    (Kind::MalformedJson, 80),
    (Kind::NonObject, 40),
    (Kind::DeepNesting, 30),
    (Kind::InvalidUtf8, 40),
    (Kind::WrongContentType, 80),
    (Kind::MissingSignature, 110),
    (Kind::GarbledSignature, 130),
    (Kind::WrongSecret, 70),
    (Kind::Expired, 60),
    (Kind::Amplified, 40),
    (Kind::UnknownProvider, 85),
    (Kind::LongProvider, 3),
    (Kind::LongHeaders, 20),
    (Kind::Oversize, 5),
    (Kind::BrokenHttp, 100),
    (Kind::OtherRoutes, 40),
    (Kind::Health, 22),
];
const _: () = {
    let (mut i, mut sum) = (0, 0);
    while i < WEIGHTS.len() {
        sum += WEIGHTS[i].1;
        i += 1;
    }
    assert!(sum == 1000, "WEIGHTS are per 1,000 probes");
};

/// What an answer must be for the probe to pass.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub statuses: &'static [u16],
    /// The allowed `error.code`s of an error answer; empty: any the document gives its status.
    pub codes: &'static [&'static str],
    /// The server may close the connection without an answer (it refused the framing).
    pub may_close: bool,
}

const fn expect(statuses: &'static [u16], codes: &'static [&'static str]) -> Expect {
    Expect {
        statuses,
        codes,
        may_close: false,
    }
}

const ACCEPTED: Expect = expect(&[202], &[]);
const RECORDED: Expect = expect(&[202, 200], &[]);
const INVALID_JSON: Expect = expect(&[400], &["invalid_json"]);
const UNSIGNED: Expect = expect(&[401], &["missing_signature"]);
const FORGED: Expect = expect(&[401], &["missing_signature", "invalid_signature"]);
const WRONG_SECRET: Expect = expect(&[401], &["invalid_signature"]);
const STALE: Expect = expect(&[401], &["timestamp_out_of_tolerance"]);
const NOT_JSON: Expect = expect(&[415], &["unsupported_media_type"]);
const NO_PROVIDER: Expect = expect(&[404], &["unknown_provider"]);
const NO_ROUTE: Expect = expect(&[404], &["not_found"]);
const TOO_LARGE: Expect = Expect {
    statuses: &[413],
    codes: &["payload_too_large"],
    may_close: true,
};
/// Refused by the HTTP layer (docs/openapi.yaml, "Answers from the HTTP layer").
const BAD_HTTP: Expect = Expect {
    statuses: &[400, 431],
    codes: &[],
    may_close: true,
};

pub struct Probe {
    pub index: usize,
    pub kind: Kind,
    pub bytes: Vec<u8>,
    pub sending: Sending,
    /// Lower-case method and documented path template, when the probe targets an operation.
    pub operation: Option<(&'static str, &'static str)>,
    /// Breaks the framing or is huge: a connection of its own, closed after.
    pub own_connection: bool,
    /// A HEAD request: its answer has no body.
    pub head_request: bool,
    pub expect: Expect,
    pub event: Option<Event>,
}

const WEBHOOKS: Option<(&str, &str)> = Some(("post", "/webhooks/{provider}"));

pub struct Corpus {
    /// Byte-identical deliveries, signed when the corpus is made.
    replays: Vec<(Vec<u8>, Event)>,
}

impl Corpus {
    pub fn new(started: i64) -> Corpus {
        let replays = (0..REPLAY_POOL)
            .map(|item| {
                let mut rng = SmallRng::seed_from_u64(SEED ^ 0xab5e_0000 ^ item as u64);
                let provider = &PROVIDERS[item % PROVIDERS.len()];
                let id_len = if item % 3 == 0 {
                    pick(&mut rng, &[1025, 2800, 9000])
                } else {
                    0
                };
                let ref_len = if item % 3 == 0 {
                    pick(&mut rng, &[16, 1025, 3000])
                } else {
                    16
                };
                let (draft, event) = delivery(
                    provider,
                    &format!("replay-{item}"),
                    id_len,
                    ref_len,
                    started,
                );
                let mut event = event;
                event.replay = Some(item);
                (draft.bytes(), event)
            })
            .collect();
        Corpus { replays }
    }

    pub fn probe(&self, index: usize) -> Probe {
        let mut rng = SmallRng::seed_from_u64(
            SEED.wrapping_add((index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        );
        let kind = if index % HUGE_EVERY == HUGE_EVERY / 2 {
            Kind::Huge
        } else if index % STALL_EVERY == STALL_EVERY / 3 {
            Kind::Stalled
        } else if index % STALL_EVERY == 2 * STALL_EVERY / 3 {
            Kind::Truncated
        } else {
            let total: u32 = WEIGHTS.iter().map(|(_, w)| w).sum();
            let mut draw = rng.random_range(0..total);
            WEIGHTS
                .iter()
                .find(|(_, w)| {
                    let hit = draw < *w;
                    draw = draw.saturating_sub(*w);
                    hit
                })
                .map_or(Kind::Health, |(k, _)| *k)
        };
        let mut probe = Probe {
            index,
            kind,
            bytes: Vec::new(),
            sending: Sending::Whole,
            operation: WEBHOOKS,
            own_connection: false,
            head_request: false,
            expect: ACCEPTED,
            event: None,
        };
        let draft = self.generate(&mut probe, &mut rng);
        if let Some(mut draft) = draft {
            // Some well-formed probes in another legal framing; the answer must not change.
            if !probe.own_connection && rng.random_ratio(1, 8) {
                draft.framing = pick(
                    &mut rng,
                    &[
                        Framing::Chunked,
                        Framing::Expect100,
                        Framing::Http10,
                        Framing::BareLf,
                    ],
                );
            }
            probe.bytes = draft.bytes();
        }
        probe
    }

    /// Fills the probe and returns its request, or sets `probe.bytes` itself and returns `None`.
    fn generate(&self, probe: &mut Probe, rng: &mut SmallRng) -> Option<Draft> {
        // Signed now, not at the corpus's start: the receiver's tolerance is 300 s.
        let now = chrono::Utc::now().timestamp();
        let provider = &PROVIDERS[rng.random_range(0..PROVIDERS.len())];
        let signed_provider = &PROVIDERS[rng.random_range(0..OPEN)];
        let tag = format!("p{}", probe.index);
        match probe.kind {
            Kind::Valid => {
                let (draft, event) = delivery(provider, &tag, 0, 12, now);
                probe.event = Some(event);
                Some(draft)
            }
            Kind::Replay => {
                let (bytes, event) = &self.replays[rng.random_range(0..REPLAY_POOL)];
                probe.bytes = bytes.clone();
                probe.expect = RECORDED;
                probe.event = Some(event.clone());
                None
            }
            Kind::LongIds => {
                let id_len = pick(rng, &[0, 1025, 1500, 2700, 2800, 4096, 10_000, 60_000]);
                let ref_len = pick(rng, &[12, 1024, 1025, 2800, 10_000]);
                let (draft, event) = delivery(provider, &tag, id_len, ref_len, now);
                probe.event = Some(event);
                Some(draft)
            }
            Kind::OddValid => {
                probe.expect = RECORDED;
                let body = super::bodies::odd_object(rng, &tag);
                Some(signed_post(provider, body, now, rng))
            }
            Kind::MalformedJson | Kind::NonObject | Kind::DeepNesting | Kind::InvalidUtf8 => {
                probe.expect = INVALID_JSON;
                let body = match probe.kind {
                    Kind::MalformedJson => super::bodies::malformed(rng),
                    Kind::NonObject => super::bodies::non_object(rng),
                    Kind::DeepNesting => super::bodies::too_deep(rng),
                    _ => super::bodies::invalid_utf8(rng),
                };
                // Big bodies go unsigned: a debug build's HMAC of 100 KB would cost more than
                // the parse under test.
                let provider = if body.len() > 16 * 1024 {
                    &PROVIDERS[OPEN]
                } else {
                    provider
                };
                Some(signed_post(provider, body, now, rng))
            }
            Kind::WrongContentType => {
                probe.expect = NOT_JSON;
                let mut draft =
                    signed_post(provider, event_body(provider.preset, &tag, "r"), now, rng);
                draft.remove_header("Content-Type");
                let value: &[u8] = pick(
                    rng,
                    &[
                        &b"text/plain"[..],
                        b"application/x-www-form-urlencoded",
                        b"multipart/form-data; boundary=x",
                        b"application/jsonx",
                        b"application/json+xml",
                        b"text/+json",
                        b"application/",
                        b"json",
                        b"",
                        b"application/j\xffson",
                        b"*/*",
                    ],
                );
                if rng.random_ratio(9, 10) {
                    draft.header(b"Content-Type", value);
                }
                Some(draft)
            }
            Kind::MissingSignature => {
                probe.expect = UNSIGNED;
                let body = event_body(signed_provider.preset, &tag, "r");
                let mut draft = Draft::post(signed_provider.name, body);
                if signed_provider.preset == Preset::StandardWebhooks && rng.random() {
                    // Two of the three headers: still missing.
                    let mut headers = sign(signed_provider, None, &draft.body, now, Some(&tag));
                    headers.remove(rng.random_range(0..headers.len()));
                    draft.headers_from(headers);
                }
                Some(draft)
            }
            Kind::GarbledSignature | Kind::Amplified => {
                probe.expect = FORGED;
                let body = event_body(signed_provider.preset, &tag, "r");
                let valid = sign(signed_provider, None, &body, now, Some(&tag));
                let headers = if probe.kind == Kind::Amplified {
                    super::signatures::amplified(rng, signed_provider.preset, &valid)
                } else {
                    super::signatures::garbled(rng, signed_provider.preset, &valid)
                };
                let mut draft = Draft::post(signed_provider.name, body);
                draft.raw_headers(headers);
                Some(draft)
            }
            Kind::WrongSecret => {
                probe.expect = WRONG_SECRET;
                let body = event_body(signed_provider.preset, &tag, "r");
                let forged = match signed_provider.preset {
                    Preset::StandardWebhooks => FORGED_STANDARD,
                    _ => "not-the-configured-secret",
                };
                let mut draft = Draft::post(signed_provider.name, body);
                let headers = sign(signed_provider, Some(forged), &draft.body, now, Some(&tag));
                draft.headers_from(headers);
                Some(draft)
            }
            Kind::Expired => {
                probe.expect = STALE;
                let timed = &PROVIDERS[pick(rng, &[2usize, 3])];
                let skew = pick(rng, &[-86_400i64, -3_600, -310, 310, 3_600, 10_000_000]);
                let body = event_body(timed.preset, &tag, "r");
                let mut draft = Draft::post(timed.name, body);
                let headers = sign(timed, None, &draft.body, now + skew, Some(&tag));
                draft.headers_from(headers);
                Some(draft)
            }
            Kind::UnknownProvider => {
                probe.expect = NO_PROVIDER;
                let name = super::bodies::unknown_name(rng);
                let mut draft =
                    signed_post(provider, event_body(provider.preset, &tag, "r"), now, rng);
                draft.target = [&b"/webhooks/"[..], &name].concat();
                Some(draft)
            }
            Kind::LongProvider => {
                // Over http's 64 KiB URI bound (400), or over actix's 128 KiB head (431).
                probe.expect = BAD_HTTP;
                probe.own_connection = true;
                let len = pick(rng, &[70_000, 140_000]);
                let mut draft = Draft::post("x", b"{}".to_vec());
                draft.target = [&b"/webhooks/"[..], &vec![b'p'; len]].concat();
                Some(draft)
            }
            Kind::LongHeaders => {
                let mut draft = Draft::post(
                    signed_provider.name,
                    event_body(signed_provider.preset, &tag, "r"),
                );
                match rng.random_range(0..5) {
                    0 => draft.header(b"X-Request-Id", &vec![b'r'; 10_000]),
                    1 => draft.header(b"X-Filler", &vec![b'f'; 100_000]),
                    2 => draft.header(&vec![b'N'; 8_000], b"v"),
                    3 => (0..90).for_each(|n| draft.header(format!("X-H{n}").as_bytes(), b"1")),
                    _ => {
                        // Past the 128 KiB head or the 96 headers actix takes: 431.
                        probe.expect = BAD_HTTP;
                        probe.own_connection = true;
                        if rng.random() {
                            draft.header(b"X-Filler", &vec![b'f'; 140_000]);
                        } else {
                            (0..100).for_each(|n| draft.header(format!("X-H{n}").as_bytes(), b"1"));
                        }
                        return Some(draft);
                    }
                }
                probe.expect = UNSIGNED;
                Some(draft)
            }
            Kind::Oversize | Kind::Huge => {
                probe.expect = TOO_LARGE;
                probe.own_connection = true;
                // Announced or chunked; the contract's order puts the provider (404) and the
                // content type (415) before the size (413).
                let (len, variant) = if probe.kind == Kind::Huge {
                    (HUGE, probe.index / HUGE_EVERY)
                } else {
                    (
                        rng.random_range(BODY_LIMIT + 1..4 * BODY_LIMIT),
                        rng.random_range(0..5),
                    )
                };
                let mut body = vec![b' '; len];
                body[0] = b'{';
                body[len - 1] = b'}';
                let mut draft = Draft::post(provider.name, body);
                if variant % 2 == 1 {
                    draft.framing = Framing::Chunked;
                }
                if variant == 2 {
                    draft.remove_header("Content-Type");
                    draft.header(b"Content-Type", b"text/plain");
                    probe.expect = Expect {
                        may_close: true,
                        ..NOT_JSON
                    };
                } else if variant == 3 {
                    draft.target = b"/webhooks/nobody".to_vec();
                    probe.expect = Expect {
                        may_close: true,
                        ..NO_PROVIDER
                    };
                }
                Some(draft)
            }
            Kind::BrokenHttp => {
                probe.own_connection = true;
                let (bytes, expect, routed) = super::request::broken(rng, provider.name);
                probe.bytes = bytes;
                probe.expect = expect;
                if !routed {
                    probe.operation = None;
                }
                None
            }
            Kind::Truncated => {
                // Content-Length promises more than comes, then the client goes away.
                probe.expect = INVALID_JSON;
                probe.own_connection = true;
                probe.sending = Sending::HalfClose;
                let draft = signed_post(provider, event_body(provider.preset, &tag, "r"), now, rng);
                probe.bytes = draft.truncated(rng.random_range(0..draft.body.len()));
                None
            }
            Kind::Stalled => {
                // Incomplete and left open: only the receiver's deadline answers (408).
                probe.own_connection = true;
                probe.sending = Sending::Stall;
                let draft = signed_post(provider, event_body(provider.preset, &tag, "r"), now, rng);
                if rng.random() {
                    probe.expect = expect(&[408], &["request_timeout"]);
                    probe.bytes = draft.truncated(draft.body.len() / 2);
                } else {
                    probe.expect = expect(&[408], &[]);
                    let mut bytes = draft.bytes();
                    bytes.truncate(bytes.len() - draft.body.len() - 2);
                    probe.bytes = bytes;
                }
                None
            }
            Kind::OtherRoutes => {
                probe.expect = NO_ROUTE;
                probe.operation = None;
                let (method, target): (&str, &[u8]) = pick(
                    rng,
                    &[
                        ("GET", &b"/webhooks/generic"[..]),
                        ("PUT", b"/healthz"),
                        ("DELETE", b"/"),
                        ("HEAD", b"/healthz"),
                        ("GET", b"/metrics"),
                        ("OPTIONS", b"*"),
                        ("GET", b"/webhooks"),
                        ("POST", b"/webhooks/"),
                        ("POST", b"/webhooks/open/extra"),
                        ("POST", b"/healthz"),
                        ("get", b"/healthz"),
                        ("GET", b"/../../etc/passwd"),
                        ("PATCH", b"/readyz"),
                    ],
                );
                probe.head_request = method == "HEAD";
                let mut draft = Draft::post("x", b"{}".to_vec());
                draft.method = method.as_bytes().to_vec();
                draft.target = target.to_vec();
                Some(draft)
            }
            Kind::Health => {
                let path = pick(rng, &["/healthz", "/readyz"]);
                probe.operation = Some(("get", path));
                probe.expect = expect(&[200], &[]);
                let mut draft = Draft::post("x", Vec::new());
                draft.method = b"GET".to_vec();
                draft.target = path.as_bytes().to_vec();
                draft.headers.clear();
                Some(draft)
            }
        }
    }
}

pub fn pick<T: Copy>(rng: &mut SmallRng, choices: &[T]) -> T {
    choices[rng.random_range(0..choices.len())]
}
