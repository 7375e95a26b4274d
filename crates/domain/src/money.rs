//! Money: an exact decimal amount in major units of an ISO 4217 currency, the unit of a
//! collection's `amount`. Providers send minor units (kobo, cents: Paystack, Stripe) or major
//! units (Flutterwave v3); conversion shifts the decimal point by the currency's exponent, taken
//! from the ISO 4217 table of the `iso_currency` crate, never through a float, and never rounds:
//! 1025000 kobo is 10250.00 NGN, and 1025000.5 kobo is 10250.005 NGN, which equals no amount a
//! collection can hold.

use std::fmt;

use iso_currency::Currency;
use rust_decimal::Decimal;

/// How a provider writes amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// In the currency's minor unit (`5000` = 50.00 USD; `5000` = 5000 JPY, whose exponent is 0).
    Minor,
    /// In minor units, except for the listed currencies, whose minor unit the provider counts
    /// with its own exponent (Stripe: ISK and UGX in hundredths, though ISO 4217 gives them none).
    MinorExcept(&'static [(&'static str, u16)]),
    /// In major units, as a collection holds them (`50.00`).
    Major,
}

/// An amount of one currency. Equal when the values are equal (`50.0` = `50.00`) in the same
/// currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0:?} is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    #[error("{0} has no minor unit (ISO 4217 gives it no exponent)")]
    NoMinorUnit(String),
    #[error("{0:?} is not a decimal amount")]
    NotDecimal(String),
    #[error("{0:?} is negative")]
    Negative(String),
    #[error("{amount:?} has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        amount: String,
        currency: String,
        exponent: u16,
    },
}

impl Money {
    /// A collection's amount: decimal text in major units, with no more decimal places than the
    /// currency has. The currency code's case is ignored.
    pub fn parse_major(amount: &str, currency: &str) -> Result<Money, MoneyError> {
        let currency = currency_of(currency)?;
        let exponent = exponent_of(currency)?;
        let value = decimal(amount)?;
        if value.normalize().scale() > u32::from(exponent) {
            return Err(MoneyError::TooPrecise {
                amount: amount.to_owned(),
                currency: currency.code().to_owned(),
                exponent,
            });
        }
        Ok(Money {
            amount: value,
            currency,
        })
    }

    /// An amount as a provider sent it (text of a JSON number or string) in `unit`. Exact: a
    /// minor amount that is not a whole number of minor units keeps its fraction and so equals
    /// no collection's amount.
    pub fn from_provider(amount: &str, currency: &str, unit: Unit) -> Result<Money, MoneyError> {
        let currency = currency_of(currency)?;
        let mut value = decimal(amount)?;
        let exponent = match unit {
            Unit::Major => None,
            Unit::Minor => Some(exponent_of(currency)?),
            Unit::MinorExcept(exceptions) => {
                match exceptions.iter().find(|(code, _)| *code == currency.code()) {
                    Some((_, exponent)) => Some(*exponent),
                    None => Some(exponent_of(currency)?),
                }
            }
        };
        if let Some(exponent) = exponent {
            // Dividing by 10^exponent is moving the point: exact, or an error, never rounded.
            let scale = value.scale() + u32::from(exponent);
            value
                .set_scale(scale)
                .map_err(|_| MoneyError::NotDecimal(amount.to_owned()))?;
        }
        Ok(Money {
            amount: value,
            currency,
        })
    }

    pub fn currency(&self) -> &'static str {
        self.currency.code()
    }

    /// The amount in major units with the currency's decimal places (`5000.00`), or every
    /// decimal place it has when it has more (`50.005`). An amount too large for a `Decimal` to
    /// hold with its places (over 28 digits with them) is written without them, so that the text
    /// still reads back as the same money (the `amount` fuzz target checks both).
    pub fn major(&self) -> String {
        let exponent = self.currency.exponent().map_or(0, u32::from);
        let normal = self.amount.normalize();
        if normal.scale() <= exponent {
            let mut padded = normal;
            padded.rescale(exponent);
            if padded == normal && padded.scale() == exponent {
                return padded.to_string();
            }
        }
        normal.to_string()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.major(), self.currency())
    }
}

fn currency_of(code: &str) -> Result<Currency, MoneyError> {
    Currency::from_code(&code.trim().to_ascii_uppercase())
        .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
}

fn exponent_of(currency: Currency) -> Result<u16, MoneyError> {
    currency
        .exponent()
        .ok_or_else(|| MoneyError::NoMinorUnit(currency.code().to_owned()))
}

/// Plain decimal text (`10250.00`, `1025000`) or scientific notation (`1.025e6`, which JSON
/// numbers may use), exactly; never negative.
fn decimal(text: &str) -> Result<Decimal, MoneyError> {
    let text = text.trim();
    let is_decimal = crate::extract::is_decimal;
    let value = match text.split_once(['e', 'E']) {
        // `Decimal::from_scientific` reads its mantissa with the lenient `Decimal::from_str`,
        // which takes `2510.e6` and `1_000e0` and rounds digits past its precision away
        // (`10250.0000000000000000000000001e2` became 1025000): the fuzz target `amount` found
        // it (fixtures/fuzz-regressions/amount). Only JSON's number grammar gets there, with a
        // mantissa `from_str_exact` reads as it is.
        Some((mantissa, exponent))
            if is_decimal(mantissa)
                && is_exponent(exponent)
                && Decimal::from_str_exact(mantissa).is_ok() =>
        {
            Decimal::from_scientific(text)
        }
        None if is_decimal(text) => Decimal::from_str_exact(text),
        _ => return Err(MoneyError::NotDecimal(text.to_owned())),
    }
    .map_err(|_| MoneyError::NotDecimal(text.to_owned()))?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(MoneyError::Negative(text.to_owned()));
    }
    Ok(value)
}

/// The exponent of a JSON number: an optional sign, then digits.
fn is_exponent(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
