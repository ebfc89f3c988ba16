//! Typed configuration read once at init. Each section is loaded by the functions that need it,
//! and a missing variable fails fast with a message naming it. Secrets are wrapped in [`Secret`]
//! so they never reach a log line.

use crate::domain::catalog::{CatalogError, BUILT_IN_CATALOG};
use crate::domain::Catalog;
use std::collections::HashMap;
use std::fmt;

/// Any init failure, with a message naming what is missing.
pub type InitError = Box<dyn std::error::Error + Send + Sync>;

/// A configuration problem found at init; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named variable is unset or blank.
    #[error("{0} must be set")]
    Missing(&'static str),
    /// The named variable is set but does not parse.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The environment variable's name.
        name: &'static str,
        /// Why the value was rejected, for the init log.
        reason: String,
    },
}

/// A secret value: usable by code, redacted in `Debug`/`Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value that must never reach a log line.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The raw value, for the one place that must send it (a header, an HMAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where configuration values come from: the process environment in Lambda, a map in tests.
pub trait EnvSource {
    /// The raw value of `name`, or `None` when it is unset.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// Reads typed values from an [`EnvSource`]; empty strings count as unset.
pub struct Env<'a>(pub &'a dyn EnvSource);

impl Env<'_> {
    /// The value of `name`, or `None` when it is unset or only whitespace.
    pub fn optional(&self, name: &'static str) -> Option<String> {
        self.0.get(name).filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`; [`ConfigError::Missing`] when unset or blank.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    /// A required value wrapped in [`Secret`] so it stays out of logs.
    pub fn secret(&self, name: &'static str) -> Result<Secret, ConfigError> {
        self.required(name).map(Secret)
    }

    /// `name` parsed with `FromStr`, `default` when unset; [`ConfigError::Invalid`] when it does
    /// not parse.
    pub fn parsed<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid {
                    name,
                    reason: e.to_string(),
                }),
        }
    }
}

/// The DynamoDB table every function reads or writes.
#[derive(Debug, Clone)]
pub struct TableConfig {
    /// From `TABLE_NAME` (required).
    pub table_name: String,
}

impl TableConfig {
    /// Reads the section from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }
    /// Reads the section from `source` (a map in tests).
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: Env(source).required("TABLE_NAME")?,
        })
    }
}

/// The SQS queue that carries sync jobs to the sync worker.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// From `SYNC_QUEUE_URL` (required): the queue's full URL, not its name or ARN.
    pub sync_queue_url: String,
}

impl QueueConfig {
    /// Reads the section from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }
    /// Reads the section from `source` (a map in tests).
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            sync_queue_url: Env(source).required("SYNC_QUEUE_URL")?,
        })
    }
}

/// The custom EventBridge bus that receives Tierflow's domain events.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// From `EVENT_BUS_NAME` (required): the bus name, not its ARN.
    pub event_bus_name: String,
}

impl BusConfig {
    /// Reads the section from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }
    /// Reads the section from `source` (a map in tests).
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        Ok(Self {
            event_bus_name: Env(source).required("EVENT_BUS_NAME")?,
        })
    }
}

/// Stripe API access: the secret key, the publishable key handed to the frontend, and the base
/// URL (real Stripe by default, the emulator locally).
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// From `STRIPE_SECRET_KEY` (required), `sk_test_…` or `sk_live_…`.
    pub secret_key: Secret,
    /// From `STRIPE_PUBLISHABLE_KEY`; empty when unset.
    pub publishable_key: String,
    /// From `STRIPE_API_BASE`, default [`STRIPE_DEFAULT_API_BASE`]; never ends in `/`.
    pub api_base: String,
}

/// Real Stripe's API base; `STRIPE_API_BASE` overrides it for the emulator.
pub const STRIPE_DEFAULT_API_BASE: &str = "https://api.stripe.com";

impl StripeConfig {
    /// Reads the section from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }
    /// Reads the section from `source` (a map in tests).
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        Ok(Self {
            secret_key: env.secret("STRIPE_SECRET_KEY")?,
            publishable_key: env.optional("STRIPE_PUBLISHABLE_KEY").unwrap_or_default(),
            api_base: env
                .optional("STRIPE_API_BASE")
                .unwrap_or_else(|| STRIPE_DEFAULT_API_BASE.to_owned())
                .trim_end_matches('/')
                .to_owned(),
        })
    }
}

/// The publishable key alone, for the one function that hands it out and never calls Stripe.
#[derive(Debug, Clone)]
pub struct PublishableKey(pub String);

impl PublishableKey {
    /// Reads the section from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }
    /// Reads `STRIPE_PUBLISHABLE_KEY` from `source`; [`ConfigError::Invalid`] unless it starts
    /// with `pk_`, so a secret key pasted there never reaches a browser.
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let key = Env(source).required("STRIPE_PUBLISHABLE_KEY")?;
        if !key.starts_with("pk_") {
            return Err(ConfigError::Invalid {
                name: "STRIPE_PUBLISHABLE_KEY",
                reason: "a publishable key starts with pk_".into(),
            });
        }
        Ok(Self(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn missing_variable_is_named() {
        let err = TableConfig::load(&env(&[])).unwrap_err();
        assert_eq!(err.to_string(), "TABLE_NAME must be set");
    }

    #[test]
    fn empty_variable_counts_as_missing() {
        let err = TableConfig::load(&env(&[("TABLE_NAME", " ")])).unwrap_err();
        assert_eq!(err.to_string(), "TABLE_NAME must be set");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let cfg = StripeConfig::load(&env(&[("STRIPE_SECRET_KEY", "sk_test_abc")])).unwrap();
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("sk_test_abc"), "{printed}");
        assert_eq!(cfg.secret_key.expose(), "sk_test_abc");
        assert_eq!(cfg.api_base, STRIPE_DEFAULT_API_BASE);
    }

    #[test]
    fn api_base_override_drops_trailing_slash() {
        let cfg = StripeConfig::load(&env(&[
            ("STRIPE_SECRET_KEY", "sk_test_abc"),
            ("STRIPE_API_BASE", "http://127.0.0.1:12111/"),
        ]))
        .unwrap();
        assert_eq!(cfg.api_base, "http://127.0.0.1:12111");
    }

    #[test]
    fn publishable_key_must_look_like_one() {
        let err =
            PublishableKey::load(&env(&[("STRIPE_PUBLISHABLE_KEY", "sk_live_x")])).unwrap_err();
        assert!(err
            .to_string()
            .contains("STRIPE_PUBLISHABLE_KEY is invalid"));
    }

    #[test]
    fn parsed_values_report_bad_numbers() {
        let source = env(&[("GRACE_DAYS", "three")]);
        let err = Env(&source).parsed("GRACE_DAYS", 3u32).unwrap_err();
        assert!(err.to_string().starts_with("GRACE_DAYS is invalid"));
        assert_eq!(Env(&env(&[])).parsed("GRACE_DAYS", 3u32).unwrap(), 3);
    }
}

/// Stripe's default webhook tolerance, in seconds: how far a delivery's signed timestamp may be
/// from our clock. Here, not in `webhook::signature` (which re-exports it), so config never
/// imports a use case.
pub const DEFAULT_WEBHOOK_TOLERANCE_SECONDS: i64 = 300;

/// Stripe webhook verification: every secret accepted during a rotation, and the tolerance.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// From `STRIPE_WEBHOOK_SECRETS` (required, comma-separated); never empty.
    pub secrets: Vec<Secret>,
    /// From `STRIPE_WEBHOOK_TOLERANCE_SECONDS`, default [`DEFAULT_WEBHOOK_TOLERANCE_SECONDS`].
    pub tolerance_seconds: i64,
}

impl WebhookConfig {
    /// Reads the section from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }
    /// Reads `STRIPE_WEBHOOK_SECRETS` (comma-separated `whsec_…`) and
    /// `STRIPE_WEBHOOK_TOLERANCE_SECONDS` from `source`.
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        let secrets: Vec<Secret> = env
            .required("STRIPE_WEBHOOK_SECRETS")?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .collect();
        if secrets.is_empty() {
            return Err(ConfigError::Missing("STRIPE_WEBHOOK_SECRETS"));
        }
        Ok(Self {
            secrets,
            tolerance_seconds: env.parsed(
                "STRIPE_WEBHOOK_TOLERANCE_SECONDS",
                DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
            )?,
        })
    }
}

/// Billing policy knobs.
#[derive(Debug, Clone, Copy)]
pub struct PolicyConfig {
    /// Days a past-due subscription keeps its tier (`GRACE_DAYS`, default 3).
    pub grace_days: u32,
    /// What a dispute (`ON_DISPUTE`) and a full refund (`ON_FULL_REFUND`) do to the Stripe
    /// subscription: `cancel_now` (default), `cancel_at_period_end` or `revoke_only`.
    pub revocation: crate::domain::profile::RevocationPolicy,
}

impl PolicyConfig {
    /// Reads the section from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }
    /// Reads the section from `source` (a map in tests).
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        let defaults = crate::domain::profile::RevocationPolicy::default();
        Ok(Self {
            grace_days: env.parsed("GRACE_DAYS", 3)?,
            revocation: crate::domain::profile::RevocationPolicy {
                on_dispute: env.parsed("ON_DISPUTE", defaults.on_dispute)?,
                on_full_refund: env.parsed("ON_FULL_REFUND", defaults.on_full_refund)?,
            },
        })
    }
}

/// The plan catalog: the file `CATALOG_FILE` names, else the built-in one. Read here so the
/// domain's catalog stays free of I/O.
pub fn load_catalog() -> Result<Catalog, CatalogError> {
    match std::env::var("CATALOG_FILE").ok().filter(|p| !p.is_empty()) {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| CatalogError::Io { path, source })?;
            Catalog::parse(&text)
        }
        None => Catalog::parse(BUILT_IN_CATALOG),
    }
}
