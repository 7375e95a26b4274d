//! The `processor` binary: parses `--config`, loads and validates the configuration, sets up
//! logging, applies migrations when `database.run_migrations` says so, then runs the processor
//! until SIGTERM or SIGINT. Exit status 0 after a clean shutdown, 1 when it cannot start.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use persistence::{run_migrations, DbConnection};
use processor::Processor;
use tokio_util::sync::CancellationToken;

const USAGE: &str = "usage: processor [--config FILE]\n\
    Configuration: built-in defaults, then FILE (or $INBOX_CONFIG), then INBOX__SECTION__KEY \
    variables; DATABASE_URL and REDIS_URL are honoured.";

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("processor: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match start(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("processor: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` asks for the usage text.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Option<PathBuf>>, String> {
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--config" => {
                let path = args.next().ok_or("--config needs a file")?;
                config = Some(PathBuf::from(path));
            }
            other => match other.strip_prefix("--config=") {
                Some(path) => config = Some(PathBuf::from(path)),
                None => return Err(format!("unexpected argument {other:?}")),
            },
        }
    }
    Ok(Some(config))
}

fn start(config: Option<PathBuf>) -> Result<(), String> {
    // Settings only: the processor reads no provider secret (`Processor::build`).
    let (settings, _) =
        inbox_config::load_settings_from(config.as_deref(), &inbox_config::ProcessEnvironment)
            .map_err(|e| e.to_string())?;
    inbox_config::logging::init(&settings.log).map_err(|e| e.to_string())?;
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

async fn migrate(settings: &inbox_config::Settings) -> Result<(), String> {
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
