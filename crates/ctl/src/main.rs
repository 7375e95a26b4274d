//! `inboxctl`: the operator CLI. Every command goes through domain and persistence; nothing here
//! re-implements a rule or a query.

mod cli;
mod commands;
mod context;
mod duration;
mod error;
mod http;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_output();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inboxctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `inboxctl events list | head`: once the reader has what it wants and closes the pipe, the
/// next write fails and Rust's printing macros panic ("failed printing to stdout: Broken pipe").
/// That is the reader's choice, not an error: end quietly with 0, as a shell tool would, instead
/// of a panic message. Every other panic keeps the default report.
fn quiet_on_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
