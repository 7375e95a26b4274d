//! The amount rule: before an event makes a collection SUCCESS, the amount it reports must equal
//! the collection's, in value and currency. Every provider tells merchants to check this before
//! giving value: an underpaid, overpaid or other-currency payment must not silently succeed.

use serde::Deserialize;

use crate::money::{Money, MoneyError};

/// How strictly a provider's successes are checked (`providers.<name>.amount_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountCheck {
    /// A success must carry an amount, equal to the collection's.
    Strict,
    /// A success that carries an amount must match; one without is accepted.
    WhenPresent,
    /// Amounts are not compared.
    Off,
}

impl AmountCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            AmountCheck::Strict => "strict",
            AmountCheck::WhenPresent => "when_present",
            AmountCheck::Off => "off",
        }
    }
}

/// An amount as an event or a collection holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    Absent,
    Known(Money),
    /// Present, but not money: the text, and why.
    /// `error` is `None` when it has no currency.
    Unreadable {
        text: String,
        error: Option<MoneyError>,
    },
}

impl Amount {
    /// From the amount and currency texts, read with `read` when both are there.
    pub fn read(
        amount: Option<&str>,
        currency: Option<&str>,
        read: impl FnOnce(&str, &str) -> Result<Money, MoneyError>,
    ) -> Amount {
        match (amount, currency) {
            (None, _) => Amount::Absent,
            (Some(text), None) => Amount::Unreadable {
                text: text.to_owned(),
                error: None,
            },
            (Some(text), Some(code)) => match read(text, code) {
                Ok(money) => Amount::Known(money),
                Err(error) => Amount::Unreadable {
                    text: format!("{text} {code}"),
                    error: Some(error),
                },
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            Amount::Absent => "no amount".to_owned(),
            Amount::Known(money) => money.to_string(),
            Amount::Unreadable { text, error: None } => format!("{text} without a currency"),
            Amount::Unreadable {
                text,
                error: Some(error),
            } => format!("{text} ({error})"),
        }
    }
}

/// Why a success for a collection expecting `expected` may not apply with `got`, if it may not.
/// A collection without an amount expects nothing.
pub fn mismatch(expected: &Amount, got: &Amount, check: AmountCheck) -> Option<String> {
    if check == AmountCheck::Off || *expected == Amount::Absent {
        return None;
    }
    let same = match (expected, got) {
        (_, Amount::Absent) => check == AmountCheck::WhenPresent,
        (Amount::Known(want), Amount::Known(have)) => want == have,
        _ => false,
    };
    (!same).then(|| format!("expected {}, got {}", expected.describe(), got.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Unit;

    fn known(amount: &str, currency: &str) -> Amount {
        Amount::Known(Money::parse_major(amount, currency).unwrap_or_else(|e| panic!("{e}")))
    }

    fn sent(amount: &str, currency: &str) -> Amount {
        Amount::read(Some(amount), Some(currency), |a, c| {
            Money::from_provider(a, c, Unit::Minor)
        })
    }

    #[test]
    fn equal_amounts_pass_and_others_say_both() {
        let expected = known("5000.00", "NGN");
        assert_eq!(
            mismatch(&expected, &sent("500000", "ngn"), AmountCheck::Strict),
            None
        );
        assert_eq!(
            mismatch(&expected, &sent("5000", "NGN"), AmountCheck::Strict).as_deref(),
            Some("expected 5000.00 NGN, got 50.00 NGN")
        );
        assert_eq!(
            mismatch(&expected, &sent("500000", "GHS"), AmountCheck::WhenPresent).as_deref(),
            Some("expected 5000.00 NGN, got 5000.00 GHS")
        );
    }

    #[test]
    fn a_missing_amount_fails_only_when_strict() {
        let expected = known("10.00", "USD");
        assert_eq!(
            mismatch(&expected, &Amount::Absent, AmountCheck::Strict).as_deref(),
            Some("expected 10.00 USD, got no amount")
        );
        assert_eq!(
            mismatch(&expected, &Amount::Absent, AmountCheck::WhenPresent),
            None
        );
        assert_eq!(
            mismatch(&Amount::Absent, &sent("1", "USD"), AmountCheck::Strict),
            None
        );
        assert_eq!(
            mismatch(&expected, &sent("1", "USD"), AmountCheck::Off),
            None
        );
    }

    #[test]
    fn unreadable_amounts_never_pass() {
        let expected = known("10.00", "USD");
        let no_currency = Amount::read(Some("1000"), None, |_, _| unreachable!());
        assert_eq!(
            mismatch(&expected, &no_currency, AmountCheck::WhenPresent).as_deref(),
            Some("expected 10.00 USD, got 1000 without a currency")
        );
        assert_eq!(
            mismatch(&expected, &sent("1000", "DOLLARS"), AmountCheck::Strict).as_deref(),
            Some("expected 10.00 USD, got 1000 DOLLARS (\"DOLLARS\" is not an ISO 4217 currency code)")
        );
    }
}
