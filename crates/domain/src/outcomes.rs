//! Each preset's outcome table: what an event of a given type (and, where the provider puts the
//! outcome in the payload, its status) means for the merchant's payment. A provider's failed
//! *attempt* is not the end of the payment: the customer may pay again under the same
//! reference, so it moves nothing past PENDING and a later success still applies. Event types
//! that do not concern a payment (customers, invoices, payouts, refunds, disputes, …) are
//! ignored. The tables, with their sources in the providers' own documentation: docs/providers.md.

use serde_json::Value;

use crate::status::CollectionStatus;

/// What one event means for its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    /// The payment is at this status.
    Status(CollectionStatus),
    /// An attempt failed and another may follow: at most PENDING.
    FailedAttempt,
    /// The event type does not concern a payment collection.
    Ignored(String),
    /// No row of a table applies (a preset without one, a body without a type): the payload's
    /// status word decides, through the normaliser.
    StatusWord,
}

/// The presets that have a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeTable {
    Paystack,
    Flutterwave,
    Stripe,
}

impl OutcomeTable {
    pub fn meaning(self, payload: &Value) -> Meaning {
        match self {
            OutcomeTable::Paystack => paystack(payload),
            OutcomeTable::Flutterwave => flutterwave(payload),
            OutcomeTable::Stripe => stripe(payload),
        }
    }
}

/// Paystack sends a webhook for successful charges only (`charge.success`); a rejected bank
/// transfer is one attempt; everything else (transfers, refunds, disputes, subscriptions,
/// invoices, payment requests, customer identification) concerns no collection.
fn paystack(payload: &Value) -> Meaning {
    match text(payload, &["event"]) {
        None | Some("charge.success") => Meaning::StatusWord,
        Some("bank.transfer.rejected") => Meaning::FailedAttempt,
        Some(other) => Meaning::Ignored(other.to_owned()),
    }
}

/// Flutterwave sends `charge.completed` for every attempt, with its outcome in `data.status`:
/// `failed` is one attempt (the customer may retry under the same `tx_ref`). Older accounts send
/// a flat body whose `event.type` names the kind of charge (`CARD_TRANSACTION`, …).
fn flutterwave(payload: &Value) -> Meaning {
    let legacy = payload.get("event.type").and_then(Value::as_str);
    let kind = text(payload, &["event"]).or_else(|| text(payload, &["type"]));
    let is_charge = match (kind, legacy) {
        (Some("charge.completed"), _) => true,
        (None, Some(legacy)) => legacy.ends_with("_TRANSACTION"),
        (None, None) => return Meaning::StatusWord,
        (Some(other), _) => return Meaning::Ignored(other.to_owned()),
    };
    if !is_charge {
        return Meaning::Ignored(legacy.unwrap_or_default().to_owned());
    }
    let word = text(payload, &["data", "status"]).or_else(|| text(payload, &["status"]));
    match word.map(CollectionStatus::normalise) {
        Some(Ok(CollectionStatus::Failed)) => Meaning::FailedAttempt,
        _ => Meaning::StatusWord,
    }
}

/// Stripe: the event type says what happened; the object's status is not read (an invoice's
/// `paid` must not pay a collection).
fn stripe(payload: &Value) -> Meaning {
    use CollectionStatus::*;
    let Some(kind) = text(payload, &["type"]) else {
        return Meaning::StatusWord;
    };
    let status = match kind {
        "payment_intent.created" => Initiated,
        "payment_intent.requires_action" => Pending,
        "payment_intent.processing" | "payment_intent.amount_capturable_updated" => Processing,
        "payment_intent.succeeded" | "charge.succeeded" => Success,
        "payment_intent.payment_failed" | "charge.failed" => return Meaning::FailedAttempt,
        "payment_intent.canceled" => Failed,
        "charge.pending" => Processing,
        // `unpaid`: an asynchronous method (a bank debit) is still settling.
        "checkout.session.completed" => {
            match text(payload, &["data", "object", "payment_status"]) {
                Some("paid" | "no_payment_required") => Success,
                _ => Processing,
            }
        }
        "checkout.session.async_payment_succeeded" => Success,
        // The session cannot be paid again: the customer needs a new one.
        "checkout.session.async_payment_failed" | "checkout.session.expired" => Failed,
        other => return Meaning::Ignored(other.to_owned()),
    };
    Meaning::Status(status)
}

fn text<'v>(payload: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(payload, |value, key| value.get(key))?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
