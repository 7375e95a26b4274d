//! Running the `inboxctl` binary against a database of the test's own, configured through a
//! TOML file and `INBOX__DATABASE__URL` as an operator would.

use std::path::PathBuf;
use std::process::{Command, Output};

use persistence::connection::{DatabaseUrl, DbConnection, SqliteOptions};

pub struct Ctl {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub config: PathBuf,
    pg_schema: Option<(DatabaseUrl, String)>,
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
        let raw = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let admin = DatabaseUrl::parse(&raw).unwrap();
        let mut conn = match DbConnection::open(&admin, SqliteOptions::default()) {
            Ok(conn) => conn,
            Err(e) if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
                panic!("PostgreSQL is required in CI: {e}")
            }
            Err(e) => {
                let line = format!("SKIPPED {test}: PostgreSQL unreachable ({e})");
                let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
                eprintln!("{line}");
                if let Ok(path) = std::env::var("INBOX_TEST_SKIP_LOG") {
                    use std::io::Write;
                    if let Ok(mut f) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                    {
                        let _ = writeln!(f, "{line}");
                    }
                }
                return None;
            }
        };
        let schema = format!("it_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        use diesel::connection::SimpleConnection;
        conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        let separator = if raw.contains('?') { '&' } else { '?' };
        let url = format!("{raw}{separator}options=-csearch_path%3D{schema}");
        Some(Ctl::with(
            tempfile::tempdir().unwrap(),
            url,
            Some((admin, schema)),
            "",
        ))
    }

    pub fn with(
        dir: tempfile::TempDir,
        database_url: String,
        pg_schema: Option<(DatabaseUrl, String)>,
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
            pg_schema,
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

impl Drop for Ctl {
    fn drop(&mut self) {
        if let Some((admin, schema)) = &self.pg_schema {
            if let Ok(mut conn) = DbConnection::open(admin, SqliteOptions::default()) {
                use diesel::connection::SimpleConnection;
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}
