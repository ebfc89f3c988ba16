//! Configuration of the payments routes, each part loaded only by the functions that use it.

use crate::config::{ConfigError, Env, EnvSource, ProcessEnv, Secret};
use crate::domain::Currency;

/// The largest amount Stripe accepts on a PaymentIntent (minor units, eight digits).
pub const STRIPE_MAX_AMOUNT: i64 = 99_999_999;

/// Bounds of one-time payments (`POST /api/v1/billing/payment-intent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentsConfig {
    /// Smallest accepted amount in minor units (`PAYMENT_MIN_AMOUNT`, default 50).
    pub min_amount: i64,
    /// Largest accepted amount in minor units (`PAYMENT_MAX_AMOUNT`, default 1 000 000).
    pub max_amount: i64,
    /// Accepted currencies (`PAYMENT_CURRENCIES`, comma-separated, default `usd`).
    pub currencies: Vec<Currency>,
    /// Payment intents one user may create per hour (`PAYMENT_INTENTS_PER_HOUR`, default 30).
    pub intents_per_hour: u64,
}

impl PaymentsConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }

    /// Reads and checks the bounds: `0 < min <= max <= 99 999 999`, at least one currency.
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        let min_amount: i64 = env.parsed("PAYMENT_MIN_AMOUNT", 50)?;
        let max_amount: i64 = env.parsed("PAYMENT_MAX_AMOUNT", 1_000_000)?;
        if min_amount < 1 {
            return Err(ConfigError::Invalid {
                name: "PAYMENT_MIN_AMOUNT",
                reason: "must be at least 1 (minor units)".into(),
            });
        }
        if max_amount < min_amount || max_amount > STRIPE_MAX_AMOUNT {
            return Err(ConfigError::Invalid {
                name: "PAYMENT_MAX_AMOUNT",
                reason: format!(
                    "must be between PAYMENT_MIN_AMOUNT ({min_amount}) and {STRIPE_MAX_AMOUNT}"
                ),
            });
        }
        let raw = env
            .optional("PAYMENT_CURRENCIES")
            .unwrap_or_else(|| "usd".to_owned());
        let mut currencies = Vec::new();
        for code in raw.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let currency = Currency::parse(code).map_err(|e| ConfigError::Invalid {
                name: "PAYMENT_CURRENCIES",
                reason: e.0,
            })?;
            if !currencies.contains(&currency) {
                currencies.push(currency);
            }
        }
        if currencies.is_empty() {
            return Err(ConfigError::Invalid {
                name: "PAYMENT_CURRENCIES",
                reason: "name at least one currency, e.g. usd".into(),
            });
        }
        let intents_per_hour: u64 = env.parsed("PAYMENT_INTENTS_PER_HOUR", 30)?;
        if intents_per_hour == 0 {
            return Err(ConfigError::Invalid {
                name: "PAYMENT_INTENTS_PER_HOUR",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            min_amount,
            max_amount,
            currencies,
            intents_per_hour,
        })
    }

    /// The accepted currency codes, comma-separated, for error messages.
    pub fn currency_list(&self) -> String {
        self.currencies
            .iter()
            .map(Currency::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where the Customer Portal sends the customer back to (`PORTAL_RETURN_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalConfig {
    /// Absolute http(s) URL, trimmed.
    pub return_url: String,
}

impl PortalConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }

    /// `PORTAL_RETURN_URL` is required and must be an absolute http(s) URL.
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let return_url = Env(source).required("PORTAL_RETURN_URL")?.trim().to_owned();
        let host = return_url
            .strip_prefix("https://")
            .or_else(|| return_url.strip_prefix("http://"))
            .unwrap_or("");
        if host.is_empty() || host.starts_with('/') || return_url.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid {
                name: "PORTAL_RETURN_URL",
                reason: "must be an absolute http(s) URL, e.g. https://app.example.com/billing"
                    .into(),
            });
        }
        Ok(Self { return_url })
    }
}

/// The key history cursors are signed with (`HISTORY_CURSOR_SECRET`, at least 32 characters).
/// Rotating it only invalidates cursors in flight: clients start again from the first page.
#[derive(Debug, Clone)]
pub struct CursorConfig {
    /// The HMAC key; never logged.
    pub key: Secret,
}

impl CursorConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }

    /// Requires a key long enough to be unguessable.
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let key = Env(source).secret("HISTORY_CURSOR_SECRET")?;
        if key.expose().len() < 32 {
            return Err(ConfigError::Invalid {
                name: "HISTORY_CURSOR_SECRET",
                reason: "use at least 32 characters".into(),
            });
        }
        Ok(Self { key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn payment_bounds_default_to_the_documented_values() {
        let cfg = PaymentsConfig::load(&env(&[])).unwrap();
        assert_eq!((cfg.min_amount, cfg.max_amount), (50, 1_000_000));
        assert_eq!(cfg.currency_list(), "usd");
        assert_eq!(cfg.intents_per_hour, 30);
    }

    #[test]
    fn currencies_are_normalised_and_deduplicated() {
        let cfg = PaymentsConfig::load(&env(&[("PAYMENT_CURRENCIES", " USD, eur ,usd,")])).unwrap();
        assert_eq!(cfg.currency_list(), "usd, eur");
    }

    #[test]
    fn inconsistent_bounds_and_bad_currencies_fail_fast_with_the_name() {
        for (pairs, name) in [
            (vec![("PAYMENT_MIN_AMOUNT", "0")], "PAYMENT_MIN_AMOUNT"),
            (vec![("PAYMENT_MIN_AMOUNT", "1.5")], "PAYMENT_MIN_AMOUNT"),
            (
                vec![("PAYMENT_MIN_AMOUNT", "500"), ("PAYMENT_MAX_AMOUNT", "100")],
                "PAYMENT_MAX_AMOUNT",
            ),
            (
                vec![("PAYMENT_MAX_AMOUNT", "100000000")],
                "PAYMENT_MAX_AMOUNT",
            ),
            (
                vec![("PAYMENT_CURRENCIES", "usd,dollars")],
                "PAYMENT_CURRENCIES",
            ),
            (vec![("PAYMENT_CURRENCIES", " , ")], "PAYMENT_CURRENCIES"),
            (
                vec![("PAYMENT_INTENTS_PER_HOUR", "0")],
                "PAYMENT_INTENTS_PER_HOUR",
            ),
        ] {
            let err = PaymentsConfig::load(&env(&pairs)).unwrap_err();
            assert!(err.to_string().starts_with(name), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn the_portal_return_url_is_required_and_absolute() {
        let err = PortalConfig::load(&env(&[])).unwrap_err();
        assert_eq!(err.to_string(), "PORTAL_RETURN_URL must be set");
        for bad in [
            "/billing",
            "ftp://x",
            "https://",
            "https:///x",
            "https://a b",
        ] {
            assert!(
                PortalConfig::load(&env(&[("PORTAL_RETURN_URL", bad)])).is_err(),
                "{bad}"
            );
        }
        let cfg = PortalConfig::load(&env(&[(
            "PORTAL_RETURN_URL",
            "https://app.example/billing",
        )]))
        .unwrap();
        assert_eq!(cfg.return_url, "https://app.example/billing");
    }

    #[test]
    fn the_cursor_key_must_be_long_and_stays_redacted() {
        assert!(CursorConfig::load(&env(&[("HISTORY_CURSOR_SECRET", "short")])).is_err());
        let long = "k".repeat(40);
        let cfg = CursorConfig::load(&env(&[("HISTORY_CURSOR_SECRET", &long)])).unwrap();
        assert!(!format!("{cfg:?}").contains(&long));
    }
}
