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
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inboxctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
