//! The outcome tables against the providers' documented example payloads
//! (`crates/domain/fixtures`, sources in its README).

use serde_json::Value;
use uuid::Uuid;

use crate::amount_check::Amount;
use crate::money::Money;
use crate::provider::Preset;
use crate::reading::{read_request, Read};
use crate::status::CollectionStatus::{self, *};

fn fixture(name: &str) -> Value {
    let text = match name {
        "paystack/charge.success" => include_str!("../../fixtures/paystack/charge.success.json"),
        "paystack/transfer.success" => include_str!("../../fixtures/paystack/transfer.success.json"),
        "flutterwave/failed" => include_str!("../../fixtures/flutterwave/charge_retry.1.charge.completed.failed.json"),
        "flutterwave/successful" => include_str!("../../fixtures/flutterwave/charge_retry.2.charge.completed.successful.json"),
        "flutterwave/pending" => include_str!("../../fixtures/flutterwave/charge.completed.pending.json"),
        "stripe/pi_failed" => include_str!("../../fixtures/stripe/pi_retry.1.payment_intent.payment_failed.json"),
        "stripe/pi_succeeded" => include_str!("../../fixtures/stripe/pi_retry.2.payment_intent.succeeded.json"),
        "stripe/session_unpaid" => include_str!("../../fixtures/stripe/checkout_async_failed.1.checkout.session.completed.json"),
        "stripe/async_failed" => include_str!("../../fixtures/stripe/checkout_async_failed.2.checkout.session.async_payment_failed.json"),
        "stripe/async_succeeded" => include_str!("../../fixtures/stripe/checkout_async_succeeded.2.checkout.session.async_payment_succeeded.json"),
        "stripe/jpy" => include_str!("../../fixtures/stripe/payment_intent.succeeded.jpy.json"),
        "stripe/kwd" => include_str!("../../fixtures/stripe/payment_intent.succeeded.kwd.json"),
        "stripe/customer.created" => include_str!("../../fixtures/stripe/customer.created.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What the fixture asks, as (request_ref, status, amount in major units with its currency).
fn asks(preset: Preset, name: &str) -> Result<(String, CollectionStatus, String), String> {
    match read_request(&preset.payload(), Uuid::nil(), None, &fixture(name)) {
        Ok(Read::Request(request)) => {
            let amount = match request.amount {
                Amount::Known(money) => money.to_string(),
                other => format!("{other:?}"),
            };
            Ok((request.request_ref, request.status, amount))
        }
        Ok(Read::Ignored(kind)) => Err(format!("ignored {kind}")),
        Err(unreadable) => Err(unreadable.to_string()),
    }
}

fn asked(
    reference: &str,
    status: CollectionStatus,
    amount: &str,
) -> Result<(String, CollectionStatus, String), String> {
    Ok((reference.to_owned(), status, amount.to_owned()))
}

#[test]
fn each_documented_payload_means_what_its_provider_says() {
    use Preset::*;
    let table = [
        (
            Paystack,
            "paystack/charge.success",
            asked("REQ-PSK-1", Success, "10250.00 NGN"),
        ),
        (
            Paystack,
            "paystack/transfer.success",
            Err("ignored transfer.success".to_owned()),
        ),
        // Each Flutterwave attempt: a failed one is not the end of the payment.
        (
            Flutterwave,
            "flutterwave/failed",
            asked("Links-616626414629", Pending, "100.00 NGN"),
        ),
        (
            Flutterwave,
            "flutterwave/successful",
            asked("Links-616626414629", Success, "100.00 NGN"),
        ),
        (
            Flutterwave,
            "flutterwave/pending",
            asked("Links-616626414630", Pending, "100.00 NGN"),
        ),
        // A failed PaymentIntent can be paid again; a settling Checkout Session is not paid.
        (
            Stripe,
            "stripe/pi_failed",
            asked("REQ-STRIPE-1", Pending, "50.00 USD"),
        ),
        (
            Stripe,
            "stripe/pi_succeeded",
            asked("REQ-STRIPE-1", Success, "50.00 USD"),
        ),
        (
            Stripe,
            "stripe/session_unpaid",
            asked("REQ-STRIPE-2", Processing, "50.00 USD"),
        ),
        (
            Stripe,
            "stripe/async_failed",
            asked("REQ-STRIPE-2", Failed, "50.00 USD"),
        ),
        (
            Stripe,
            "stripe/async_succeeded",
            asked("REQ-STRIPE-3", Success, "50.00 USD"),
        ),
        // A zero-decimal and a three-decimal currency: the amount is in each one's own unit.
        (
            Stripe,
            "stripe/jpy",
            asked("REQ-STRIPE-JPY", Success, "5000 JPY"),
        ),
        (
            Stripe,
            "stripe/kwd",
            asked("REQ-STRIPE-KWD", Success, "5.120 KWD"),
        ),
        (
            Stripe,
            "stripe/customer.created",
            Err("ignored customer.created".to_owned()),
        ),
    ];
    for (preset, name, expected) in table {
        assert_eq!(asks(preset, name), expected, "{name}");
    }
    assert_eq!(
        Money::parse_major("5.12", "KWD"),
        Money::from_provider("5120", "kwd", crate::money::Unit::Minor)
    );
}

#[test]
fn other_event_types_are_ignored_and_bodies_without_a_type_use_the_status_word() {
    let stripe = |kind: &str| {
        serde_json::json!({"id": "evt_1", "type": kind, "data": {"object": {"status": "paid",
            "metadata": {"request_ref": "R"}}}})
    };
    // An invoice's `paid` must not pay a collection.
    for kind in [
        "invoice.paid",
        "charge.refunded",
        "payout.paid",
        "customer.subscription.created",
    ] {
        let read = read_request(&Preset::Stripe.payload(), Uuid::nil(), None, &stripe(kind));
        assert_eq!(read, Ok(Read::Ignored(kind.to_owned())));
    }
    let untyped = serde_json::json!({"data": {"reference": "R", "status": "success"}});
    let read = read_request(&Preset::Paystack.payload(), Uuid::nil(), None, &untyped);
    assert!(
        matches!(read, Ok(Read::Request(ref r)) if r.status == Success),
        "{read:?}"
    );
    let legacy = serde_json::json!({"event.type": "CARD_TRANSACTION", "txRef": "R",
        "status": "failed", "amount": 5, "currency": "NGN"});
    let read = read_request(&Preset::Flutterwave.payload(), Uuid::nil(), None, &legacy);
    assert!(
        matches!(read, Ok(Read::Request(ref r)) if r.status == Pending),
        "{read:?}"
    );
}
