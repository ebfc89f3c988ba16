//! Tiers, billing cycles and user ids: parsed once at the edge, trusted afterwards.

use super::InvalidInput;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The product's tiers, in ascending order: comparing two tiers says which is the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// No subscription: what every user has by default.
    Free,
    /// The entry paid tier.
    Trial,
    /// The first full paid tier.
    Starter,
    /// The middle paid tier.
    Professional,
    /// The top tier.
    Enterprise,
}

impl Tier {
    /// Every tier, lowest first (the catalog lists them in this order).
    pub const ALL: [Tier; 5] = [
        Tier::Free,
        Tier::Trial,
        Tier::Starter,
        Tier::Professional,
        Tier::Enterprise,
    ];

    /// Case-insensitive; the error lists the tiers there are.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                InvalidInput(format!(
                    "unknown tier {raw:?}; expected one of free, trial, starter, professional, enterprise"
                ))
            })
    }

    /// The lowercase name the API, Stripe metadata and Keycloak use.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Trial => "trial",
            Tier::Starter => "starter",
            Tier::Professional => "professional",
            Tier::Enterprise => "enterprise",
        }
    }

    /// Free is what a user has without any subscription.
    pub fn is_paid(self) -> bool {
        self != Tier::Free
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How often a subscription renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BillingCycle {
    /// Every calendar month (Stripe `month`).
    Monthly,
    /// Every year (Stripe `year`).
    Yearly,
}

impl BillingCycle {
    /// Accepts the API's words (`monthly`, `yearly`) and Stripe's intervals (`month`, `year`).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "monthly" | "month" => Ok(BillingCycle::Monthly),
            "yearly" | "year" | "annual" => Ok(BillingCycle::Yearly),
            _ => Err(InvalidInput(format!(
                "unknown billing_cycle {raw:?}; expected monthly or yearly"
            ))),
        }
    }

    /// The API's word (`monthly`, `yearly`).
    pub fn as_str(self) -> &'static str {
        match self {
            BillingCycle::Monthly => "monthly",
            BillingCycle::Yearly => "yearly",
        }
    }

    /// Stripe's `recurring.interval`.
    pub fn stripe_interval(self) -> &'static str {
        match self {
            BillingCycle::Monthly => "month",
            BillingCycle::Yearly => "year",
        }
    }
}

impl fmt::Display for BillingCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller's identity: the JWT `sub`. Bounded and free of the table's key separator so it can
/// never address another user's items.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// At most 128 characters of letters, digits and `-_.@|:`; anything else is refused.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '|' | ':')
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput(
                "the token's subject is not a valid user id".into(),
            ))
        }
    }

    /// The id as the identity provider issued it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_case_insensitively_and_reject_unknown() {
        let cases = [
            ("free", Some(Tier::Free)),
            ("Trial", Some(Tier::Trial)),
            (" starter ", Some(Tier::Starter)),
            ("PROFESSIONAL", Some(Tier::Professional)),
            ("enterprise", Some(Tier::Enterprise)),
            ("gold", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(Tier::parse(raw).ok(), want, "{raw:?}");
        }
    }

    #[test]
    fn tiers_are_ordered_for_upgrades() {
        assert!(Tier::Enterprise > Tier::Professional);
        assert!(Tier::Starter > Tier::Trial);
        assert!(Tier::Trial > Tier::Free);
        assert!(!Tier::Free.is_paid());
    }

    #[test]
    fn cycles_accept_api_words_and_stripe_intervals() {
        assert_eq!(BillingCycle::parse("month").unwrap(), BillingCycle::Monthly);
        assert_eq!(BillingCycle::parse("yearly").unwrap(), BillingCycle::Yearly);
        assert!(BillingCycle::parse("weekly").is_err());
    }

    #[test]
    fn user_ids_refuse_key_separators_and_oversize() {
        assert!(UserId::parse("f81d4fae-7dec-11d0-a765-00a0c91e6bf6").is_ok());
        assert!(UserId::parse("user#other").is_err());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse(&"a".repeat(129)).is_err());
    }
}
