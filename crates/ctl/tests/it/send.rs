//! `inboxctl send` signs as the provider's preset and posts to a running receiver.

use std::collections::HashMap;

use crate::helpers::Ctl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_like_the_provider_and_reports_the_answer() {
    let ctl = Ctl::sqlite();
    // A receiver on the same database and configuration, on a free port.
    let env: HashMap<String, String> = [
        ("DEMO_SECRET", "s3cret-demo"),
        ("INBOX__DATABASE__URL", ctl.database_url.as_str()),
        ("INBOX__RECEIVER__BIND", "127.0.0.1:0"),
        ("INBOX__RECEIVER__METRICS_ADDR", "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let loaded = inbox_config::load_from(Some(&ctl.config), &env).unwrap();
    let app = receiver::Application::build(loaded).await.unwrap();
    let url = format!("http://127.0.0.1:{}/webhooks/demo", app.port());
    tokio::spawn(app.run_until_stopped());

    let payload = ctl.dir.path().join("payload.json");
    std::fs::write(
        &payload,
        r#"{"event_id":"evt_cli","request_ref":"REQ-1","status":"success"}"#,
    )
    .unwrap();
    let file = payload.to_str().unwrap().to_owned();
    let send = |secret: &'static str| {
        let ctl_url = url.clone();
        let file = file.clone();
        let args = [
            "send",
            "--provider",
            "demo",
            "--file",
            file.as_str(),
            "--url",
            ctl_url.as_str(),
        ]
        .map(String::from);
        let config = ctl.config.clone();
        let db = ctl.database_url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_inboxctl"))
                .arg("--config")
                .arg(config)
                .args(args)
                .env("DEMO_SECRET", secret)
                .env("INBOX__DATABASE__URL", db)
                .output()
                .unwrap()
        })
    };
    let first = send("s3cret-demo").await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        String::from_utf8_lossy(&first.stdout).starts_with("202 "),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    let repeat = send("s3cret-demo").await.unwrap();
    assert!(String::from_utf8_lossy(&repeat.stdout).starts_with("200 "));
    let forged = send("wrong-secret").await.unwrap();
    assert_eq!(forged.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&forged.stdout).starts_with("401 "));

    // https:// is really TLS: against the receiver's plain-HTTP port the handshake fails.
    let https = url.replacen("http://", "https://", 1);
    let send_to = |target: &str| {
        let args = [
            "send",
            "--provider",
            "demo",
            "--file",
            &file,
            "--url",
            target,
        ];
        ctl.run_with_env(&args, &[("DEMO_SECRET", "s3cret-demo")])
    };
    let tls = send_to(&https);
    assert_eq!(tls.code, 1, "{}", tls.stderr);
    assert!(tls.stdout.is_empty(), "{}", tls.stdout);
    // rustls's words for a plain-HTTP answer to its ClientHello.
    assert!(
        tls.stderr.contains("cannot post to https://") && tls.stderr.contains("corrupt message"),
        "{}",
        tls.stderr
    );
    let ftp = send_to("ftp://127.0.0.1/x");
    assert_eq!(ftp.code, 2, "{}", ftp.stderr);

    let unknown = ctl.run(&["send", "--provider", "nobody", "--file", &file]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("configured: demo"),
        "{}",
        unknown.stderr
    );
    let no_secret = ctl.run(&["send", "--provider", "demo", "--file", &file]);
    assert_eq!(no_secret.code, 2);
    assert!(
        no_secret.stderr.contains("DEMO_SECRET"),
        "{}",
        no_secret.stderr
    );
}
