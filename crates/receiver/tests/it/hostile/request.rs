//! Requests as bytes: a well-formed HTTP/1.1 request in one of the framings the receiver must
//! accept alike, a request cut short, or one of the ways HTTP/1.1 is commonly broken.

use rand::rngs::SmallRng;
use rand::Rng;

use super::corpus::{pick, Expect};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`, in chunks of 1,000 bytes.
    Chunked,
    /// `Expect: 100-continue`, the body sent at once (RFC 9110 allows not waiting).
    Expect100,
    /// HTTP/1.0: the server closes after its answer.
    Http10,
    /// Lines ended by a bare LF, which RFC 9112 lets a server accept.
    BareLf,
}

#[derive(Clone)]
pub struct Draft {
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
    pub framing: Framing,
}

impl Draft {
    pub fn post(provider: &str, body: Vec<u8>) -> Draft {
        Draft {
            method: b"POST".to_vec(),
            target: format!("/webhooks/{provider}").into_bytes(),
            headers: vec![(b"Content-Type".to_vec(), b"application/json".to_vec())],
            body,
            framing: Framing::Length,
        }
    }

    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        self.headers.push((name.to_vec(), value.to_vec()));
    }

    pub fn headers_from(&mut self, headers: Vec<(String, String)>) {
        for (name, value) in headers {
            self.header(name.as_bytes(), value.as_bytes());
        }
    }

    pub fn raw_headers(&mut self, headers: Vec<(Vec<u8>, Vec<u8>)>) {
        self.headers.extend(headers);
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
    }

    fn head(&self, body_len: Option<usize>) -> Vec<u8> {
        let eol: &[u8] = if self.framing == Framing::BareLf {
            b"\n"
        } else {
            b"\r\n"
        };
        let version: &[u8] = if self.framing == Framing::Http10 {
            b"HTTP/1.0"
        } else {
            b"HTTP/1.1"
        };
        let mut head = [&self.method[..], b" ", &self.target, b" ", version, eol].concat();
        let mut line = |name: &[u8], value: &[u8]| {
            head.extend_from_slice(&[name, b": ", value, eol].concat());
        };
        line(b"Host", b"127.0.0.1");
        for (name, value) in &self.headers {
            line(name, value);
        }
        match (self.framing, body_len) {
            (Framing::Chunked, _) => line(b"Transfer-Encoding", b"chunked"),
            (_, Some(len)) => line(b"Content-Length", len.to_string().as_bytes()),
            (_, None) => {}
        }
        if self.framing == Framing::Expect100 {
            line(b"Expect", b"100-continue");
        }
        head.extend_from_slice(eol);
        head
    }

    /// The request as sent. A GET without a body gets no `Content-Length`.
    pub fn bytes(&self) -> Vec<u8> {
        let announce = !(self.body.is_empty() && self.method == b"GET");
        let mut bytes = self.head(announce.then_some(self.body.len()));
        if self.framing == Framing::Chunked {
            for chunk in self.body.chunks(1_000) {
                bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                bytes.extend_from_slice(chunk);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        } else {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }

    /// The head announcing the whole body, then only its first `keep` bytes.
    pub fn truncated(&self, keep: usize) -> Vec<u8> {
        let plain = Draft {
            framing: Framing::Length,
            ..self.clone()
        };
        let mut bytes = plain.head(Some(self.body.len()));
        bytes.extend_from_slice(&self.body[..keep.min(self.body.len())]);
        bytes
    }
}

const BAD: Expect = Expect {
    statuses: &[400],
    codes: &[],
    may_close: true,
};
/// A body the HTTP layer passes on but cannot complete: the receiver's own 400.
const UNREADABLE: Expect = Expect {
    statuses: &[400],
    codes: &["invalid_json"],
    may_close: true,
};

/// A request HTTP/1.1 does not allow, and how the receiver must answer it. Those the HTTP layer
/// passes on reach `POST /webhooks/{provider}` (`routed`).
pub fn broken(rng: &mut SmallRng, provider: &str) -> (Vec<u8>, Expect, bool) {
    let post = |extra: &str, body: &str| {
        format!(
            "POST /webhooks/{provider} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\r\n{body}"
        )
        .into_bytes()
    };
    let (bytes, expect) = match rng.random_range(0..22) {
        0 => (
            (0..rng.random_range(1..2_000))
                .map(|_| rng.random())
                .collect(),
            BAD_OR_NOTHING,
        ),
        1 => (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), BAD),
        2 => (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(), BAD),
        3 => (b"GET /healthz HTTP/1.1\r\n\r\n".to_vec(), BAD), // no Host
        4 => (b"GET /heal thz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), BAD),
        5 => (
            [
                &b"POST /webhooks/"[..],
                b"\xff\xfe\x80",
                b" HTTP/1.1\r\nHost: x\r\n\r\n",
            ]
            .concat(),
            BAD,
        ),
        6 => (post("X-Nul: a\0b\r\nContent-Length: 2\r\n", "{}"), BAD),
        7 => (
            post(
                "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
                "2\r\n{}\r\n0\r\n\r\n",
            ),
            BAD,
        ),
        8 => (
            post("Content-Length: 2\r\nContent-Length: 3\r\n", "{}"),
            BAD,
        ),
        9 => (post("Content-Length: -2\r\n", "{}"), BAD),
        10 => (post("Content-Length: 99999999999999999999\r\n", "{}"), BAD),
        11 => (
            post(
                "Transfer-Encoding: gzip, chunked\r\n",
                "2\r\n{}\r\n0\r\n\r\n",
            ),
            BAD,
        ),
        12 => (post("JustAWord\r\nContent-Length: 2\r\n", "{}"), BAD),
        13 => (post("Bad Name: x\r\nContent-Length: 2\r\n", "{}"), BAD),
        14 => (
            post("X-Folded: a\r\n b\r\nContent-Length: 2\r\n", "{}"),
            BAD,
        ),
        15 => (b"GET /\r\n\r\n".to_vec(), BAD), // HTTP/0.9
        16 => (
            b"FOO%BAR /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            BAD,
        ),
        17 => (b"GET /healthz HTTP/1.1\rHost: x\r\n\r\n".to_vec(), BAD),
        18 => (
            post("Transfer-Encoding: chunked\r\n", "zz\r\n{}\r\n0\r\n\r\n"),
            UNREADABLE,
        ),
        19 => (
            post(
                "Transfer-Encoding: chunked\r\n",
                "ffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
            ),
            UNREADABLE,
        ),
        20 => (post("Content-Length: +2\r\n", "{}"), BAD),
        _ => {
            let method = pick(rng, &["GET", "POST", "X"]);
            let bytes = format!("{method} /webhooks/{provider} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n\u{0}");
            return (bytes.into_bytes(), ANY_CLOSE, method == "POST");
        }
    };
    let routed = expect.codes == UNREADABLE.codes;
    (bytes, expect, routed)
}

/// Random bytes may by chance be a request the HTTP layer reads on (and then times out on).
const BAD_OR_NOTHING: Expect = Expect {
    statuses: &[400, 408, 431],
    codes: &[],
    may_close: true,
};
/// A one-byte body that is not JSON, on a method that may or may not route.
const ANY_CLOSE: Expect = Expect {
    statuses: &[400, 401, 404, 415],
    codes: &[],
    may_close: true,
};
