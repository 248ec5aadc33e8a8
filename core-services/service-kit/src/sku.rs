//! Stock keeping units: the identifier catalog, inventory and orders share.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted SKU.
pub const MAX_SKU_LEN: usize = 64;

/// Why a SKU was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkuError {
    /// Empty after trimming.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`MAX_SKU_LEN`].
    #[error("must be at most {MAX_SKU_LEN} characters")]
    TooLong,
    /// Contains something other than letters, digits, `-`, `_`, `.`, or does not start with a
    /// letter or digit.
    #[error(
        "may contain only letters, digits, '-', '_' and '.', and must start with a letter or digit"
    )]
    InvalidCharacter,
}

/// A SKU: 1 to 64 characters of `A-Z 0-9 - _ .`, starting with a letter or digit; stored upper
/// case so `ab-1` and `AB-1` are the same SKU.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    /// Validates and normalizes (trim, upper case).
    pub fn parse(input: &str) -> Result<Self, SkuError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(SkuError::Empty);
        }
        if trimmed.len() > MAX_SKU_LEN {
            return Err(SkuError::TooLong);
        }
        let normalized = trimmed.to_ascii_uppercase();
        let mut chars = normalized.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !(first_ok && rest_ok) {
            return Err(SkuError::InvalidCharacter);
        }
        Ok(Self(normalized))
    }

    /// The normalized SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Sku {
    type Error = SkuError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(value: Sku) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(Sku::parse(" hp-100.blk ").unwrap().as_str(), "HP-100.BLK");
        assert_eq!(Sku::parse("").unwrap_err(), SkuError::Empty);
        assert_eq!(Sku::parse("-abc").unwrap_err(), SkuError::InvalidCharacter);
        assert_eq!(Sku::parse("a b").unwrap_err(), SkuError::InvalidCharacter);
        assert_eq!(Sku::parse("ÄBC").unwrap_err(), SkuError::InvalidCharacter);
        assert_eq!(Sku::parse(&"A".repeat(65)).unwrap_err(), SkuError::TooLong);
    }

    proptest! {
        #[test]
        fn valid_skus_parse_and_normalize_idempotently(s in "[A-Za-z0-9][A-Za-z0-9._-]{0,63}") {
            let sku = Sku::parse(&s).unwrap();
            prop_assert_eq!(sku.as_str(), s.to_ascii_uppercase());
            prop_assert_eq!(Sku::parse(sku.as_str()).unwrap(), sku);
        }

        #[test]
        fn anything_parsed_is_within_the_rules(s in "\\PC{0,80}") {
            if let Ok(sku) = Sku::parse(&s) {
                prop_assert!(!sku.as_str().is_empty() && sku.as_str().len() <= MAX_SKU_LEN);
                prop_assert!(sku.as_str().chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "-_.".contains(c)));
            }
        }

        #[test]
        fn skus_round_trip_through_json(s in "[A-Z0-9][A-Z0-9._-]{0,63}") {
            let sku = Sku::parse(&s).unwrap();
            let json = serde_json::to_string(&sku).unwrap();
            prop_assert_eq!(serde_json::from_str::<Sku>(&json).unwrap(), sku);
        }
    }
}
