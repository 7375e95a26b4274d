//! The binary: SIGTERM lets a request in flight finish, then the process exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{sign, DEMO_SECRET};
use domain::provider::Preset;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_request_in_flight_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("inbox.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[receiver]\nbind = \"127.0.0.1:{port}\"\nmetrics_addr = \"127.0.0.1:0\"\nworkers = 1\nshutdown_grace_secs = 10\n\
             [providers.demo]\npreset = \"generic\"\nsecrets = [\"DEMO_SECRET\"]\n",
            dir.path().join("inbox.db").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_receiver"))
        .arg("--config")
        .arg(&config)
        .env("DEMO_SECRET", DEMO_SECRET)
        .env_remove("DATABASE_URL")
        .env_remove("INBOX_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stream = connect_within(port, Duration::from_secs(20)).await;

    // Start a request, send half its body, then ask the server to stop.
    let body = br#"{"event_id":"evt_drain","request_ref":"REQ-1","status":"success"}"#;
    let signature = sign(Preset::Generic, DEMO_SECRET, body, crate::helpers::now());
    let head = format!(
        "POST /webhooks/demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{}: {}\r\nContent-Length: {}\r\n\r\n",
        signature[0].0, signature[0].1, body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // let the server start reading it
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "receiver did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn connect_within(port: u16, limit: Duration) -> TcpStream {
    let deadline = Instant::now() + limit;
    loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(stream) => return stream,
            Err(e) if Instant::now() > deadline => panic!("receiver never listened: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
