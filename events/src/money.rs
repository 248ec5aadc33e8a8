//! Money: integer minor units plus an ISO 4217 currency, never floats.
//!
//! A [`Money`] can only be built with a known currency and an amount between zero and
//! [`MAX_AMOUNT`] (the largest integer a JavaScript client can hold exactly), so arithmetic that
//! would leave that range fails instead of wrapping. It travels as `{"amount": 1999, "currency":
//! "EUR"}` in events and HTTP bodies alike; reading one checks it like [`Money::new`], so an
//! amount out of range or an unknown currency never gets past parsing. It lives in the event
//! contract so that payloads carry it; services reach it as `service_kit::money`.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest amount in minor units: 2^53 - 1, exact in every JSON client.
pub const MAX_AMOUNT: i64 = 9_007_199_254_740_991;

/// Active ISO 4217 codes with their number of minor-unit digits.
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// Why a currency or an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an active ISO 4217 code.
    #[error("`{0}` is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    /// Below zero.
    #[error("must not be negative")]
    Negative,
    /// Above [`MAX_AMOUNT`] (or an operation overflowed).
    #[error("must not exceed {MAX_AMOUNT} minor units")]
    TooLarge,
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
}

/// An ISO 4217 currency code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses an upper-case ISO 4217 code (`EUR`); other spellings are refused.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        ISO_4217
            .iter()
            .find(|(known, _)| *known == code)
            .and_then(|(known, _)| known.as_bytes().try_into().ok().map(Self))
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    /// Every code [`Currency::parse`] takes.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        ISO_4217.iter().map(|(code, _)| *code)
    }

    /// The code, e.g. `EUR`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_units(&self) -> u8 {
        ISO_4217
            .iter()
            .find(|(code, _)| *code == self.as_str())
            .map_or(2, |(_, d)| *d)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

/// A non-negative amount of money in minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawMoney")]
pub struct Money {
    amount: i64,
    currency: Currency,
}

// The JSON as it arrives, checked by `Money::try_from`. Its JSON Schema is the one events have
// always published for an amount (`Amount` in `events/schemas/`), so the doc comments below are
// part of the contract.
/// An amount of money.
#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(rename = "Amount")]
struct RawMoney {
    /// Integer minor units (cents).
    amount: i64,
    /// ISO 4217 code.
    currency: String,
}

impl TryFrom<RawMoney> for Money {
    type Error = MoneyError;
    fn try_from(raw: RawMoney) -> Result<Self, Self::Error> {
        Self::parse(raw.amount, &raw.currency)
    }
}

impl schemars::JsonSchema for Money {
    fn schema_name() -> Cow<'static, str> {
        RawMoney::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        RawMoney::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RawMoney::json_schema(generator)
    }
}

/// [`Money`] in OpenAPI documents (the `utoipa` feature), under the name and shape carts and
/// orders have always published for a price.
#[cfg(feature = "utoipa")]
mod openapi {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    use utoipa::{PartialSchema, ToSchema};

    use super::Money;

    /// A price in minor units.
    #[derive(ToSchema)]
    #[allow(dead_code)] // Only its schema is used.
    struct Price {
        /// Integer minor units.
        amount: i64,
        /// ISO 4217 code.
        currency: String,
    }

    impl PartialSchema for Money {
        fn schema() -> RefOr<Schema> {
            Price::schema()
        }
    }

    impl ToSchema for Money {
        fn name() -> Cow<'static, str> {
            Price::name()
        }

        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            Price::schemas(schemas);
        }
    }
}

impl Money {
    /// `amount` minor units of `currency`, within `0..=MAX_AMOUNT`.
    pub fn new(amount: i64, currency: Currency) -> Result<Self, MoneyError> {
        if amount < 0 {
            return Err(MoneyError::Negative);
        }
        if amount > MAX_AMOUNT {
            return Err(MoneyError::TooLarge);
        }
        Ok(Self { amount, currency })
    }

    /// `amount` minor units of the currency named `code` (`EUR`), as stored in a pair of
    /// columns or sent by a client.
    pub fn parse(amount: i64, code: &str) -> Result<Self, MoneyError> {
        Self::new(amount, Currency::parse(code)?)
    }

    /// Nothing, in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self {
            amount: 0,
            currency,
        }
    }

    /// Whether the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.amount == 0
    }

    /// The amount in minor units.
    pub const fn amount(&self) -> i64 {
        self.amount
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The sum, in the same currency and within range.
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let sum = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::TooLarge)?;
        Self::new(sum, self.currency)
    }

    /// The difference, in the same currency and never below zero.
    pub fn checked_sub(self, other: Self) -> Result<Self, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        Self::new(self.amount - other.amount, self.currency)
    }

    /// The amount times a quantity, within range.
    pub fn checked_mul(self, quantity: u32) -> Result<Self, MoneyError> {
        let product = self
            .amount
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::TooLarge)?;
        Self::new(product, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = u32::from(self.currency.minor_units());
        let scale = 10_i64.pow(digits);
        if digits == 0 {
            write!(f, "{} {}", self.amount, self.currency)
        } else {
            let width = digits as usize;
            write!(
                f,
                "{}.{:0width$} {}",
                self.amount / scale,
                self.amount % scale,
                self.currency
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(ISO_4217).prop_map(|(code, _)| Currency::parse(code).unwrap())
    }

    #[test]
    fn known_and_unknown_currencies() {
        assert_eq!(Currency::parse("EUR").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("XYZ").is_err());
    }

    #[test]
    fn display_uses_the_currency_exponent() {
        let eur = Currency::parse("EUR").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(1999, eur).unwrap().to_string(), "19.99 EUR");
        assert_eq!(Money::new(5, eur).unwrap().to_string(), "0.05 EUR");
        assert_eq!(Money::new(1_005, kwd).unwrap().to_string(), "1.005 KWD");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::new(500, jpy).unwrap().to_string(), "500 JPY");
    }

    #[test]
    fn json_out_of_range_or_in_an_unknown_currency_is_refused() {
        for refused in [
            r#"{"amount": -1, "currency": "EUR"}"#,
            r#"{"amount": 9007199254740992, "currency": "EUR"}"#,
            r#"{"amount": 100, "currency": "eur"}"#,
            r#"{"amount": 100, "currency": "XYZ"}"#,
            r#"{"amount": 100}"#,
            r#"{"amount": 1.5, "currency": "EUR"}"#,
        ] {
            assert!(serde_json::from_str::<Money>(refused).is_err(), "{refused}");
        }
        let read: Money = serde_json::from_str(r#"{"amount": 1999, "currency": "EUR"}"#).unwrap();
        assert_eq!(read, Money::parse(1999, "EUR").unwrap());
    }

    #[test]
    fn the_json_schema_is_the_published_amount() {
        let schema = schemars::schema_for!(Money);
        assert_eq!(schema.get("title"), Some(&serde_json::json!("Amount")));
        assert_eq!(
            schema.get("required"),
            Some(&serde_json::json!(["amount", "currency"]))
        );
    }

    proptest! {
        #[test]
        fn amounts_outside_the_range_are_refused(amount in any::<i64>(), c in currency()) {
            let result = Money::new(amount, c);
            prop_assert_eq!(result.is_ok(), (0..=MAX_AMOUNT).contains(&amount));
        }

        #[test]
        fn addition_is_exact_or_fails(a in 0..=MAX_AMOUNT, b in 0..=MAX_AMOUNT, c in currency()) {
            let sum = Money::new(a, c).unwrap().checked_add(Money::new(b, c).unwrap());
            match i64::checked_add(a, b) {
                Some(total) if total <= MAX_AMOUNT => prop_assert_eq!(sum.unwrap().amount(), total),
                _ => prop_assert_eq!(sum.unwrap_err(), MoneyError::TooLarge),
            }
        }

        #[test]
        fn addition_commutes(a in 0..=MAX_AMOUNT / 2, b in 0..=MAX_AMOUNT / 2, c in currency()) {
            let x = Money::new(a, c).unwrap();
            let y = Money::new(b, c).unwrap();
            prop_assert_eq!(x.checked_add(y).unwrap(), y.checked_add(x).unwrap());
        }

        #[test]
        fn different_currencies_never_add(a in 0..1_000_000_i64, x in currency(), y in currency()) {
            prop_assume!(x != y);
            let result = Money::new(a, x).unwrap().checked_add(Money::new(a, y).unwrap());
            prop_assert!(matches!(result, Err(MoneyError::CurrencyMismatch(..))), "{:?}", result);
        }

        #[test]
        fn multiplication_matches_repeated_addition(a in 0..1_000_000_i64, q in 0..50_u32, c in currency()) {
            let unit = Money::new(a, c).unwrap();
            let mut total = Money::new(0, c).unwrap();
            for _ in 0..q {
                total = total.checked_add(unit).unwrap();
            }
            prop_assert_eq!(unit.checked_mul(q).unwrap(), total);
        }

        #[test]
        fn subtraction_is_exact_or_fails(a in 0..=MAX_AMOUNT, b in 0..=MAX_AMOUNT, c in currency()) {
            let difference = Money::new(a, c).unwrap().checked_sub(Money::new(b, c).unwrap());
            if a >= b {
                prop_assert_eq!(difference.unwrap().amount(), a - b);
            } else {
                prop_assert_eq!(difference.unwrap_err(), MoneyError::Negative);
            }
        }

        #[test]
        fn money_round_trips_through_json(a in 0..=MAX_AMOUNT, c in currency()) {
            let money = Money::new(a, c).unwrap();
            let json = serde_json::to_value(money).unwrap();
            prop_assert_eq!(&json, &serde_json::json!({"amount": a, "currency": c.as_str()}));
            prop_assert_eq!(serde_json::from_value::<Money>(json).unwrap(), money);
        }

        #[test]
        fn currency_codes_round_trip_through_json(c in currency()) {
            let json = serde_json::to_string(&c).unwrap();
            prop_assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), c);
        }
    }
}
