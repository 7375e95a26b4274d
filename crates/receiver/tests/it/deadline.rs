//! A body that never ends cannot hold its connection: past `receiver.request_timeout_secs` it
//! gets 408 and the connection is closed.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, Backend, Options};

#[tokio::test]
async fn a_trickling_body_is_cut_off_at_the_deadline() {
    let options = Options {
        request_timeout_secs: 1,
        ..Options::default()
    };
    let app = spawn_app_with(Backend::Sqlite, "deadline", options)
        .await
        .unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = "POST /webhooks/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 1000\r\n\r\n{\"event_id\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    // The rest never comes. The server must answer and close on its own.
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    read.await
        .expect("the connection is still open after 10 s")
        .unwrap();
    let waited = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}
