//! The plan catalog: configuration, not code. Loaded from `catalog.json` (built in) or the file
//! named by `CATALOG_FILE`, validated once, and addressed by tier or by Stripe price lookup key.

use super::{BillingCycle, Currency, Money, Tier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The catalog shipped with Tierflow.
pub const BUILT_IN_CATALOG: &str = include_str!("../../catalog.json");

/// A catalog file that cannot be used; the message says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("catalog file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog is invalid: {0}")]
    Invalid(String),
}

/// A limit: a number, or `null` for unlimited.
pub type Entitlements = BTreeMap<String, Option<u64>>;

/// One recurring price of a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceSpec {
    pub cycle: BillingCycle,
    /// Minor units of the catalog's currency.
    pub unit_amount: i64,
    /// Stripe lookup key: prices are found by it, never by hard-coded id.
    pub lookup_key: String,
}

/// One tier with what it grants and what it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierSpec {
    pub tier: Tier,
    pub name: String,
    pub lago_plan_code: String,
    pub entitlements: Entitlements,
    pub prices: Vec<PriceSpec>,
}

/// The validated catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub currency: Currency,
    pub tiers: Vec<TierSpec>,
}

impl Catalog {
    /// The built-in catalog, or `CATALOG_FILE` when set.
    pub fn from_env() -> Result<Self, CatalogError> {
        match std::env::var("CATALOG_FILE").ok().filter(|p| !p.is_empty()) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Io {
                    path: path.clone(),
                    source,
                })?;
                Self::parse(&text)
            }
            None => Self::parse(BUILT_IN_CATALOG),
        }
    }

    /// Parses and validates: every tier exactly once, in order; free has no price; every paid
    /// tier has a monthly price; amounts positive; lookup keys unique.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let catalog: Catalog = serde_json::from_str(text)?;
        let tiers: Vec<Tier> = catalog.tiers.iter().map(|t| t.tier).collect();
        if tiers != Tier::ALL {
            return Err(CatalogError::Invalid(
                "tiers must be free, trial, starter, professional, enterprise, each once, in that order".into(),
            ));
        }
        let mut keys = std::collections::BTreeSet::new();
        for spec in &catalog.tiers {
            if spec.tier == Tier::Free && !spec.prices.is_empty() {
                return Err(CatalogError::Invalid("free has no Stripe price".into()));
            }
            if spec.tier.is_paid() && spec.price(BillingCycle::Monthly).is_none() {
                return Err(CatalogError::Invalid(format!(
                    "{} needs a monthly price",
                    spec.tier
                )));
            }
            if spec.lago_plan_code.trim().is_empty() {
                return Err(CatalogError::Invalid(format!(
                    "{} needs a lago_plan_code",
                    spec.tier
                )));
            }
            let mut cycles = std::collections::BTreeSet::new();
            for price in &spec.prices {
                if price.unit_amount <= 0 {
                    return Err(CatalogError::Invalid(format!(
                        "{} {} amount must be positive",
                        spec.tier, price.cycle
                    )));
                }
                if !cycles.insert(price.cycle.as_str()) {
                    return Err(CatalogError::Invalid(format!(
                        "{} has two {} prices",
                        spec.tier, price.cycle
                    )));
                }
                if price.lookup_key.trim().is_empty() || !keys.insert(price.lookup_key.clone()) {
                    return Err(CatalogError::Invalid(format!(
                        "lookup key {:?} is empty or used twice",
                        price.lookup_key
                    )));
                }
            }
        }
        Ok(catalog)
    }

    pub fn tier(&self, tier: Tier) -> &TierSpec {
        // `parse` guarantees every tier is present, in `Tier::ALL` order.
        &self.tiers[Tier::ALL.iter().position(|t| *t == tier).unwrap_or(0)]
    }

    /// The price for a paid tier and cycle, if the catalog offers that combination.
    pub fn price(&self, tier: Tier, cycle: BillingCycle) -> Option<&PriceSpec> {
        self.tier(tier).price(cycle)
    }

    /// Which tier and cycle a Stripe price belongs to, by its lookup key.
    pub fn by_lookup_key(&self, lookup_key: &str) -> Option<(Tier, BillingCycle)> {
        self.tiers.iter().find_map(|spec| {
            spec.prices
                .iter()
                .find(|p| p.lookup_key == lookup_key)
                .map(|p| (spec.tier, p.cycle))
        })
    }

    /// Every lookup key, for one `prices?lookup_keys[]=` call.
    pub fn lookup_keys(&self) -> Vec<&str> {
        self.tiers
            .iter()
            .flat_map(|t| t.prices.iter().map(|p| p.lookup_key.as_str()))
            .collect()
    }

    pub fn amount(&self, price: &PriceSpec) -> Money {
        Money::new(price.unit_amount, self.currency.clone())
    }
}

impl TierSpec {
    pub fn price(&self, cycle: BillingCycle) -> Option<&PriceSpec> {
        self.prices.iter().find(|p| p.cycle == cycle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_catalog_matches_the_design() {
        let c = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let amounts = [
            (Tier::Trial, BillingCycle::Monthly, Some(100)),
            (Tier::Trial, BillingCycle::Yearly, None),
            (Tier::Starter, BillingCycle::Monthly, Some(1900)),
            (Tier::Starter, BillingCycle::Yearly, Some(19000)),
            (Tier::Professional, BillingCycle::Monthly, Some(4900)),
            (Tier::Professional, BillingCycle::Yearly, Some(49000)),
            (Tier::Enterprise, BillingCycle::Monthly, Some(9900)),
            (Tier::Enterprise, BillingCycle::Yearly, Some(99000)),
            (Tier::Free, BillingCycle::Monthly, None),
        ];
        for (tier, cycle, want) in amounts {
            assert_eq!(
                c.price(tier, cycle).map(|p| p.unit_amount),
                want,
                "{tier} {cycle}"
            );
        }
        assert_eq!(c.currency.as_str(), "usd");
        assert_eq!(c.lookup_keys().len(), 7);
    }

    #[test]
    fn lookup_keys_map_back_to_tier_and_cycle() {
        let c = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        assert_eq!(
            c.by_lookup_key("tierflow_professional_yearly"),
            Some((Tier::Professional, BillingCycle::Yearly))
        );
        assert_eq!(c.by_lookup_key("someone_elses_price"), None);
    }

    #[test]
    fn invalid_catalogs_are_refused_with_a_reason() {
        let mut value: serde_json::Value = serde_json::from_str(BUILT_IN_CATALOG).unwrap();
        value["tiers"][2]["prices"][0]["lookup_key"] = "tierflow_trial_monthly".into();
        let err = Catalog::parse(&value.to_string()).unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");

        let mut value: serde_json::Value = serde_json::from_str(BUILT_IN_CATALOG).unwrap();
        value["tiers"][3]["prices"][0]["unit_amount"] = (-5).into();
        assert!(Catalog::parse(&value.to_string()).is_err());

        let mut value: serde_json::Value = serde_json::from_str(BUILT_IN_CATALOG).unwrap();
        value["tiers"].as_array_mut().unwrap().remove(1);
        assert!(Catalog::parse(&value.to_string()).is_err());

        assert!(Catalog::parse("{").is_err());
    }
}
