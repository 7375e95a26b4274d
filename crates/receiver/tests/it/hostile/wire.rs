//! One exchange on a raw TCP connection: the request's bytes exactly as generated (broken framing,
//! invalid UTF-8 and all), the answer read while the request is still being written, since the
//! receiver may answer (413, 400) and close before reading everything. No HTTP client library
//! would send most of this corpus.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How the request's bytes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// Everything, then wait for the answer.
    Whole,
    /// Everything, then close our side: a body cut short by the client going away.
    HalfClose,
    /// Everything, then wait with the connection open although the request is incomplete: only the
    /// receiver's own deadline can answer it.
    Stall,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    /// The server announced `Connection: close` (or HTTP/1.0 without keep-alive).
    pub closes: bool,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub enum Exchange {
    Answered {
        answer: Answer,
        /// Whether every byte of the request was written before the answer came.
        request_sent: bool,
    },
    /// The server closed (or reset) the connection before sending a byte of an answer.
    Closed,
    /// The server sent something that is not an HTTP/1.1 answer, or stopped in its middle.
    Garbled(String),
}

pub async fn exchange(
    stream: &mut TcpStream,
    bytes: &[u8],
    sending: Sending,
    head_request: bool,
) -> Exchange {
    let (mut reader, mut writer) = stream.split();
    let sent = AtomicBool::new(false);
    let write = async {
        // The receiver may refuse early and stop reading; the answer decides, not this write.
        if writer.write_all(bytes).await.is_ok() {
            sent.store(true, Ordering::Relaxed);
            if sending == Sending::HalfClose {
                let _ = writer.shutdown().await;
            }
        }
        std::future::pending::<()>().await
    };
    let read = read_answer(&mut reader, head_request);
    let outcome = tokio::select! {
        outcome = read => outcome,
        () = write => unreachable!("the write future never completes"),
    };
    match outcome {
        Ok(answer) => Exchange::Answered {
            answer,
            request_sent: sent.load(Ordering::Relaxed),
        },
        Err(Broken::Closed) => Exchange::Closed,
        Err(Broken::Garbled(why)) => Exchange::Garbled(why),
    }
}

enum Broken {
    Closed,
    Garbled(String),
}

async fn read_answer<R: AsyncReadExt + Unpin>(
    reader: &mut R,
    head_request: bool,
) -> Result<Answer, Broken> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if buf.len() > 64 * 1024 {
                return Err(Broken::Garbled("an answer head over 64 KiB".into()));
            }
            match fill(reader, &mut buf).await {
                Ok(n) if n > 0 => {}
                // A close or a reset before the first byte: no answer, which some probes allow.
                _ if buf.is_empty() => return Err(Broken::Closed),
                _ => {
                    let cut = format!("cut in its head: {:?}", lossy(&buf));
                    return Err(Broken::Garbled(cut));
                }
            }
        };
        let text = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|_| version.starts_with("HTTP/1."))
            .ok_or_else(|| Broken::Garbled(format!("status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        buf.drain(..end + 4);
        if (100..200).contains(&status) {
            continue; // 100 Continue: the real answer follows.
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let content_length = header("content-length").and_then(|v| v.parse::<usize>().ok());
        let closes = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || (version == "HTTP/1.0"
                && !header("connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let body = if head_request || status == 204 || status == 304 {
            Vec::new()
        } else if let Some(len) = content_length {
            while buf.len() < len {
                if !matches!(fill(reader, &mut buf).await, Ok(n) if n > 0) {
                    let cut = format!("body cut at {} of {len} bytes", buf.len());
                    return Err(Broken::Garbled(cut));
                }
            }
            buf.truncate(len);
            buf
        } else if chunked {
            return Err(Broken::Garbled(
                "a chunked answer (the receiver sizes its answers)".into(),
            ));
        } else {
            while matches!(fill(reader, &mut buf).await, Ok(n) if n > 0) {}
            buf
        };
        return Ok(Answer {
            status,
            content_type: header("content-type"),
            closes,
            body,
        });
    }
}

async fn fill<R: AsyncReadExt + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = reader.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}
