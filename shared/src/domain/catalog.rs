//! The plan catalog: configuration, not code. Parsed from `catalog.json` (built in) or the file
//! named by `CATALOG_FILE` (read by `config::load_catalog`), validated once, and addressed by
//! tier or by Stripe price lookup key.

use super::trial::{TrialSpec, MAX_TRIAL_DAYS};
use super::{BillingCycle, Currency, InvalidInput, Money, Tier};
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
    /// The tier's name: what the API, Stripe metadata, Keycloak and Lago's plan see.
    pub tier: Tier,
    /// Its place among the tiers: a move to a higher rank is an upgrade (charged now,
    /// prorated), to a lower one a downgrade (at period end). Unique; the free tier's is lowest.
    pub rank: u32,
    /// The tier a user has without a subscription: exactly one tier is free, and it has no price.
    #[serde(default)]
    pub free: bool,
    /// The display name shown on the billing page and in email.
    pub name: String,
    /// The Lago plan a subscriber of this tier is put on.
    pub lago_plan_code: String,
    /// What the tier grants, by entitlement name.
    pub entitlements: Entitlements,
    /// Its recurring prices, at most one per cycle; empty for the free tier.
    pub prices: Vec<PriceSpec>,
    /// The trial a first subscriber of this tier gets, if the tier offers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<TrialSpec>,
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
    /// Every tier once, lowest rank first ([`Catalog::parse`] sorts and checks them).
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanMatch {
    /// The paid tier the price bills for.
    pub tier: Tier,
    /// The cycle it bills on.
    pub cycle: BillingCycle,
    /// Found other than by the catalog's lookup key: a grandfathered or custom price.
    pub legacy: bool,
}

impl Catalog {
    /// The catalog shipped with Tierflow ([`BUILT_IN_CATALOG`], whose validity a test checks).
    pub fn built_in() -> Self {
        Self::parse(BUILT_IN_CATALOG).expect("the built-in catalog is valid")
    }

    /// Parses and validates: tier names and ranks unique, exactly one free tier, of the lowest
    /// rank and without a price; every paid tier has a monthly price; amounts positive; lookup
    /// keys unique; legacy prices bill a paid tier of the catalog. Tiers come out by rank.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let mut catalog: Catalog = serde_json::from_str(text)?;
        catalog.tiers.sort_by_key(|t| t.rank);
        let invalid = |why: String| Err(CatalogError::Invalid(why));
        if catalog.tiers.is_empty() {
            return invalid("the catalog needs at least its free tier".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for pair in catalog.tiers.windows(2) {
            if pair[0].rank == pair[1].rank {
                return invalid(format!(
                    "{} and {} have the same rank {}",
                    pair[0].tier, pair[1].tier, pair[0].rank
                ));
            }
        }
        let free: Vec<&TierSpec> = catalog.tiers.iter().filter(|t| t.free).collect();
        match free.as_slice() {
            [only] if only.tier == catalog.tiers[0].tier => {}
            [only] => {
                return invalid(format!(
                    "the free tier {} must have the lowest rank",
                    only.tier
                ))
            }
            _ => return invalid("exactly one tier must be marked free".into()),
        }
        let mut keys = std::collections::BTreeSet::new();
        for spec in &catalog.tiers {
            if !names.insert(spec.tier.as_str()) {
                return invalid(format!("tier {} is defined twice", spec.tier));
            }
            if spec.name.trim().is_empty() {
                return invalid(format!("{} needs a display name", spec.tier));
            }
            if spec.free && !spec.prices.is_empty() {
                return invalid(format!("the free tier {} has no Stripe price", spec.tier));
            }
            if !spec.free && spec.price(BillingCycle::Monthly).is_none() {
                return invalid(format!("{} needs a monthly price", spec.tier));
            }
            if let Some(trial) = spec.trial {
                if spec.free {
                    return invalid(format!("the free tier {} has no trial", spec.tier));
                }
                if !(1..=MAX_TRIAL_DAYS).contains(&trial.days) {
                    return invalid(format!(
                        "{} trial days must be 1 to {MAX_TRIAL_DAYS}",
                        spec.tier
                    ));
                }
            }
            if spec.lago_plan_code.trim().is_empty() {
                return invalid(format!("{} needs a lago_plan_code", spec.tier));
            }
            let mut cycles = std::collections::BTreeSet::new();
            for price in &spec.prices {
                if price.unit_amount <= 0 {
                    return invalid(format!(
                        "{} {} amount must be positive",
                        spec.tier, price.cycle
                    ));
                }
                if !cycles.insert(price.cycle.as_str()) {
                    return invalid(format!("{} has two {} prices", spec.tier, price.cycle));
                }
                if price.lookup_key.trim().is_empty() || !keys.insert(price.lookup_key.clone()) {
                    return invalid(format!(
                        "lookup key {:?} is empty or used twice",
                        price.lookup_key
                    ));
                }
            }
        }
        for legacy in &catalog.legacy_prices {
            if catalog.paid(&legacy.tier).is_none() || legacy.price_id.trim().is_empty() {
                return invalid(format!(
                    "legacy price {:?} needs an id and a paid tier of the catalog",
                    legacy.price_id
                ));
            }
        }
        Ok(catalog)
    }

    /// The entry of `tier`, if the catalog defines it.
    pub fn spec(&self, tier: &Tier) -> Option<&TierSpec> {
        self.tiers.iter().find(|t| &t.tier == tier)
    }

    /// The catalog's tier called `raw` (case-insensitive); the error lists the tiers there are.
    pub fn tier_named(&self, raw: &str) -> Result<&TierSpec, InvalidInput> {
        Tier::parse(raw)
            .ok()
            .and_then(|tier| self.spec(&tier))
            .ok_or_else(|| {
                let names: Vec<&str> = self.tiers.iter().map(|t| t.tier.as_str()).collect();
                InvalidInput(format!(
                    "unknown tier {raw:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }

    /// The tier a user has without a subscription.
    pub fn free_tier(&self) -> &Tier {
        // `parse` guarantees exactly one free tier, first by rank.
        &self.tiers[0].tier
    }

    /// Whether `tier` is the free tier.
    pub fn is_free(&self, tier: &Tier) -> bool {
        tier == self.free_tier()
    }

    /// The entry of a paid tier the catalog defines (`None` for free or an unknown name).
    pub fn paid(&self, tier: &Tier) -> Option<&TierSpec> {
        self.spec(tier).filter(|t| !t.free)
    }

    /// The paid tiers, lowest rank first.
    pub fn paid_tiers(&self) -> impl Iterator<Item = &TierSpec> {
        self.tiers.iter().filter(|t| !t.free)
    }

    /// Whether a move from `from` to `to` goes up the ranks; a tier the catalog no longer
    /// defines ranks below every tier it does.
    pub fn ranks_above(&self, to: &Tier, from: &Tier) -> bool {
        let rank = |t: &Tier| self.spec(t).map(|s| i64::from(s.rank)).unwrap_or(-1);
        rank(to) > rank(from)
    }

    /// The price for a paid tier and cycle, if the catalog offers that combination.
    pub fn price(&self, tier: &Tier, cycle: BillingCycle) -> Option<&PriceSpec> {
        self.spec(tier)?.price(cycle)
    }

    /// Which tier and cycle a Stripe price belongs to, by its lookup key.
    pub fn by_lookup_key(&self, lookup_key: &str) -> Option<(Tier, BillingCycle)> {
        self.tiers.iter().find_map(|spec| {
            spec.prices
                .iter()
                .find(|p| p.lookup_key == lookup_key)
                .map(|p| (spec.tier.clone(), p.cycle))
        })
    }

    /// Which plan a Stripe price bills for, by (in order) the catalog's lookup key, the
    /// price's tier and cycle marks (catalog-sync writes them, and they stay when a price
    /// change moves the lookup key away), the catalog's legacy prices, or its product's tier
    /// mark with the price's own interval (a custom price made by sales on a tier's product).
    pub fn resolve_price(&self, price: &PriceFacts<'_>) -> Option<PlanMatch> {
        let paid = |tier: Tier| self.paid(&tier).map(|s| s.tier.clone());
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
            return Some(legacy(listed.tier.clone(), listed.cycle));
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
mod tests;
