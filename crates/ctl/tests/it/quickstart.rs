//! The README's quick start, command for command, on SQLite: both services running, the operator
//! creating a collection and sending a SUCCESS then a late PENDING with `inboxctl`. Also replaying
//! a FAILED event once its collection exists. The processor is drained with `run_until_idle`, so
//! nothing here waits on a clock.

use std::collections::HashMap;

use crate::helpers::Ctl;

const SECRET: &str = "demo-secret-change-me";

struct Services {
    ctl: Ctl,
    processor: processor::Processor,
    url: String,
}

async fn start() -> Services {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("inbox.db").display());
    // As config/dev.toml, on free ports, and failing an event at its first transient failure.
    let ctl = Ctl::with(
        dir,
        database,
        None,
        "[processor]\nmetrics_addr = \"127.0.0.1:0\"\nmax_attempts = 1\n",
    );
    let env: HashMap<String, String> = [
        ("DEMO_SECRET", SECRET),
        ("INBOX__DATABASE__URL", ctl.database_url.as_str()),
        ("INBOX__RECEIVER__BIND", "127.0.0.1:0"),
        ("INBOX__RECEIVER__METRICS_ADDR", "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let loaded = inbox_config::load_from(Some(&ctl.config), &env).unwrap();
    let app = receiver::Application::build(loaded.clone()).await.unwrap();
    let url = format!("http://127.0.0.1:{}/webhooks/demo", app.port());
    tokio::spawn(app.run_until_stopped());
    let (processor, _metrics) = processor::Processor::build(loaded.settings).await.unwrap();
    Services {
        ctl,
        processor,
        url,
    }
}

impl Services {
    async fn inboxctl(&self, args: &[&str]) -> crate::helpers::Run {
        let (config, db) = (self.ctl.config.clone(), self.ctl.database_url.clone());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_inboxctl"))
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
        let file = format!("{}/../../examples/{example}", env!("CARGO_MANIFEST_DIR"));
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start() {
    let s = start().await;
    s.inboxctl(&[
        "collections",
        "create",
        "--request-ref",
        "REQ-1",
        "--amount",
        "5000",
        "--currency",
        "NGN",
    ])
    .await
    .ok();
    assert!(s
        .send("payment-success.json")
        .await
        .ok()
        .stdout
        .starts_with("202 "));
    assert!(s
        .send("payment-pending.json")
        .await
        .ok()
        .stdout
        .starts_with("202 "));
    assert_eq!(s.processor.run_until_idle().await.unwrap(), 2);

    let shown = s
        .inboxctl(&["--json", "collections", "show", "REQ-1"])
        .await
        .ok()
        .json();
    assert_eq!(shown["collection"]["status"], "SUCCESS");
    let outcomes: Vec<&str> = shown["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["applied", "skipped_terminal"]);
    assert_eq!(shown["collection"]["provider_ref"], "DEMO-TX-1");
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
