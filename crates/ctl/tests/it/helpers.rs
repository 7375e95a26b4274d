//! Running the `inboxctl` binary against a database of the test's own, configured through a
//! TOML file and `INBOX__DATABASE__URL` as an operator would.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use persistence::connection::{DatabaseUrl, DbConnection, SqliteOptions};
use test_support::PgSchema;

pub struct Ctl {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub config: PathBuf,
    /// Held for its `Drop`, which drops the schema.
    _pg_schema: Option<PgSchema>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Ctl {
    pub fn sqlite() -> Ctl {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("inbox.db").display());
        Ctl::with(dir, database_url, None, "")
    }

    /// `None` when PostgreSQL is unreachable outside CI (the skip is reported).
    pub fn postgres(test: &str) -> Option<Ctl> {
        Ctl::postgres_with(test, "")
    }

    /// `postgres` with `extra` appended to the configuration file.
    pub fn postgres_with(test: &str, extra: &str) -> Option<Ctl> {
        let schema = PgSchema::create(test)?;
        let url = schema.url.clone();
        Some(Ctl::with(
            tempfile::tempdir().unwrap(),
            url,
            Some(schema),
            extra,
        ))
    }

    /// `sqlite` with `extra` appended to the configuration file.
    pub fn sqlite_with(extra: &str) -> Ctl {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("inbox.db").display());
        Ctl::with(dir, database_url, None, extra)
    }

    pub fn with(
        dir: tempfile::TempDir,
        database_url: String,
        pg_schema: Option<PgSchema>,
        extra: &str,
    ) -> Ctl {
        let config = dir.path().join("inbox.toml");
        std::fs::write(
            &config,
            format!("[providers.demo]\npreset = \"generic\"\nsecrets = [\"DEMO_SECRET\"]\n{extra}"),
        )
        .unwrap();
        Ctl {
            dir,
            database_url,
            config,
            _pg_schema: pg_schema,
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_inboxctl"));
        command
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("INBOX__DATABASE__URL", &self.database_url)
            .env("USER", "alice")
            .env_remove("DATABASE_URL")
            .env_remove("INBOX_CONFIG");
        for (k, v) in env {
            command.env(k, v);
        }
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    pub fn connect(&self) -> DbConnection {
        DbConnection::open(
            &DatabaseUrl::parse(&self.database_url).unwrap(),
            SqliteOptions::default(),
        )
        .unwrap()
    }
}

/// The lines of a child's output stream, as they come, on a channel (read by a thread).
pub fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// The next line holding `containing`, within 20 s.
pub fn next_line(lines: &Receiver<String>, containing: &str) -> String {
    try_next_line(lines, containing, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no line with {containing:?} within 20 s"))
}

/// The next line holding `containing`, or `None` when none came `within` (or the stream ended).
pub fn try_next_line(
    lines: &Receiver<String>,
    containing: &str,
    within: Duration,
) -> Option<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(containing) => return Some(line),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}
