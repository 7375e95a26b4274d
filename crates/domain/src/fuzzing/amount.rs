//! Target `amount`: amounts as providers and collections write them. Input: a unit byte, a
//! currency byte (one of the interesting codes, or past them the text after the first `\n`), then
//! the amount text.

use super::Choices;
use crate::amount_check::{mismatch, Amount, AmountCheck};
use crate::money::{Money, MoneyError, Unit};

const STRIPE: Unit = Unit::MinorExcept(&[("ISK", 2), ("UGX", 2)]);
/// Exponents 0, 2, 3 and 4, Stripe's exceptions, one without a minor unit, and spellings.
const CODES: [&str; 12] = [
    "NGN", "USD", "JPY", "KWD", "CLF", "ISK", "UGX", "XAU", "ngn", " usd ", "EUR", "BHD",
];

pub fn amount(data: &[u8]) {
    let mut choices = Choices::new(data);
    let unit = [Unit::Major, Unit::Minor, STRIPE][usize::from(choices.byte() % 3)];
    let pick = usize::from(choices.byte() % 16);
    let text = String::from_utf8_lossy(choices.rest());
    let (amount, currency) = match CODES.get(pick) {
        Some(code) => (text.as_ref(), *code),
        None => text
            .split_once('\n')
            .map_or((text.as_ref(), ""), |(c, a)| (a, c)),
    };

    let sent = Money::from_provider(amount, currency, unit);
    if let Ok(money) = &sent {
        well_formed(money, currency);
        exact(money, amount, exponent_of(unit, money.currency()));
        round_trips(money);
    }
    let major = Money::parse_major(amount, currency);
    if let Ok(money) = &major {
        well_formed(money, currency);
        exact(money, amount, Some(0));
        let (whole, fraction) = money.major().split_once('.').map_or_else(
            || (money.major(), String::new()),
            |(w, f)| (w.to_owned(), f.to_owned()),
        );
        let places = exponent_of(Unit::Minor, money.currency()).unwrap_or(0) as usize;
        // The documented exception: no places where a `Decimal` cannot hold them.
        let zeros = "0".repeat(places.saturating_sub(fraction.len()));
        let padded = format!("{whole}{fraction}{zeros}");
        if fits_a_decimal(&padded) {
            assert_eq!(fraction.len(), places, "{money}");
        }
        assert_eq!(Money::from_provider(amount, currency, Unit::Major), major);
    }
    amount_rule(amount, currency, unit, sent);
}

/// The currency as written, trimmed and upper-cased; never a negative amount.
fn well_formed(money: &Money, currency: &str) {
    assert_eq!(money.currency(), currency.trim().to_ascii_uppercase());
    assert!(!money.major().starts_with('-'), "{money}");
    assert_eq!(
        money.to_string(),
        format!("{} {}", money.major(), money.currency())
    );
}

/// How many places `unit` moves the point for `currency`; `None` without a minor unit.
fn exponent_of(unit: Unit, currency: &str) -> Option<u32> {
    let iso = iso_currency::Currency::from_code(currency)?
        .exponent()
        .map(u32::from);
    match unit {
        Unit::Major => Some(0),
        Unit::Minor => iso,
        Unit::MinorExcept(exceptions) => exceptions
            .iter()
            .find(|(code, _)| *code == currency)
            .map_or(iso, |(_, e)| Some(u32::from(*e))),
    }
}

/// What was read is exactly what was written, moved by the unit's exponent: never rounded, and
/// nothing but decimal or scientific text is read at all.
fn exact(money: &Money, text: &str, exponent: Option<u32>) {
    let Some(written) = Written::parse(text) else {
        panic!("{text:?} is neither decimal nor scientific text, yet read as {money}");
    };
    let (Some(exponent), Some(read)) = (exponent, Written::parse(&money.major())) else {
        return;
    };
    if let Some(expected) = written.shifted(i64::from(exponent)) {
        assert_eq!(read.canonical(), Some(expected), "{text:?} read as {money}");
    }
}

/// `major()` reads back as the same money, in major units always, as a collection's amount when
/// it has no more places than the currency.
fn round_trips(money: &Money) {
    let major = money.major();
    let again = Money::from_provider(&major, money.currency(), Unit::Major);
    assert_eq!(again.as_ref(), Ok(money));
    match Money::parse_major(&major, money.currency()) {
        Ok(parsed) => assert_eq!(parsed, *money),
        Err(MoneyError::TooPrecise { .. } | MoneyError::NoMinorUnit(_)) => {}
        Err(e) => panic!("{major:?}: {e}"),
    }
}

/// Whether `digits` (no point) is at most a `Decimal`'s largest mantissa, 2^96 - 1.
fn fits_a_decimal(digits: &str) -> bool {
    let digits = digits.trim_start_matches('0');
    let max = "79228162514264337593543950335";
    digits.len() < max.len() || (digits.len() == max.len() && digits <= max)
}

/// The amount rule agrees with equality of money, and an unreadable amount never passes.
fn amount_rule(amount: &str, currency: &str, unit: Unit, sent: Result<Money, MoneyError>) {
    let got = Amount::read(Some(amount), Some(currency), |_, _| sent.clone());
    assert_eq!(mismatch(&got, &got, AmountCheck::Off), None);
    let Ok(dollar) = Money::parse_major("1.00", "USD") else {
        unreachable!("a valid literal");
    };
    let expected = match &sent {
        Ok(_) => got.clone(),
        Err(_) => Amount::Known(dollar),
    };
    for check in [AmountCheck::Strict, AmountCheck::WhenPresent] {
        let passes = mismatch(&expected, &got, check).is_none();
        assert_eq!(passes, sent.is_ok(), "{check:?} {got:?}");
    }
    if let (Ok(minor), Ok(major)) = (&sent, Money::from_provider(amount, currency, Unit::Major)) {
        let same = mismatch(
            &Amount::Known(major),
            &Amount::Known(*minor),
            AmountCheck::Strict,
        );
        let shifts = exponent_of(unit, minor.currency()).is_some_and(|e| e > 0);
        assert_eq!(same.is_none(), major == *minor);
        assert!(!shifts || major != *minor || minor.major().trim_matches(['0', '.']).is_empty());
    }
}

/// Decimal text as a digit string and a scale (value = digits × 10^-scale): the oracle the
/// amounts are compared with, independent of `rust_decimal`.
struct Written {
    digits: String,
    scale: i64,
}

impl Written {
    /// `[-]digits[.digits][(e|E)[+|-]digits]`, where a `-` is only allowed before a zero.
    fn parse(text: &str) -> Option<Written> {
        let text = text.trim();
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match text.split_once(['e', 'E']) {
            Some((m, e)) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                (m, Some(e.parse::<i64>().ok().filter(|_| plain)?))
            }
            None => (text, None),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let dot_ok = !mantissa.contains('.') || !fraction.is_empty();
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || !dot_ok {
            return None;
        }
        let written = Written {
            digits: format!("{whole}{fraction}"),
            scale: i64::try_from(fraction.len())
                .ok()?
                .checked_sub(exponent.unwrap_or(0))?,
        };
        if negative && written.digits.bytes().any(|b| b != b'0') {
            return None;
        }
        Some(written)
    }

    /// The canonical text of this value divided by 10^places, or `None` when it is too long to
    /// be worth building (no amount that long is representable anyway).
    fn shifted(&self, places: i64) -> Option<String> {
        let scale = self.scale.checked_add(places)?;
        if scale.unsigned_abs() > 200 || self.digits.len() > 200 {
            return None;
        }
        let mut digits = self.digits.clone();
        let mut scale = scale;
        if scale < 0 {
            digits.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
            scale = 0;
        }
        let scale = scale.unsigned_abs() as usize;
        let digits = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        let whole = whole.trim_start_matches('0');
        let fraction = fraction.trim_end_matches('0');
        let whole = if whole.is_empty() { "0" } else { whole };
        Some(match fraction {
            "" => whole.to_owned(),
            f => format!("{whole}.{f}"),
        })
    }

    fn canonical(&self) -> Option<String> {
        self.shifted(0)
    }
}
