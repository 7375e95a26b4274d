use proptest::prelude::*;

use super::*;

fn major(amount: &str, currency: &str) -> Money {
    Money::parse_major(amount, currency).unwrap()
}

fn sent(amount: &str, currency: &str, unit: Unit) -> Money {
    Money::from_provider(amount, currency, unit).unwrap()
}

#[test]
fn minor_units_follow_the_currencys_exponent() {
    // Paystack kobo, Stripe yen (no minor unit), a three-decimal dinar.
    assert_eq!(
        sent("1025000", "NGN", Unit::Minor),
        major("10250.00", "NGN")
    );
    assert_eq!(
        sent("1025000", "ngn", Unit::Minor).to_string(),
        "10250.00 NGN"
    );
    assert_eq!(sent("5000", "jpy", Unit::Minor), major("5000", "JPY"));
    assert_eq!(sent("5000", "JPY", Unit::Minor).to_string(), "5000 JPY");
    assert_eq!(sent("12345", "KWD", Unit::Minor), major("12.345", "KWD"));
    assert_eq!(sent("100", "NGN", Unit::Major), major("100.00", "NGN"));
}

#[test]
fn a_provider_may_count_some_currencies_its_own_way() {
    let stripe = Unit::MinorExcept(&[("ISK", 2), ("UGX", 2)]);
    assert_eq!(sent("500", "isk", stripe), major("5", "ISK"));
    assert_eq!(sent("500", "UGX", stripe), major("5", "UGX"));
    assert_eq!(sent("500", "JPY", stripe), major("500", "JPY"));
    assert_eq!(sent("500", "USD", stripe), major("5.00", "USD"));
}

#[test]
fn a_difference_is_never_rounded_away() {
    assert_ne!(
        sent("1025001", "NGN", Unit::Minor),
        major("10250.00", "NGN")
    );
    assert_ne!(
        sent("10250.001", "NGN", Unit::Major),
        major("10250.00", "NGN")
    );
    assert_eq!(
        sent("10250.001", "NGN", Unit::Major).to_string(),
        "10250.001 NGN"
    );
    assert_ne!(
        sent("1025000.5", "NGN", Unit::Minor),
        major("10250.00", "NGN")
    );
    // Beyond a float's precision.
    assert_ne!(
        sent("10250.0000000000000000001", "NGN", Unit::Major),
        major("10250.00", "NGN")
    );
    assert_ne!(major("50.00", "NGN"), major("50.00", "GHS"));
}

#[test]
fn scientific_notation_is_read_exactly() {
    assert_eq!(sent("1.025e6", "NGN", Unit::Minor), major("10250", "NGN"));
    assert_eq!(sent("5E3", "USD", Unit::Minor), major("50", "USD"));
    assert_eq!(sent("25.1e+2", "USD", Unit::Major), major("2510", "USD"));
    assert_eq!(sent("2510e-2", "USD", Unit::Major), major("25.10", "USD"));
}

// Found by the `amount` fuzz target: 28 digits leave a `Decimal` no room for two more places,
// and the text must read back as the same money.
#[test]
fn the_largest_amounts_are_written_so_that_they_read_back() {
    let large = "1111111111111111111111111111";
    assert_eq!(major(large, "USD").major(), large);
    assert_eq!(
        major(&large[1..], "USD").major(),
        format!("{}.00", &large[1..])
    );
    assert_eq!(
        major(large, "USD"),
        major(&major(large, "USD").major(), "USD")
    );
    assert_eq!(major("0", "KWD").major(), "0.000");
}

// Found by the `amount` fuzz target: the mantissa was read by rust_decimal's lenient parser.
#[test]
fn scientific_notation_outside_json_or_past_the_precision_is_refused() {
    let past_precision = "10250.0000000000000000000000001e2";
    for text in [
        "2510.e6",
        "1_000e0",
        ".5e1",
        "1e",
        "1e+-5",
        "e5",
        past_precision,
    ] {
        assert_eq!(
            Money::from_provider(text, "USD", Unit::Major),
            Err(MoneyError::NotDecimal(text.to_owned())),
            "{text}"
        );
    }
}

#[test]
fn bad_amounts_and_currencies_say_why() {
    let errors = [
        (
            Money::parse_major("10.001", "NGN"),
            "\"10.001\" has more decimal places than NGN allows (2)",
        ),
        (
            Money::parse_major("5.5", "JPY"),
            "\"5.5\" has more decimal places than JPY allows (0)",
        ),
        (
            Money::parse_major("10", "NAIRA"),
            "\"NAIRA\" is not an ISO 4217 currency code",
        ),
        (
            Money::parse_major("ten", "NGN"),
            "\"ten\" is not a decimal amount",
        ),
        (Money::parse_major("-1", "NGN"), "\"-1\" is negative"),
        (
            Money::parse_major("1", "XAU"),
            "XAU has no minor unit (ISO 4217 gives it no exponent)",
        ),
    ];
    for (result, message) in errors {
        assert_eq!(result.map_err(|e| e.to_string()), Err(message.to_owned()));
    }
}

fn currency() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["NGN", "USD", "JPY", "KWD", "BHD", "KES", "EUR", "CLP"])
}

proptest! {
    // Minor units -> money -> its major text -> money again: the same amount, exactly.
    #[test]
    fn minor_to_major_round_trips(minor in 0u64..10_000_000_000_000, code in currency()) {
        let money = sent(&minor.to_string(), code, Unit::Minor);
        let back = Money::parse_major(&money.major(), code).unwrap();
        prop_assert_eq!(back, money);
        let exponent = Currency::from_code(code).and_then(|c| c.exponent()).unwrap();
        let digits = money.major().split('.').nth(1).map_or(0, str::len);
        prop_assert_eq!(digits, usize::from(exponent));
    }

    // Two different minor amounts never convert to equal money.
    #[test]
    fn no_rounding_hides_a_difference(
        a in 0u64..10_000_000_000,
        b in 0u64..10_000_000_000,
        code in currency(),
    ) {
        let (x, y) = (sent(&a.to_string(), code, Unit::Minor), sent(&b.to_string(), code, Unit::Minor));
        prop_assert_eq!(x == y, a == b);
        // And a fraction of a minor unit is never lost either.
        let half = sent(&format!("{a}.5"), code, Unit::Minor);
        prop_assert_ne!(half, x);
    }
}
