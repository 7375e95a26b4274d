//! The README's quick start, run from the README itself on SQLite: the receiver, the processor
//! and the host API running; the application's endpoint played by `inboxctl listen`, started by
//! the shell from the README's block; the application's part through the API with `curl`, the
//! provider's with `inboxctl send`, each command as the README's blocks write it (only the
//! addresses, the configuration file, the key and listen's port are the test's own). The
//! processor notifies `listen` with `config/dev.toml`'s `[notify]` and the secret
//! `scripts/run-local.sh` gives it. Also replaying a FAILED event once its collection exists.
//! Events are drained with `run_until_idle`; only the notification is waited for.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::signature::SigningSecret;
use inbox_config::NotifySettings;
use tokio_util::sync::CancellationToken;

use crate::helpers::{lines, try_next_line, Ctl};

const SECRET: &str = "demo-secret-change-me";
/// The material of the test's `demo` API key (every scope, as config/dev.toml's).
const API_KEY: &str = "quickstart-demo-key-0123456789abcdef";
const REPOSITORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// How the README calls inboxctl: `make run`'s binary and configuration.
const README_INBOXCTL: &str = "target/debug/inboxctl --config config/dev.toml ";

struct Services {
    ctl: Ctl,
    /// Shared so that, once the events are drained, it can `run` and deliver notifications.
    processor: Arc<processor::Processor>,
    url: String,
    /// The API's base URL, the README's `$API`.
    api: String,
}

/// The services, the processor notifying as `notify` says (signing with `secrets`) when given.
async fn start(notify: Option<(NotifySettings, Vec<SigningSecret>)>) -> Services {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("inbox.db").display());
    // As config/dev.toml, on free ports, and failing an event at its first transient failure.
    let ctl = Ctl::with(
        dir,
        database,
        None,
        "[processor]\nmetrics_addr = \"127.0.0.1:0\"\nmax_attempts = 1\n\n\
         [api]\nbind = \"127.0.0.1:0\"\nmetrics_addr = \"127.0.0.1:0\"\nworkers = 1\n\n\
         [api.keys.demo]\nscopes = [\"read\", \"write\", \"admin\"]\nsecrets = [\"DEMO_API_KEY\"]\n",
    );
    let env: HashMap<String, String> = [
        ("DEMO_SECRET", SECRET),
        ("DEMO_API_KEY", API_KEY),
        ("INBOX__DATABASE__URL", ctl.database_url.as_str()),
        ("INBOX__RECEIVER__BIND", "127.0.0.1:0"),
        ("INBOX__RECEIVER__METRICS_ADDR", "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let loaded = inbox_config::load_from(Some(&ctl.config), &env).unwrap();
    // The receiver migrates the database; the api, built after it, never does.
    let app = receiver::Application::build(loaded.clone()).await.unwrap();
    let url = format!("http://127.0.0.1:{}/webhooks/demo", app.port());
    tokio::spawn(app.run_until_stopped());
    let keys = loaded.settings.api.resolve_keys(&env).unwrap();
    let api = api::Application::build(&loaded.settings, &keys)
        .await
        .unwrap();
    let api_url = format!("http://127.0.0.1:{}", api.port());
    tokio::spawn(api.run_until_stopped());
    let mut settings = loaded.settings;
    let secrets = match notify {
        Some((notify, secrets)) => {
            settings.notify = notify;
            secrets
        }
        None => Vec::new(),
    };
    let (processor, _metrics) = processor::Processor::build_with(settings, secrets)
        .await
        .unwrap();
    Services {
        ctl,
        processor: Arc::new(processor),
        url,
        api: api_url,
    }
}

impl Services {
    /// `inboxctl` with the test's configuration, from the repository's root (where the README's
    /// relative paths point).
    async fn inboxctl(&self, args: &[&str]) -> crate::helpers::Run {
        let (config, db) = (self.ctl.config.clone(), self.ctl.database_url.clone());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_inboxctl"))
                .current_dir(REPOSITORY)
                .arg("--config")
                .arg(config)
                .args(args)
                .env("DEMO_SECRET", SECRET)
                .env("INBOX__DATABASE__URL", db)
                .env_remove("DATABASE_URL")
                .env_remove("INBOX_CONFIG")
                .output()
                .unwrap();
            crate::helpers::Run {
                code: output.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }

    async fn send(&self, example: &str) -> crate::helpers::Run {
        let file = format!("examples/{example}");
        self.inboxctl(&[
            "send",
            "--provider",
            "demo",
            "--file",
            &file,
            "--url",
            &self.url,
        ])
        .await
    }

    /// A README command run by `sh -e`, with the README's `$API` and `$KEY` set to the test's.
    async fn sh(&self, command: &str) -> String {
        let (api, command) = (self.api.clone(), command.to_owned());
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-ec")
                .arg(&command)
                .current_dir(REPOSITORY)
                .env("API", api)
                .env("KEY", API_KEY)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "stdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

/// The README's Quick start section.
fn readme_quick_start_section() -> String {
    let readme = std::fs::read_to_string(Path::new(REPOSITORY).join("README.md")).unwrap();
    let start = readme
        .find("## Quick start\n")
        .expect("README has a Quick start");
    let section = &readme[start..];
    section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)]
        .to_owned()
}

/// The commands of the quick start's first ```sh block holding `holding`, continuation lines
/// joined.
fn readme_block(holding: &str) -> Vec<String> {
    let section = readme_quick_start_section();
    let block = section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .find(|block| block.contains(holding))
        .unwrap_or_else(|| panic!("the quick start has no ```sh block with {holding:?}"));
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The default `scripts/run-local.sh` gives `var` (`export VAR=${VAR:-default}`).
fn run_local_default(var: &str) -> String {
    let script =
        std::fs::read_to_string(Path::new(REPOSITORY).join("scripts/run-local.sh")).unwrap();
    let prefix = format!("export {var}=${{{var}:-");
    script
        .lines()
        .find_map(|l| {
            l.strip_prefix(&prefix)?
                .strip_suffix('}')
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("scripts/run-local.sh does not give {var} a default"))
}

/// `config/dev.toml`'s `[notify]`: what `make run`'s processor notifies with.
fn dev_notify() -> NotifySettings {
    let dev = Path::new(REPOSITORY).join("config/dev.toml");
    let (settings, _) =
        inbox_config::load_settings_from(Some(&dev), &HashMap::<String, String>::new()).unwrap();
    settings.notify
}

/// `inboxctl listen` as the README's block starts it, from the shell; killed on drop.
struct Listening {
    child: Child,
    port: u16,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Listening {
    /// Runs the README's listen block with `sh -e` from the repository's root: its `export`
    /// line as written, then its `inboxctl` line, config/dev.toml included, with the test's
    /// binary and `--port 0` for the README's port (returned beside it, to be checked against
    /// `[notify] url`).
    fn start(block: &[String]) -> (Listening, u16) {
        let [export, listen] = block else {
            panic!("expected the export line and the listen line, got {block:?}");
        };
        assert!(export.starts_with("export "), "{export}");
        assert!(listen.starts_with(README_INBOXCTL), "{listen}");
        let args = listen.strip_prefix("target/debug/inboxctl ").unwrap();
        let mut args: Vec<&str> = args.split_whitespace().collect();
        assert!(args.contains(&"listen"), "{listen}");
        let at = args
            .iter()
            .position(|a| *a == "--port")
            .unwrap_or_else(|| panic!("no --port in {listen}"));
        let readme_port: u16 = args[at + 1].parse().unwrap();
        args[at + 1] = "0";
        let script = format!("{export}\nexec \"$INBOXCTL\" {}", args.join(" "));
        let mut child = Command::new("sh")
            .arg("-ec")
            .arg(&script)
            .current_dir(REPOSITORY)
            .env("INBOXCTL", env!("CARGO_BIN_EXE_inboxctl"))
            // The secret is the README's export's, never one the test runner happens to have.
            .env_remove("DEMO_NOTIFY_SECRET")
            .env_remove("INBOX_CONFIG")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let mut listening = Listening {
            child,
            port: 0,
            stdout,
            stderr,
        };
        // The banner, or why there is none (stderr up to its exit).
        let (mut said, deadline) = (Vec::new(), Instant::now() + Duration::from_secs(20));
        let banner = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match listening.stderr.recv_timeout(left) {
                Ok(line) if line.contains("listening on http://127.0.0.1:") => break line,
                Ok(line) => said.push(line),
                Err(_) => panic!("{script}\ndid not start listening: {}", said.join("\n")),
            }
        };
        listening.port = banner
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {banner:?}"));
        (listening, readme_port)
    }

    /// What it said on stderr so far (refusals: a signature that does not verify).
    fn errors(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start() {
    // The application's endpoint first, as the README has it started in another shell.
    let (listening, readme_port) = Listening::start(&readme_block(" listen "));
    // The processor notifies as `make run`'s does: config/dev.toml's [notify], signed with the
    // secret scripts/run-local.sh puts in the variable that [notify] names; only the port is
    // listen's free one.
    let mut notify = dev_notify();
    let dev_url =
        url::Url::parse(notify.endpoint().expect("config/dev.toml has [notify] url")).unwrap();
    assert_eq!(
        Some(readme_port),
        dev_url.port(),
        "the README's listen port is not config/dev.toml's [notify] url ({dev_url})"
    );
    let script_env: HashMap<String, String> = notify
        .secrets
        .iter()
        .map(|var| (var.clone(), run_local_default(var)))
        .collect();
    let secrets = notify.resolve_secrets(&script_env).unwrap();
    let mut url = dev_url;
    url.set_port(Some(listening.port)).unwrap();
    notify.url = Some(url.to_string());
    let s = start(Some((notify, secrets))).await;

    let key_file = std::fs::read_to_string(Path::new(REPOSITORY).join("scripts/run-local.sh"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("KEY_FILE=").map(str::to_owned))
        .expect("scripts/run-local.sh names its KEY_FILE");
    // What `make run` signs the provider's webhooks with.
    assert_eq!(run_local_default("DEMO_WEBHOOK_SECRET"), SECRET);
    let (mut answers, mut processed) = (Vec::new(), 0);
    for command in readme_block("curl") {
        if let Some(exports) = command.strip_prefix("export ") {
            // The test's own addresses and key stand in; what the line reads must be what
            // `make run` writes and signs with.
            assert!(exports.starts_with("API="), "{command}");
            assert!(
                exports.contains(&format!("KEY=$(cat {key_file})")),
                "{command}"
            );
            assert!(
                exports.contains(&format!("DEMO_WEBHOOK_SECRET={SECRET}")),
                "{command}"
            );
        } else if let Some(args) = command.strip_prefix(README_INBOXCTL) {
            let mut args: Vec<&str> = args.split_whitespace().collect();
            assert_eq!(args[0], "send", "{command}");
            args.extend(["--url", &s.url]);
            let sent = s.inboxctl(&args).await.ok().stdout;
            assert!(sent.starts_with("202 "), "{command}: {sent}");
        } else {
            assert!(
                command.starts_with("curl "),
                "the test does not know how to run this line of the README's quick start: {command}"
            );
            // What the processor would have done by the time a person types the next command.
            processed += s.processor.run_until_idle().await.unwrap();
            let answer: serde_json::Value = serde_json::from_str(&s.sh(&command).await).unwrap();
            answers.push(answer);
        }
    }
    assert_eq!(processed, 2);
    let [created, read] = &answers[..] else {
        panic!("expected two API calls (create, read), got {answers:?}");
    };
    assert_eq!(created["request_ref"], "REQ-1", "{created}");
    assert_eq!(created["status"], "INITIATED", "{created}");
    assert_eq!(created["amount"], "5000.00", "{created}");
    assert_eq!(read["status"], "SUCCESS", "{read}");
    assert_eq!(read["provider_ref"], "DEMO-TX-1", "{read}");
    let outcomes: Vec<&str> = read["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["applied", "skipped_terminal"]);

    // inboxctl, as operators read it, says the same.
    let shown = s
        .inboxctl(&["--json", "collections", "show", "REQ-1"])
        .await
        .ok()
        .json();
    assert_eq!(shown["collection"]["status"], "SUCCESS");
    assert_eq!(shown["decisions"].as_array().unwrap().len(), 2);

    // The processor, running as `make run`'s does, delivers the change's notification to
    // `listen`, which prints it only if its signature verifies with the README's secret.
    let cancel = CancellationToken::new();
    let running = tokio::spawn({
        let (processor, cancel) = (s.processor.clone(), cancel.clone());
        async move { processor.run(cancel).await }
    });
    let printed = tokio::task::block_in_place(|| {
        try_next_line(&listening.stdout, "", Duration::from_secs(20))
    })
    .unwrap_or_else(|| {
        panic!(
            "listen printed no notification; it said: {}",
            listening.errors()
        )
    });
    let notifications = s
        .inboxctl(&["--json", "notifications", "list"])
        .await
        .ok()
        .json();
    let [told] = notifications.as_array().unwrap().as_slice() else {
        panic!("one notification (the success; the late PENDING changes nothing): {notifications}");
    };
    let fields: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(fields.get(2).copied(), told["id"].as_str(), "{printed}");
    assert_eq!(
        &fields[3..],
        [
            "collection.succeeded",
            "request_ref=REQ-1",
            "status=SUCCESS",
            "version=2"
        ],
        "{printed}"
    );
    // The README shows the same line (its time and webhook-id are examples).
    let section = readme_quick_start_section();
    let shown = section
        .lines()
        .find(|l| l.contains("  collection.succeeded  "))
        .expect("the quick start shows what listen prints");
    assert_eq!(
        shown.split_whitespace().skip(3).collect::<Vec<_>>(),
        &fields[3..],
        "the README's listen line differs from what listen printed: {printed}"
    );
    cancel.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_replayed_after_its_collection_exists_is_processed() {
    let s = start(None).await;
    // No collection REQ-1 yet: the event fails (max_attempts = 1 in this configuration).
    let answer = s.send("payment-success.json").await.ok().stdout;
    let body: serde_json::Value = serde_json::from_str(answer.trim_start_matches("202 ")).unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    s.processor.run_until_idle().await.unwrap();
    let failed = s
        .inboxctl(&["--json", "events", "show", &id])
        .await
        .ok()
        .json();
    assert_eq!(failed["status"], "FAILED", "{failed}");

    s.inboxctl(&["collections", "create", "--request-ref", "REQ-1"])
        .await
        .ok();
    s.inboxctl(&[
        "events",
        "replay",
        &id,
        "--reason",
        "collection created late",
    ])
    .await
    .ok();
    s.processor.run_until_idle().await.unwrap();
    let processed = s
        .inboxctl(&["--json", "events", "show", &id])
        .await
        .ok()
        .json();
    assert_eq!(processed["status"], "PROCESSED", "{processed}");
    let shown = s
        .inboxctl(&["--json", "collections", "show", "REQ-1"])
        .await
        .ok()
        .json();
    assert_eq!(shown["collection"]["status"], "SUCCESS");
    assert_eq!(shown["decisions"][0]["webhook_event_id"], id.as_str());
}
