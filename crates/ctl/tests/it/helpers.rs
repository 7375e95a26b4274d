//! Running the `inboxctl` binary against a database of the test's own, configured through a
//! TOML file and `INBOX__DATABASE__URL` as an operator would.

use std::path::PathBuf;
use std::process::{Command, Output};

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
