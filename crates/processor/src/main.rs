//! The `processor` binary: parses its arguments, loads and validates the configuration, sets up
//! logging, applies migrations when `database.run_migrations` says so, then runs the processor
//! until SIGTERM or SIGINT. Exit status: 0 after a clean shutdown; 1 when it cannot start; 2 for
//! bad arguments or configuration (clap's own code for bad arguments, the same in every binary).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use inbox_config::Settings;
use persistence::{run_migrations, DbConnection};
use processor::Processor;
use tokio_util::sync::CancellationToken;

/// The command line. `--help` and `--version` come from clap.
#[derive(Debug, Parser)]
#[command(
    name = "processor",
    version,
    about = "Apply recorded webhook events to collections; serve /healthz, /readyz and /metrics.",
    after_help = "Configuration: built-in defaults, then FILE (or $INBOX_CONFIG), then \
                  INBOX__SECTION__KEY environment variables; DATABASE_URL and REDIS_URL are \
                  honoured. See docs/configuration.md.\n\
                  Exit codes: 0 stopped cleanly; 1 cannot start; 2 bad arguments or configuration."
)]
struct Args {
    /// Configuration file (default: $INBOX_CONFIG, else built-in defaults plus environment).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match configure(args.config.as_deref()) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("processor: {message}");
            return ExitCode::from(2);
        }
    };
    match start(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("processor: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration, validated, and logging set up from it: what exit status 2 covers. Settings
/// only: the processor reads no provider's signing secret (`Processor::build`).
fn configure(file: Option<&Path>) -> Result<Settings, String> {
    let (settings, _) = inbox_config::load_settings_from(file, &inbox_config::ProcessEnvironment)
        .map_err(|e| e.to_string())?;
    inbox_config::logging::init(&settings.log).map_err(|e| e.to_string())?;
    Ok(settings)
}

fn start(settings: Settings) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let result = runtime.block_on(async {
        if settings.database.run_migrations {
            migrate(&settings).await?;
        }
        let (processor, _addr) = Processor::build(settings)
            .await
            .map_err(|e| e.to_string())?;
        let cancel = CancellationToken::new();
        tokio::spawn(cancel_on_signal(cancel.clone()));
        processor.run(cancel).await.map_err(|e| e.to_string())
    });
    // Blocking database calls still running after the grace (at most one per slot) must not
    // hold the exit: their events keep their leases and come back.
    runtime.shutdown_timeout(Duration::from_millis(250));
    result
}

async fn migrate(settings: &Settings) -> Result<(), String> {
    let url = settings
        .database
        .database_url()
        .map_err(|e| e.to_string())?;
    let sqlite = settings.database.pool_settings().sqlite;
    let applied = tokio::task::spawn_blocking(move || {
        let mut conn = DbConnection::open(&url, sqlite)?;
        run_migrations(&mut conn)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if !applied.is_empty() {
        tracing::info!(?applied, "Migrations applied");
    }
    Ok(())
}

async fn cancel_on_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "Cannot handle SIGTERM/SIGINT");
            return;
        }
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received: stopping");
    cancel.cancel();
}
