//! The README's quick start, run from the README itself on SQLite: the receiver, the processor
//! and the host API running; the application's part through the API with `curl`, the provider's
//! with `inboxctl send`, each command as the README's block writes it (only the addresses, the
//! configuration file and the key are the test's own). Also replaying a FAILED event once its
//! collection exists. The processor is drained with `run_until_idle`, so nothing here waits on a
//! clock.

use std::collections::HashMap;
use std::path::Path;

use crate::helpers::Ctl;

const SECRET: &str = "demo-secret-change-me";
/// The material of the test's `demo` API key (every scope, as config/dev.toml's).
const API_KEY: &str = "quickstart-demo-key-0123456789abcdef";
const REPOSITORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// How the README calls inboxctl: `make run`'s binary and configuration.
const README_INBOXCTL: &str = "target/debug/inboxctl --config config/dev.toml ";

struct Services {
    ctl: Ctl,
    processor: processor::Processor,
    url: String,
    /// The API's base URL, the README's `$API`.
    api: String,
}

async fn start() -> Services {
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
    let (processor, _metrics) = processor::Processor::build(loaded.settings).await.unwrap();
    Services {
        ctl,
        processor,
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

/// The commands of the quick start's block that calls the API, continuation lines joined.
fn readme_quick_start() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(REPOSITORY).join("README.md")).unwrap();
    let start = readme
        .find("## Quick start\n")
        .expect("README has a Quick start");
    let section = &readme[start..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let block = section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .find(|block| block.contains("curl"))
        .expect("the quick start has a ```sh block calling the API with curl");
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start() {
    let s = start().await;
    let key_file = std::fs::read_to_string(Path::new(REPOSITORY).join("scripts/run-local.sh"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("KEY_FILE=").map(str::to_owned))
        .expect("scripts/run-local.sh names its KEY_FILE");
    let (mut answers, mut processed) = (Vec::new(), 0);
    for command in readme_quick_start() {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_replayed_after_its_collection_exists_is_processed() {
    let s = start().await;
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
