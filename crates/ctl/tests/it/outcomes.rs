//! Each preset's outcome table and the amount rule, end to end on both backends: the providers'
//! documented example payloads (crates/domain/fixtures) signed and posted by `inboxctl send`,
//! recorded by the real receiver, decided by the real processor, read back with `inboxctl`.

use std::collections::HashMap;

use serde_json::Value;

use crate::helpers::{Ctl, Run};

const PROVIDERS: &str = "[providers.paystack]\npreset = \"paystack\"\nsecrets = [\"PSK_SECRET\"]\n\
     [providers.stripe]\npreset = \"stripe\"\nsecrets = [\"STRIPE_SECRET\"]\n\
     [providers.flutterwave]\npreset = \"flutterwave\"\nsecrets = [\"FLW_SECRET\"]\n\
     [processor]\nmetrics_addr = \"127.0.0.1:0\"\nmax_attempts = 1\n";
const SECRETS: [(&str, &str); 3] = [
    ("PSK_SECRET", "sk_test_outcomes"),
    ("STRIPE_SECRET", "whsec_outcomes"),
    ("FLW_SECRET", "flw-secret-hash"),
];

struct Stack {
    ctl: Ctl,
    processor: processor::Processor,
    port: u16,
}

async fn start(ctl: Ctl) -> Stack {
    let mut env: HashMap<String, String> = SECRETS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("INBOX__DATABASE__URL".into(), ctl.database_url.clone());
    env.insert("INBOX__RECEIVER__BIND".into(), "127.0.0.1:0".into());
    env.insert("INBOX__RECEIVER__METRICS_ADDR".into(), "127.0.0.1:0".into());
    env.insert("DEMO_SECRET".into(), "demo".into());
    let loaded = inbox_config::load_from(Some(&ctl.config), &env).unwrap();
    ctl.run(&["migrate"]).ok();
    let app = receiver::Application::build(loaded.clone()).await.unwrap();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let (processor, _) = processor::Processor::build(loaded.settings).await.unwrap();
    Stack {
        ctl,
        processor,
        port,
    }
}

fn fixture(path: &str) -> Value {
    let file = format!("{}/../domain/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

impl Stack {
    /// `inboxctl` with the providers' secrets (on this test's runtime thread, which may block).
    async fn ctl(&self, args: &[&str]) -> Run {
        tokio::task::block_in_place(|| self.ctl.run_with_env(args, &SECRETS))
    }

    async fn create(&self, reference: &str, amount: &str, currency: &str) {
        self.ctl(&[
            "collections",
            "create",
            "--request-ref",
            reference,
            "--amount",
            amount,
            "--currency",
            currency,
        ])
        .await
        .ok();
    }

    /// Signs and posts `body` as `provider` would; 202 expected.
    async fn send(&self, provider: &str, body: &Value) {
        let file = self
            .ctl
            .dir
            .path()
            .join(format!("{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&file, serde_json::to_vec_pretty(body).unwrap()).unwrap();
        let url = format!("http://127.0.0.1:{}/webhooks/{provider}", self.port);
        let sent = self
            .ctl(&[
                "send",
                "--provider",
                provider,
                "--file",
                file.to_str().unwrap(),
                "--url",
                &url,
            ])
            .await
            .ok();
        assert!(sent.stdout.starts_with("202 "), "{}", sent.stdout);
    }

    /// The collection's status and its decisions' outcomes, oldest first.
    async fn outcome(&self, reference: &str) -> (String, Vec<String>) {
        let shown = self
            .ctl(&["--json", "collections", "show", reference])
            .await
            .ok()
            .json();
        let outcomes = shown["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["outcome"].as_str().unwrap().to_owned())
            .collect();
        (
            shown["collection"]["status"].as_str().unwrap().to_owned(),
            outcomes,
        )
    }
}

fn with_reference(mut body: Value, pointer: &str, reference: &str) -> Value {
    *body.pointer_mut(pointer).unwrap() = Value::String(reference.to_owned());
    body
}

fn outcome(status: &str, outcomes: &[&str]) -> (String, Vec<String>) {
    (
        status.to_owned(),
        outcomes.iter().map(|o| o.to_string()).collect(),
    )
}

async fn every_preset(ctl: Ctl) {
    let s = start(ctl).await;
    // Paystack: 1025000 kobo is 10250.00 NGN; one kobo more or another currency is a mismatch.
    let charge = fixture("paystack/charge.success.json");
    s.create("REQ-PSK-1", "10250.00", "NGN").await;
    s.create("REQ-PSK-2", "10250.01", "NGN").await;
    s.create("REQ-PSK-3", "10250.00", "GHS").await;
    s.send("paystack", &charge).await;
    for (reference, transaction) in [("REQ-PSK-2", 900_000_002_u64), ("REQ-PSK-3", 900_000_003)] {
        let mut other = with_reference(charge.clone(), "/data/reference", reference);
        // Another transaction, so another event.
        *other.pointer_mut("/data/id").unwrap() = Value::from(transaction);
        s.send("paystack", &other).await;
    }
    s.send("paystack", &fixture("paystack/transfer.success.json"))
        .await;

    // Stripe: a failed attempt then success; a settling checkout then its failure or success;
    // zero- and three-decimal currencies; a currency differing only in case; an event type
    // that concerns no payment.
    s.create("REQ-STRIPE-1", "50.00", "usd").await;
    s.create("REQ-STRIPE-2", "50.00", "USD").await;
    s.create("REQ-STRIPE-3", "50.00", "USD").await;
    s.create("REQ-STRIPE-JPY", "5000", "JPY").await;
    s.create("REQ-STRIPE-KWD", "5.120", "KWD").await;
    for file in [
        "stripe/pi_retry.1.payment_intent.payment_failed.json",
        "stripe/pi_retry.2.payment_intent.succeeded.json",
        "stripe/checkout_async_failed.1.checkout.session.completed.json",
        "stripe/checkout_async_failed.2.checkout.session.async_payment_failed.json",
        "stripe/checkout_async_succeeded.1.checkout.session.completed.json",
        "stripe/checkout_async_succeeded.2.checkout.session.async_payment_succeeded.json",
        "stripe/payment_intent.succeeded.jpy.json",
        "stripe/payment_intent.succeeded.kwd.json",
        "stripe/customer.created.json",
    ] {
        s.send("stripe", &fixture(file)).await;
    }

    // Flutterwave: a failed attempt, then the successful one, same tx_ref.
    s.create("Links-616626414629", "100", "NGN").await;
    s.send(
        "flutterwave",
        &fixture("flutterwave/charge_retry.1.charge.completed.failed.json"),
    )
    .await;
    s.send(
        "flutterwave",
        &fixture("flutterwave/charge_retry.2.charge.completed.successful.json"),
    )
    .await;

    // An amount beyond a float's precision is read as sent, on either backend: a float round
    // trip would make it 100 and apply it.
    s.create("FLW-EXACT", "100", "NGN").await;
    let mut exact = fixture("flutterwave/charge_retry.2.charge.completed.successful.json");
    *exact.pointer_mut("/data/tx_ref").unwrap() = Value::String("FLW-EXACT".into());
    *exact.pointer_mut("/data/id").unwrap() = Value::from(900_000_100_u64);
    *exact.pointer_mut("/data/amount").unwrap() =
        serde_json::from_str("100.000000000000000001").unwrap();
    s.send("flutterwave", &exact).await;

    s.processor.run_until_idle().await.unwrap();

    assert_eq!(
        s.outcome("REQ-PSK-1").await,
        outcome("SUCCESS", &["applied"])
    );
    assert_eq!(
        s.outcome("REQ-PSK-2").await,
        outcome("INITIATED", &["amount_mismatch"])
    );
    assert_eq!(
        s.outcome("REQ-PSK-3").await,
        outcome("INITIATED", &["amount_mismatch"])
    );
    assert_eq!(
        s.outcome("REQ-STRIPE-1").await,
        outcome("SUCCESS", &["applied", "applied"])
    );
    assert_eq!(
        s.outcome("REQ-STRIPE-2").await,
        outcome("FAILED", &["applied", "applied"])
    );
    assert_eq!(
        s.outcome("REQ-STRIPE-3").await,
        outcome("SUCCESS", &["applied", "applied"])
    );
    assert_eq!(
        s.outcome("REQ-STRIPE-JPY").await,
        outcome("SUCCESS", &["applied"])
    );
    assert_eq!(
        s.outcome("REQ-STRIPE-KWD").await,
        outcome("SUCCESS", &["applied"])
    );
    assert_eq!(
        s.outcome("Links-616626414629").await,
        outcome("SUCCESS", &["applied", "applied"])
    );

    // The mismatch's event FAILED with both figures; the ignored ones PROCESSED, saying why.
    let events = s
        .ctl(&["--json", "events", "list", "--limit", "100"])
        .await
        .ok()
        .json();
    let events = events.as_array().unwrap();
    let error_of = |status: &str, needle: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["status"] == status)
            .filter_map(|e| e["last_error"].as_str())
            .filter(|e| e.contains(needle))
            .map(str::to_owned)
            .collect()
    };
    let mut mismatches = error_of("FAILED", "expected");
    mismatches.sort();
    assert_eq!(
        mismatches,
        [
            "expected 100.00 NGN, got 100.000000000000000001 NGN",
            "expected 10250.00 GHS, got 10250.00 NGN",
            "expected 10250.01 NGN, got 10250.00 NGN",
        ]
    );
    let mut ignored = error_of("PROCESSED", "ignored");
    ignored.sort();
    assert_eq!(
        ignored,
        [
            "ignored: event type customer.created does not concern a payment",
            "ignored: event type transfer.success does not concern a payment",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_preset_on_sqlite() {
    every_preset(Ctl::sqlite_with(PROVIDERS)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_preset_on_postgres() {
    if let Some(ctl) = Ctl::postgres_with("outcomes::every_preset_on_postgres", PROVIDERS) {
        every_preset(ctl).await;
    }
}
