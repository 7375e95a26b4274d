//! A keep-alive HTTP/1.1 client for JSON POSTs and GETs with known-length answers: a load
//! generator must not pay a TCP handshake per request, and a full client stack is not needed for
//! a few endpoints.
//! It shares the receiver's cores, so it reuses its buffers instead of allocating per request.

use std::io::{self, Write};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Connection {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
    /// The request being sent, then the answer's lines: kept between requests.
    request: Vec<u8>,
    line: String,
}

pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Connection {
    pub fn new(addr: &str) -> Connection {
        Connection {
            addr: addr.to_owned(),
            stream: None,
            request: Vec::new(),
            line: String::new(),
        }
    }

    /// Forgets the connection: the next request opens a new one.
    pub fn reset(&mut self) {
        self.stream = None;
    }

    /// Sends `body` as `Content-Type: application/json` with `headers`, reconnecting first when
    /// the server closed the previous connection.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> io::Result<Answer> {
        self.send(path, headers, Some(body)).await
    }

    /// Asks for `path` with `headers`, as `post` does.
    pub async fn get(&mut self, path: &str, headers: &[(String, String)]) -> io::Result<Answer> {
        self.send(path, headers, None).await
    }

    async fn send(
        &mut self,
        path: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> io::Result<Answer> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let result = self.exchange(path, headers, body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        path: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> io::Result<Answer> {
        let broken = || io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP answer");
        let stream = self.stream.as_mut().ok_or_else(broken)?;
        let request = &mut self.request;
        request.clear();
        match body {
            Some(body) => write!(
                request,
                "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                self.addr,
                body.len()
            )?,
            None => write!(request, "GET {path} HTTP/1.1\r\nHost: {}\r\n", self.addr)?,
        }
        for (name, value) in headers {
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body.unwrap_or_default());
        stream.get_mut().write_all(request).await?;

        let line = &mut self.line;
        line.clear();
        stream.read_line(line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(broken)?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            if stream.read_line(line).await? == 0 {
                return Err(broken());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().map_err(|_| broken())?;
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        if close {
            self.stream = None;
        }
        Ok(Answer { status, body })
    }
}
