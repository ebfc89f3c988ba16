//! Money as Stripe keeps it: an integer amount in the currency's minor unit, never a float.

use super::InvalidInput;
use serde::{Deserialize, Serialize};

/// A lowercase ISO 4217 code, as Stripe writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Normalises to lowercase; anything but three ASCII letters is refused.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let code = raw.trim().to_ascii_lowercase();
        if code.len() == 3 && code.chars().all(|c| c.is_ascii_lowercase()) {
            Ok(Self(code))
        } else {
            Err(InvalidInput(format!(
                "currency {raw:?} is not a three-letter ISO code"
            )))
        }
    }

    /// The code as Stripe writes it (`usd`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount in minor units (cents for USD) with its currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for USD); negative for credits.
    pub amount: i64,
    /// The currency the amount is in.
    pub currency: Currency,
}

impl Money {
    /// `amount` minor units of `currency`.
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_normalise_to_lowercase_codes() {
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "usd");
        for bad in ["", "us", "usdd", "u$d", "12a"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money_serialises_as_integer_minor_units() {
        let m = Money::new(4900, Currency::parse("usd").unwrap());
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"amount":4900,"currency":"usd"}"#
        );
    }
}
