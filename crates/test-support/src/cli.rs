//! The arguments every binary shares (`--config`/`-c`, `--help`, `--version`) and their exit
//! codes, checked the same way for each, so the three stay alike.

use std::path::Path;
use std::process::{Command, Output};

fn run(binary: &str, args: &[&str], config_env: Option<&str>) -> Output {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_remove("INBOX_CONFIG")
        .env_remove("DATABASE_URL");
    if let Some(path) = config_env {
        command.env("INBOX_CONFIG", path);
    }
    match command.output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run {binary}: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `binary` (an `env!("CARGO_BIN_EXE_…")` path) with the shared arguments and checks what
/// an operator sees: help and version on stdout with status 0; a bad argument, and a missing
/// configuration file given by `-c`, `--config=` or `$INBOX_CONFIG`, refused with status 2.
/// `command` is what the binary needs to get as far as reading its configuration (`inboxctl`
/// needs a subcommand).
pub fn assert_standard_arguments(binary: &str, name: &str, command: &[&str]) {
    let version = run(binary, &["--version"], None);
    assert_eq!(version.status.code(), Some(0), "{name} --version");
    assert_eq!(
        text(&version.stdout).trim(),
        format!("{name} {}", env!("CARGO_PKG_VERSION"))
    );

    let help = run(binary, &["--help"], None);
    assert_eq!(help.status.code(), Some(0), "{name} --help");
    let help = text(&help.stdout);
    for expected in [
        "-c, --config <FILE>",
        "--version",
        "INBOX_CONFIG",
        "Exit codes",
    ] {
        assert!(
            help.contains(expected),
            "{name} --help lacks {expected:?}:\n{help}"
        );
    }

    let bad = run(binary, &["--no-such-flag"], None);
    assert_eq!(bad.status.code(), Some(2), "{name} --no-such-flag");
    assert!(text(&bad.stderr).contains("--no-such-flag"));

    let missing = Path::new("/nonexistent/inbox.toml");
    let missing_text = missing.display().to_string();
    let long = format!("--config={missing_text}");
    let short = [&["-c", missing_text.as_str()], command].concat();
    let long = [&[long.as_str()], command].concat();
    let given = [
        run(binary, &short, None),
        run(binary, &long, None),
        run(binary, command, Some(&missing_text)),
    ];
    for output in given {
        assert_eq!(output.status.code(), Some(2), "{name}: {output:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("/nonexistent/inbox.toml does not exist"),
            "{name}: {stderr}"
        );
    }
}
