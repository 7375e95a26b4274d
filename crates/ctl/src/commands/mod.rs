//! One module per command group; `run` dispatches.

mod collections;
mod events;
mod listen;
mod maintenance;
mod notifications;
mod send;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::error::CtlError;

pub fn run(cli: Cli) -> Result<(), CtlError> {
    let ctx = Context::load(cli.config.as_deref(), cli.json)?;
    match cli.command {
        Command::Migrate { check } => maintenance::migrate(&ctx, check),
        Command::Collections(command) => collections::run(&ctx, command),
        Command::Events(command) => events::run(&ctx, command),
        Command::Notifications(command) => notifications::run(&ctx, command),
        Command::Stats => maintenance::stats(&ctx),
        Command::Purge {
            older_than,
            batch_size,
            dry_run,
        } => maintenance::purge(&ctx, older_than, batch_size, dry_run),
        Command::Send {
            provider,
            file,
            url,
        } => send::send(&ctx, &provider, &file, url.as_deref()),
        Command::Listen {
            port,
            secret_env,
            bind,
        } => listen::listen(bind, port, &secret_env, ctx.json),
    }
}
