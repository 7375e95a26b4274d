//! The receiver as operators run it: the built binary, a TOML file, secrets in the environment,
//! JSON logs to a file (read for its port, shown when the test fails). Killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::providers::PROVIDERS;

pub struct ReceiverProcess {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// `request_timeout_secs = 2`: the incomplete requests of the corpus get their 408 quickly. Logs
/// at `warn` (and the start-up line): 100,000 refusals logged at `info` cost a debug build about
/// 11 s of CPU.
fn config_toml() -> String {
    let mut toml = String::from(
        r#"
[database]
pool_size = 8

[receiver]
bind = "127.0.0.1:0"
metrics_addr = "127.0.0.1:0"
request_timeout_secs = 2
workers = 2

[log]
format = "json"
level = "warn,receiver::startup=info"
"#,
    );
    for provider in &PROVIDERS {
        toml.push_str(&format!(
            "\n[providers.{}]\npreset = \"{}\"\n",
            provider.name,
            provider.preset.name()
        ));
        match provider.secret {
            Some((env, _)) => toml.push_str(&format!("secrets = [\"{env}\"]\n")),
            None => toml.push_str("signature = \"none\"\n"),
        }
    }
    toml
}

impl ReceiverProcess {
    pub async fn start(database_url: &str) -> ReceiverProcess {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("inbox.toml");
        std::fs::write(&config, config_toml()).unwrap();
        let log = dir.path().join("receiver.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_receiver"));
        // Nothing from the caller's environment may change the configuration under test.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("INBOX") {
                command.env_remove(key);
            }
        }
        command
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env("INBOX__DATABASE__URL", database_url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (env, secret) in PROVIDERS.iter().filter_map(|p| p.secret) {
            command.env(env, secret);
        }
        let child = command.spawn().unwrap();
        let mut process = ReceiverProcess {
            child,
            port: 0,
            log,
            _dir: dir,
        };
        process.port = process.listening_port().await;
        process
    }

    /// The port from the start-up line `receiver listening` (it binds port 0: no race).
    async fn listening_port(&mut self) -> u16 {
        for _ in 0..1_200 {
            assert!(
                self.alive(),
                "the receiver exited at start:\n{}",
                self.log_tail()
            );
            let port = self.log_lines().find_map(|line| {
                let line: serde_json::Value = serde_json::from_str(&line).ok()?;
                (line["message"] == "receiver listening").then(|| line["port"].as_u64())?
            });
            if let Some(port) = port {
                return u16::try_from(port).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver did not listen within 60 s:\n{}",
            self.log_tail()
        );
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// CPU seconds the process used so far (user and system).
    pub fn cpu_secs(&self) -> f64 {
        cpu_secs(&format!("/proc/{}/stat", self.child.id()))
    }

    /// The process's peak resident set (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn log_lines(&self) -> impl Iterator<Item = String> {
        let text = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter()
    }

    pub fn log_tail(&self) -> String {
        let lines: Vec<String> = self.log_lines().collect();
        lines[lines.len().saturating_sub(30)..]
            .iter()
            .map(|l| l.chars().take(400).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for ReceiverProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a `/proc/<pid>/stat` file, in seconds (USER_HZ is 100 on Linux).
pub fn cpu_secs(stat: &str) -> f64 {
    let stat = std::fs::read_to_string(stat).unwrap();
    // Fields after the command, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}
