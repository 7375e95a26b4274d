//! A relative SQLite path written in a configuration file names a file beside that file, so
//! `inboxctl --config config/dev.toml` opens the same database from any directory. Only a URL
//! the file itself sets is resolved: the built-in default, `DATABASE_URL` and
//! `INBOX__DATABASE__URL` stay relative to the working directory, as users of those expect.
//! The URL forms are `persistence::DatabaseUrl`'s; this module only rewrites the path part.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// `database.url` as the file at `path` sets it, if it does.
pub(crate) fn file_database_url(path: &Path) -> Result<Option<String>, ConfigError> {
    let file = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()
        .map_err(|e| ConfigError::new("config", e.to_string()))?;
    match file.get_string("database.url") {
        Ok(url) => Ok(Some(url)),
        Err(config::ConfigError::NotFound(_)) => Ok(None),
        Err(e) => Err(ConfigError::new("database.url", e.to_string())),
    }
}

/// `url` with a relative SQLite path made absolute against `config_dir` (the configuration
/// file's folder, itself relative to the working directory or not), in the same form
/// (`sqlite://`, `sqlite:` or a bare path). `None` when there is nothing to resolve: PostgreSQL,
/// an absolute path, or a value that validation will refuse with its own message.
pub(crate) fn resolve_sqlite_path(
    url: &str,
    config_dir: &Path,
) -> Result<Option<String>, ConfigError> {
    let url = url.trim();
    let (prefix, path) = if let Some(rest) = url.strip_prefix("sqlite://") {
        ("sqlite://", rest)
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        ("sqlite:", rest)
    } else if url.contains("://") {
        return Ok(None);
    } else {
        ("", url)
    };
    if path.is_empty() || path == ":memory:" || Path::new(path).is_absolute() {
        return Ok(None);
    }
    let dir = std::path::absolute(config_dir).map_err(|e| {
        ConfigError::new(
            "database.url",
            format!(
                "cannot resolve {path:?} against {}: {e}",
                config_dir.display()
            ),
        )
    })?;
    let resolved: PathBuf = dir.join(path);
    let resolved = resolved.to_str().ok_or_else(|| {
        ConfigError::new(
            "database.url",
            format!("{} is not UTF-8", resolved.display()),
        )
    })?;
    Ok(Some(format!("{prefix}{resolved}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(url: &str, dir: &str) -> Option<String> {
        resolve_sqlite_path(url, Path::new(dir)).unwrap()
    }

    #[test]
    fn relative_sqlite_paths_join_the_config_folder_in_their_own_form() {
        assert_eq!(
            resolve("sqlite://var/inbox.db", "/etc/inbox").as_deref(),
            Some("sqlite:///etc/inbox/var/inbox.db")
        );
        assert_eq!(
            resolve("sqlite:../var/inbox.db", "/srv/app/config").as_deref(),
            Some("sqlite:/srv/app/config/../var/inbox.db")
        );
        assert_eq!(
            resolve(" inbox.db ", "/data").as_deref(),
            Some("/data/inbox.db")
        );
    }

    #[test]
    fn a_relative_config_folder_is_taken_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        let expected = format!("sqlite://{}", cwd.join("config/var/inbox.db").display());
        assert_eq!(
            resolve("sqlite://var/inbox.db", "config").as_deref(),
            Some(expected.as_str())
        );
    }

    /// Loads `toml`, written as `inbox.toml` in a folder of its own, with `vars` as environment.
    fn load_url(toml: &str, vars: &[(&str, &str)]) -> (tempfile::TempDir, String) {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.toml");
        std::fs::write(&path, toml).unwrap();
        let env: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let loaded = crate::load_from(Some(&path), &env).unwrap();
        let url = loaded.settings.database.url.expose_secret().to_owned();
        (dir, url)
    }

    #[test]
    fn only_a_url_from_the_file_is_resolved_against_it() {
        let (dir, url) = load_url("[database]\nurl = \"sqlite://data/inbox.db\"\n", &[]);
        let beside = dir.path().join("data/inbox.db");
        assert_eq!(url, format!("sqlite://{}", beside.display()));

        // The environment's URLs, and the built-in default, stay as written (working directory).
        let file = "[database]\nurl = \"sqlite://data/inbox.db\"\n";
        let (_, url) = load_url(file, &[("DATABASE_URL", "sqlite://env.db")]);
        assert_eq!(url, "sqlite://env.db");
        let (_, url) = load_url(file, &[("INBOX__DATABASE__URL", "here.db")]);
        assert_eq!(url, "here.db");
        let (_, url) = load_url("[log]\nlevel = \"info\"\n", &[]);
        assert_eq!(url, "sqlite://var/inbox.db");
        // PostgreSQL from the file is untouched.
        let pg = "postgres://app@db:5432/inbox";
        let (_, url) = load_url(&format!("[database]\nurl = \"{pg}\"\n"), &[]);
        assert_eq!(url, pg);
    }

    #[test]
    fn absolute_paths_postgres_and_invalid_values_are_left_alone() {
        for url in [
            "sqlite:///var/lib/inbox.db",
            "sqlite:/var/lib/inbox.db",
            "/var/lib/inbox.db",
            "postgres://app@db/inbox",
            "postgresql://app@db/inbox",
            "mysql://db/inbox",
            "sqlite://",
            "sqlite::memory:",
            "",
        ] {
            assert_eq!(resolve(url, "/etc/inbox"), None, "{url:?}");
        }
    }
}
