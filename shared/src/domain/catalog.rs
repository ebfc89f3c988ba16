//! The plan catalog: configuration, not code. Parsed from `catalog.json` (built in) or the file
//! named by `CATALOG_FILE` (read by `config::load_catalog`), validated once, and addressed by
//! tier or by Stripe price lookup key.

use super::{BillingCycle, Currency, Money, Tier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The catalog shipped with Tierflow.
pub const BUILT_IN_CATALOG: &str = include_str!("../../catalog.json");

/// A catalog file that cannot be used; the message says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The text is not JSON of the catalog's shape.
    #[error("catalog is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `CATALOG_FILE` names a file that cannot be read.
    #[error("catalog file {path}: {source}")]
    Io {
        /// The path as `CATALOG_FILE` gives it.
        path: String,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// Well-formed JSON that breaks a catalog rule; the message names the rule.
    #[error("catalog is invalid: {0}")]
    Invalid(String),
}

/// A limit: a number, or `null` for unlimited.
pub type Entitlements = BTreeMap<String, Option<u64>>;

/// One recurring price of a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceSpec {
    /// How often it bills.
    pub cycle: BillingCycle,
    /// Minor units of the catalog's currency.
    pub unit_amount: i64,
    /// Stripe lookup key: prices are found by it, never by hard-coded id.
    pub lookup_key: String,
}

/// One tier with what it grants and what it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierSpec {
    /// Which tier this entry defines.
    pub tier: Tier,
    /// The display name shown on the billing page and in email.
    pub name: String,
    /// The Lago plan a subscriber of this tier is put on.
    pub lago_plan_code: String,
    /// What the tier grants, by entitlement name.
    pub entitlements: Entitlements,
    /// Its recurring prices, at most one per cycle; empty for the free tier.
    pub prices: Vec<PriceSpec>,
}

/// A Stripe price that no longer carries the catalog's lookup key or marks but still bills
/// subscribers of a tier (grandfathered, or made before catalog-sync marked its prices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyPrice {
    /// Stripe's price id (`price_…`).
    pub price_id: String,
    /// The paid tier its subscribers have.
    pub tier: Tier,
    /// The cycle it bills on.
    pub cycle: BillingCycle,
}

/// The validated catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The one currency every price is in.
    pub currency: Currency,
    /// Every tier once, in `Tier::ALL` order (checked by [`Catalog::parse`]).
    pub tiers: Vec<TierSpec>,
    /// Old prices still billing someone, by price id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legacy_prices: Vec<LegacyPrice>,
}

/// What a Stripe price says about itself, for [`Catalog::resolve_price`]: plain strings, so
/// the domain needs no Stripe types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PriceFacts<'a> {
    /// The price's id (`price_…`).
    pub price_id: &'a str,
    /// Its `lookup_key`, if it has one.
    pub lookup_key: Option<&'a str>,
    /// `metadata[tierflow_tier]` of the price.
    pub tier_mark: Option<&'a str>,
    /// `metadata[tierflow_cycle]` of the price.
    pub cycle_mark: Option<&'a str>,
    /// The product's `metadata[tierflow_tier]`, when the product was expanded.
    pub product_tier_mark: Option<&'a str>,
    /// The product's id (`tierflow_<tier>` for products catalog-sync made).
    pub product_id: Option<&'a str>,
    /// `recurring.interval` (`month`, `year`, …).
    pub interval: Option<&'a str>,
    /// `recurring.interval_count`; absent means 1.
    pub interval_count: Option<u32>,
}

/// The catalog plan a price bills for, and whether it is the catalog's current price for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanMatch {
    /// The paid tier the price bills for.
    pub tier: Tier,
    /// The cycle it bills on.
    pub cycle: BillingCycle,
    /// Found other than by the catalog's lookup key: a grandfathered or custom price.
    pub legacy: bool,
}

impl Catalog {
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
        for legacy in &catalog.legacy_prices {
            if !legacy.tier.is_paid() || legacy.price_id.trim().is_empty() {
                return Err(CatalogError::Invalid(format!(
                    "legacy price {:?} needs an id and a paid tier",
                    legacy.price_id
                )));
            }
        }
        Ok(catalog)
    }

    /// The entry of `tier` (every tier has one).
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

    /// Which plan a Stripe price bills for, by (in order) the catalog's lookup key, the
    /// price's tier and cycle marks (catalog-sync writes them, and they stay when a price
    /// change moves the lookup key away), the catalog's legacy prices, or its product's tier
    /// mark with the price's own interval (a custom price made by sales on a tier's product).
    pub fn resolve_price(&self, price: &PriceFacts<'_>) -> Option<PlanMatch> {
        let paid = |tier: Tier| tier.is_paid().then_some(tier);
        if let Some((tier, cycle)) = price.lookup_key.and_then(|k| self.by_lookup_key(k)) {
            return Some(PlanMatch {
                tier,
                cycle,
                legacy: false,
            });
        }
        let legacy = |tier, cycle| PlanMatch {
            tier,
            cycle,
            legacy: true,
        };
        let marked_tier = price
            .tier_mark
            .and_then(|t| Tier::parse(t).ok())
            .and_then(paid);
        let marked_cycle = price.cycle_mark.and_then(|c| BillingCycle::parse(c).ok());
        if let (Some(tier), Some(cycle)) = (marked_tier, marked_cycle) {
            return Some(legacy(tier, cycle));
        }
        if let Some(listed) = self
            .legacy_prices
            .iter()
            .find(|l| l.price_id == price.price_id)
        {
            return Some(legacy(listed.tier, listed.cycle));
        }
        let product_tier = price
            .product_tier_mark
            .or_else(|| price.product_id.and_then(|id| id.strip_prefix("tierflow_")))
            .and_then(|t| Tier::parse(t).ok())
            .and_then(paid)?;
        let cycle = match (price.interval, price.interval_count.unwrap_or(1)) {
            (Some("month"), 1) => BillingCycle::Monthly,
            (Some("year"), 1) => BillingCycle::Yearly,
            _ => return None,
        };
        Some(legacy(product_tier, cycle))
    }

    /// Every lookup key, for one `prices?lookup_keys[]=` call.
    pub fn lookup_keys(&self) -> Vec<&str> {
        self.tiers
            .iter()
            .flat_map(|t| t.prices.iter().map(|p| p.lookup_key.as_str()))
            .collect()
    }

    /// The price's amount as money in the catalog's currency.
    pub fn amount(&self, price: &PriceSpec) -> Money {
        Money::new(price.unit_amount, self.currency.clone())
    }
}

impl TierSpec {
    /// The tier's price for `cycle`, if it offers one.
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
    fn prices_resolve_by_key_then_marks_then_legacy_list_then_product() {
        let mut c = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        c.legacy_prices.push(LegacyPrice {
            price_id: "price_old_pro".into(),
            tier: Tier::Professional,
            cycle: BillingCycle::Yearly,
        });
        let base = PriceFacts {
            price_id: "price_x",
            ..PriceFacts::default()
        };
        let plan = |tier, cycle, legacy| {
            Some(PlanMatch {
                tier,
                cycle,
                legacy,
            })
        };
        let cases = [
            (
                "current lookup key",
                PriceFacts {
                    lookup_key: Some("tierflow_starter_monthly"),
                    tier_mark: Some("enterprise"),
                    cycle_mark: Some("yearly"),
                    ..base
                },
                plan(Tier::Starter, BillingCycle::Monthly, false),
            ),
            (
                "grandfathered: marks stay after the key moved",
                PriceFacts {
                    tier_mark: Some("starter"),
                    cycle_mark: Some("monthly"),
                    ..base
                },
                plan(Tier::Starter, BillingCycle::Monthly, true),
            ),
            (
                "foreign lookup key, but marked",
                PriceFacts {
                    lookup_key: Some("someone_elses"),
                    tier_mark: Some("professional"),
                    cycle_mark: Some("monthly"),
                    ..base
                },
                plan(Tier::Professional, BillingCycle::Monthly, true),
            ),
            (
                "listed legacy price",
                PriceFacts {
                    price_id: "price_old_pro",
                    ..base
                },
                plan(Tier::Professional, BillingCycle::Yearly, true),
            ),
            (
                "custom price on a tier's product, expanded",
                PriceFacts {
                    product_tier_mark: Some("enterprise"),
                    product_id: Some("prod_dash"),
                    interval: Some("year"),
                    ..base
                },
                plan(Tier::Enterprise, BillingCycle::Yearly, true),
            ),
            (
                "custom price on catalog-sync's product id",
                PriceFacts {
                    product_id: Some("tierflow_starter"),
                    interval: Some("month"),
                    interval_count: Some(1),
                    ..base
                },
                plan(Tier::Starter, BillingCycle::Monthly, true),
            ),
            (
                "custom price billing every three months",
                PriceFacts {
                    product_id: Some("tierflow_starter"),
                    interval: Some("month"),
                    interval_count: Some(3),
                    ..base
                },
                None,
            ),
            (
                "a mark naming free grants nothing",
                PriceFacts {
                    tier_mark: Some("free"),
                    cycle_mark: Some("monthly"),
                    product_id: Some("tierflow_free"),
                    interval: Some("month"),
                    ..base
                },
                None,
            ),
            (
                "half a mark",
                PriceFacts {
                    tier_mark: Some("starter"),
                    ..base
                },
                None,
            ),
            (
                "a foreign product",
                PriceFacts {
                    product_id: Some("prod_foreign"),
                    interval: Some("month"),
                    ..base
                },
                None,
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(c.resolve_price(&facts), want, "{name}");
        }
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

        let mut value: serde_json::Value = serde_json::from_str(BUILT_IN_CATALOG).unwrap();
        value["legacy_prices"] =
            serde_json::json!([{"price_id": "price_1", "tier": "free", "cycle": "monthly"}]);
        assert!(Catalog::parse(&value.to_string()).is_err());
    }
}
