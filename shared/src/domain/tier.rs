//! Tiers, billing cycles and user ids: parsed once at the edge, trusted afterwards.

use super::InvalidInput;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A tier's name, as the catalog defines it (`free`, `starter`, or a team's own `hobby`,
/// `business`): what the API, Stripe metadata and Keycloak carry. A well-formed name is not
/// necessarily one the catalog has: [`crate::domain::Catalog::tier_named`] checks that, and the
/// catalog alone says which tier is free and how tiers rank.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tier(String);

impl Tier {
    /// Longest name accepted.
    pub const MAX_LEN: usize = 32;

    /// Case-insensitive: 1 to 32 lowercase letters, digits, `_` or `-`, starting with a letter.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim().to_ascii_lowercase();
        let well_formed = name.len() <= Self::MAX_LEN
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
        if well_formed {
            Ok(Self(name))
        } else {
            Err(InvalidInput(format!(
                "{raw:?} is not a tier name: 1 to {} letters, digits, '_' or '-', starting with a letter",
                Self::MAX_LEN
            )))
        }
    }

    /// The lowercase name the API, Stripe metadata and Keycloak use.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tier by name, for tests: panics on a malformed name.
#[cfg(test)]
pub(crate) fn tier(name: &str) -> Tier {
    Tier::parse(name).expect("a well-formed tier name")
}

impl TryFrom<String> for Tier {
    type Error = InvalidInput;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Tier> for String {
    fn from(tier: Tier) -> Self {
        tier.0
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
    fn tier_names_are_lowercased_and_must_be_well_formed() {
        let cases = [
            ("free", Some("free")),
            (" Hobby ", Some("hobby")),
            ("team-2", Some("team-2")),
            ("pro_plus", Some("pro_plus")),
            ("2fast", None),
            ("", None),
            ("gold plan", None),
            ("a#b", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                Tier::parse(raw).ok().as_ref().map(Tier::as_str),
                want,
                "{raw:?}"
            );
        }
        assert!(Tier::parse(&"a".repeat(Tier::MAX_LEN)).is_ok());
        assert!(Tier::parse(&"a".repeat(Tier::MAX_LEN + 1)).is_err());
        let stored: Result<Tier, _> = serde_json::from_str("\"no spaces allowed\"");
        assert!(stored.is_err());
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
