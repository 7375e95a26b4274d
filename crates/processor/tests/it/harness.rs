//! Processors under test: their configuration (written as an operator would), starting and
//! stopping them in-process, waiting by polling with a deadline, their HTTP port, and a
//! redis-server of the test's own that the test may kill and start again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inbox_config::Loaded;
use processor::Processor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::helpers::{ping, unavailable, Env};

/// Processor settings a test may change; the rest of the configuration is fixed.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub batch_size: u32,
    pub concurrency: u32,
    pub poll_interval_ms: u64,
    pub lease_secs: u64,
    pub lock_wait_ms: u64,
    pub lock_ttl_ms: u64,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub shutdown_grace_secs: u64,
    pub pool_size: u32,
    pub log_level: &'static str,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            batch_size: 50,
            concurrency: 4,
            poll_interval_ms: 100,
            lease_secs: 30,
            lock_wait_ms: 5_000,
            lock_ttl_ms: 10_000,
            max_attempts: 8,
            retry_base_ms: 100,
            retry_max_ms: 1_000,
            shutdown_grace_secs: 10,
            pool_size: 6,
            log_level: "info",
        }
    }
}

/// A configuration file as an operator would write it, with the `demo` provider (generic
/// payloads, unsigned).
pub fn config_toml(env: &Env, knobs: &Knobs) -> String {
    let redis = match &env.redis {
        Some(url) => format!("[redis]\nurl = \"{url}\"\n"),
        None => String::new(),
    };
    format!(
        "[database]\nurl = \"{db}\"\npool_size = {pool}\npool_min_idle = 0\nrun_migrations = true\n\
         {redis}\
         [log]\nlevel = \"{log}\"\n\
         [processor]\nmetrics_addr = \"127.0.0.1:0\"\nbatch_size = {batch}\nconcurrency = {conc}\n\
         poll_interval_ms = {poll}\nlease_secs = {lease}\nlock_wait_ms = {wait}\n\
         lock_ttl_ms = {ttl}\nmax_attempts = {attempts}\nretry_base_ms = {base}\n\
         retry_max_ms = {max}\nshutdown_grace_secs = {grace}\n\
         [providers.demo]\npreset = \"generic\"\nsignature = \"none\"\n",
        db = env.db.url,
        pool = knobs.pool_size,
        log = knobs.log_level,
        batch = knobs.batch_size,
        conc = knobs.concurrency,
        poll = knobs.poll_interval_ms,
        lease = knobs.lease_secs,
        wait = knobs.lock_wait_ms,
        ttl = knobs.lock_ttl_ms,
        attempts = knobs.max_attempts,
        base = knobs.retry_base_ms,
        max = knobs.retry_max_ms,
        grace = knobs.shutdown_grace_secs,
    )
}

pub fn write_config(dir: &tempfile::TempDir, toml: &str) -> PathBuf {
    let path = dir
        .path()
        .join(format!("processor-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, toml).expect("write config");
    path
}

/// Loads the configuration through the real loader, ignoring the process environment.
pub fn load(env: &Env, knobs: &Knobs) -> Loaded {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(&dir, &config_toml(env, knobs));
    inbox_config::load_from(Some(&path), &std::collections::HashMap::new()).expect("config")
}

pub async fn build(env: &Env, knobs: &Knobs) -> (Arc<Processor>, SocketAddr) {
    let (processor, addr) = Processor::build(load(env, knobs).settings)
        .await
        .expect("build");
    (Arc::new(processor), addr)
}

/// A processor running in this process until `stop`.
pub struct Running {
    /// Keeps its metrics port open until the test is done with it.
    _processor: Arc<Processor>,
    pub addr: SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), processor::Error>>,
}

impl Running {
    pub async fn start(env: &Env, knobs: &Knobs) -> Running {
        let (processor, addr) = build(env, knobs).await;
        let cancel = CancellationToken::new();
        let task = tokio::spawn({
            let (processor, cancel) = (processor.clone(), cancel.clone());
            async move { processor.run(cancel).await }
        });
        Running {
            _processor: processor,
            addr,
            cancel,
            task,
        }
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        self.task.await.expect("join").expect("run");
    }
}

/// Polls `check` until it holds; fails the test after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `GET path` over plain HTTP/1.1: (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path).await
}

pub async fn http_request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

/// The value of one sample of `/metrics` (`name{labels}` exactly as exposed); 0 when absent.
pub async fn metric(addr: SocketAddr, sample: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics").await;
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// A redis-server of the test's own, which the test may stop and start again on its port.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start(test: &str) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            return unavailable(test, "redis-server is not installed");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        server.resume();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) and waits until it answers.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while ping(&self.url()).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (as a crash would) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
