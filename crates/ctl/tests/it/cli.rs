//! The arguments all three binaries share: `--config`/`-c`, `--help`, `--version`, exit 2 when
//! they are wrong.

#[test]
fn standard_arguments() {
    test_support::cli::assert_standard_arguments(
        env!("CARGO_BIN_EXE_inboxctl"),
        "inboxctl",
        &["stats"],
    );
}

/// A reader that closes the pipe early (`inboxctl … | head -1`) ends the command quietly with 0,
/// not with a panic about a broken pipe.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::process::{Command, Stdio};
    let ctl = crate::helpers::Ctl::sqlite();
    ctl.run(&["migrate"]).ok();
    let mut child = Command::new(env!("CARGO_BIN_EXE_inboxctl"))
        .arg("--config")
        .arg(&ctl.config)
        .args(["events", "list", "--json"])
        .env("INBOX__DATABASE__URL", &ctl.database_url)
        .env_remove("DATABASE_URL")
        .env_remove("INBOX_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the command gets to print (it starts, reads its configuration, queries).
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
