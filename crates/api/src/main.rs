//! `api [--config FILE]`: load configuration and the API keys, set up logging, serve until
//! SIGTERM. Exit status: 0 after a clean stop; 1 when it cannot start or fails while serving; 2
//! for bad arguments or configuration (a key's variable unset or too short included).

use std::path::PathBuf;
use std::process::ExitCode;

use api::Application;
use clap::Parser;
use inbox_config::ProcessEnvironment;

/// The command line. `--help` and `--version` come from clap.
#[derive(Debug, Parser)]
#[command(
    name = "api",
    version,
    about = "Serve the host application's API (/v1/collections, /v1/events), /healthz, /readyz and /metrics.",
    after_help = "Configuration: built-in defaults, then FILE (or $INBOX_CONFIG), then \
                  INBOX__SECTION__KEY environment variables; DATABASE_URL is honoured; API keys \
                  from the environment variables [api.keys.<name>] names. See \
                  docs/configuration.md and docs/host-api.md.\n\
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
    // Provider secrets are the receiver's business: the API does not need them.
    let loaded = inbox_config::load_settings_from(args.config.as_deref(), &ProcessEnvironment)
        .and_then(|(settings, _)| {
            let keys = settings.api.resolve_keys(&ProcessEnvironment)?;
            Ok((settings, keys))
        });
    let (settings, keys) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("api: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = inbox_config::logging::init(&settings.log) {
        eprintln!("api: {e}");
        return ExitCode::from(2);
    }
    let app = match Application::build(&settings, &keys).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("api cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("api stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("api failed: {e}");
            ExitCode::FAILURE
        }
    }
}
