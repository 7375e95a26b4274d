//! Collections by hand: create, show, history, set-status with and without --override.

use crate::helpers::Ctl;

#[test]
fn a_collection_through_its_life() {
    let ctl = Ctl::sqlite();
    ctl.run(&["migrate"]).ok();
    let created = ctl
        .run(&[
            "--json",
            "collections",
            "create",
            "--request-ref",
            "REQ-1",
            "--amount",
            "5000",
            "--currency",
            "ngn",
            "--provider",
            "paystack",
        ])
        .ok()
        .json();
    assert_eq!(created["status"], "INITIATED");
    assert_eq!(created["currency"], "NGN");
    // Major units, with the currency's decimal places.
    assert_eq!(created["amount"], "5000.00");

    ctl.run(&["collections", "set-status", "REQ-1", "SUCCESS"])
        .ok();
    let refused = ctl.run(&["collections", "set-status", "REQ-1", "PENDING"]);
    assert_eq!(refused.code, 1, "the rule refuses: {}", refused.stderr);
    assert!(refused.stderr.contains("--override"), "{}", refused.stderr);
    let no_reason = ctl.run(&["collections", "set-status", "REQ-1", "FAILED", "--override"]);
    assert_eq!(no_reason.code, 2);
    ctl.run(&[
        "collections",
        "set-status",
        "REQ-1",
        "FAILED",
        "--override",
        "--reason",
        "chargeback",
    ])
    .ok();

    let shown = ctl
        .run(&["--json", "collections", "show", "REQ-1"])
        .ok()
        .json();
    assert_eq!(shown["collection"]["status"], "FAILED");
    let decisions = shown["decisions"].as_array().unwrap();
    let outcomes: Vec<_> = decisions
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["applied", "skipped_terminal", "override"]);
    assert_eq!(decisions[2]["actor"], "operator:alice");
    assert_eq!(decisions[2]["reason"], "chargeback");
    assert!(decisions.iter().all(|d| d["webhook_event_id"].is_null()));

    let history = ctl
        .run(&["--json", "collections", "history", "REQ-1"])
        .ok()
        .json();
    assert_eq!(history.as_array().unwrap().len(), 3);
    let text = ctl.run(&["collections", "show", "REQ-1"]).ok().stdout;
    assert!(
        text.contains("status        FAILED") && text.contains("override"),
        "{text}"
    );
}

#[test]
fn mistakes_are_clear_and_have_their_exit_code() {
    let ctl = Ctl::sqlite();
    ctl.run(&["migrate"]).ok();
    ctl.run(&["collections", "create", "--request-ref", "REQ-1"])
        .ok();
    let dup = ctl.run(&["collections", "create", "--request-ref", "REQ-1"]);
    assert_eq!(dup.code, 1);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    let missing = ctl.run(&["collections", "show", "REQ-none"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no collection"),
        "{}",
        missing.stderr
    );
    for args in [
        &[
            "collections",
            "create",
            "--request-ref",
            "R",
            "--amount",
            "12,5",
        ][..],
        &["collections", "set-status", "REQ-1", "DONE"],
        &[
            "collections",
            "create",
            "--request-ref",
            "R",
            "--metadata",
            "[1]",
        ],
        &["purge", "--older-than", "ten days"],
        &["events", "show", "not-a-uuid"],
    ] {
        let run = ctl.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
    let down = ctl.run_with_env(
        &["stats"],
        &[(
            "INBOX__DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/none",
        )],
    );
    assert_eq!(down.code, 3, "{}", down.stderr);
    assert!(down.stderr.contains("127.0.0.1"), "{}", down.stderr);
    let pending = Ctl::sqlite().run(&["migrate", "--check"]);
    assert_eq!(pending.code, 1, "a fresh database has pending migrations");
}

#[test]
fn amounts_and_currencies_are_checked_at_creation() {
    let ctl = Ctl::sqlite();
    ctl.run(&["migrate"]).ok();
    let create = |amount: &str, currency: &str| {
        ctl.run(&[
            "collections",
            "create",
            "--request-ref",
            "REQ-X",
            "--amount",
            amount,
            "--currency",
            currency,
        ])
    };
    for (amount, currency, message) in [
        ("10.001", "NGN", "more decimal places than NGN allows (2)"),
        ("5.5", "JPY", "more decimal places than JPY allows (0)"),
        ("100", "NAIRA", "\"NAIRA\" is not an ISO 4217 currency code"),
        ("1,000", "NGN", "\"1,000\" is not a decimal amount"),
    ] {
        let refused = create(amount, currency);
        assert_eq!(refused.code, 2, "{amount} {currency}: {}", refused.stderr);
        assert!(refused.stderr.contains(message), "{}", refused.stderr);
    }
    let no_currency = ctl.run(&[
        "collections",
        "create",
        "--request-ref",
        "REQ-X",
        "--amount",
        "5",
    ]);
    assert_eq!(no_currency.code, 2);
    assert!(
        no_currency.stderr.contains("--amount needs --currency"),
        "{}",
        no_currency.stderr
    );
    let created = ctl
        .run(&[
            "--json",
            "collections",
            "create",
            "--request-ref",
            "REQ-Y",
            "--amount",
            "5.120",
            "--currency",
            "kwd",
        ])
        .ok()
        .json();
    assert_eq!(
        (created["amount"].as_str(), created["currency"].as_str()),
        (Some("5.120"), Some("KWD"))
    );
}
