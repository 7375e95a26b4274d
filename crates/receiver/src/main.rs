//! `receiver [--config FILE]`: load configuration, set up logging, serve until SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use receiver::Application;

const USAGE: &str = "usage: receiver [--config FILE]\n\n\
Serves POST /webhooks/{provider}, /healthz, /readyz and /metrics.\n\
Configuration: built-in defaults, then FILE (or $INBOX_CONFIG), then INBOX__SECTION__KEY\n\
environment variables; DATABASE_URL is honoured. See docs/configuration.md.";

fn config_path() -> Result<Option<PathBuf>, String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                path = Some(PathBuf::from(args.next().ok_or("--config needs a file")?));
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(path)
}

#[actix_web::main]
async fn main() -> ExitCode {
    let path = match config_path() {
        Ok(path) => path,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("receiver: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let loaded = match inbox_config::load(path.as_deref()) {
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
