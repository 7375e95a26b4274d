//! `receiver [--config FILE]`: load configuration, set up logging, serve until SIGTERM.
//! Exit status: 0 after a clean stop; 1 when it cannot start or fails while serving; 2 for bad
//! arguments or configuration (clap's own code for bad arguments, the same in every binary).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use receiver::Application;

/// The command line. `--help` and `--version` come from clap.
#[derive(Debug, Parser)]
#[command(
    name = "receiver",
    version,
    about = "Serve POST /webhooks/{provider}, /healthz, /readyz and /metrics.",
    after_help = "Configuration: built-in defaults, then FILE (or $INBOX_CONFIG), then \
                  INBOX__SECTION__KEY environment variables; DATABASE_URL is honoured. See \
                  docs/configuration.md.\n\
                  Exit codes: 0 stopped cleanly; 1 cannot start or failed while serving; \
                  2 bad arguments or configuration."
)]
struct Args {
    /// Configuration file (default: $INBOX_CONFIG, else built-in defaults plus environment).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let loaded = match inbox_config::load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("receiver: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = inbox_config::logging::init(&loaded.settings.log) {
        eprintln!("receiver: {e}");
        return ExitCode::from(2);
    }
    let app = match Application::build(loaded).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("receiver cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("receiver stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("receiver failed: {e}");
            ExitCode::FAILURE
        }
    }
}
