//! A minimal HTTP/1.1 POST over plain TCP, enough for `inboxctl send` against a local receiver.
//! No TLS: `send` is for local use (`make run`); production providers post directly.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::CtlError;

pub struct Answer {
    pub status: u16,
    pub body: String,
}

pub fn post(url: &url::Url, headers: &[(String, String)], body: &[u8]) -> Result<Answer, CtlError> {
    if url.scheme() != "http" {
        return Err(CtlError::Usage(format!(
            "{url}: only http:// URLs are supported by send (it is meant for a local receiver)"
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| CtlError::Usage(format!("{url} has no host")))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| CtlError::Failed(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| CtlError::Failed(format!("{host} has no address")))?;
    let timeout = Duration::from_secs(10);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| CtlError::Failed(format!("cannot connect to {url}: {e}")))?;
    let io = |e: std::io::Error| CtlError::Failed(format!("talking to {url}: {e}"));
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path = format!("{path}?{query}");
    }
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CtlError::Failed(format!("{url} did not answer HTTP")))?;
    Ok(Answer {
        status,
        body: body.to_owned(),
    })
}
