//! The binary's arguments: `--config`/`-c`, `--help`, `--version`, exit 2 when they are wrong.

#[test]
fn standard_arguments() {
    test_support::cli::assert_standard_arguments(env!("CARGO_BIN_EXE_processor"), "processor", &[]);
}
