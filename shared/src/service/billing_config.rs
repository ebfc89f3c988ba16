//! `GET /api/v1/billing/config`: what the frontend needs before anyone signs in.

use crate::domain::catalog::Entitlements;
use crate::domain::{Catalog, Tier, TrialSpec};
use serde::Serialize;

/// The publishable key and the plan catalog with prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingConfigView {
    /// `STRIPE_PUBLISHABLE_KEY`, for Stripe.js in the browser.
    pub publishable_key: String,
    /// The catalog's one currency, lowercase ISO 4217 (`usd`).
    pub currency: String,
    /// Every tier in catalog order, free first.
    pub plans: Vec<PlanView>,
}

/// One tier as the frontend shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanView {
    /// The tier's API word, what checkout and the change routes take.
    pub tier: Tier,
    /// Its place among the tiers (plans come lowest first): moving to a higher rank is an
    /// upgrade, charged now; to a lower one a downgrade, at period end.
    pub rank: u32,
    /// The tier a user has without a subscription (exactly one plan; it has no price).
    pub free: bool,
    /// Display name from the catalog.
    pub name: String,
    /// What the tier unlocks, as the catalog lists it.
    pub entitlements: Entitlements,
    /// One per billing cycle offered; empty for free.
    pub prices: Vec<PlanPriceView>,
    /// The trial a first subscriber gets, when the tier offers one (`null` otherwise).
    pub trial: Option<TrialSpec>,
}

/// One price: integer minor units with currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanPriceView {
    /// `monthly` or `yearly`.
    pub billing_cycle: &'static str,
    /// Minor units of `currency` (cents), per cycle.
    pub amount: i64,
    /// Same as the view's `currency`; repeated so a price reads on its own.
    pub currency: String,
    /// The Stripe price's `lookup_key`, as the catalog names it.
    pub lookup_key: String,
}

/// Builds the view from configuration alone: no Stripe call, no table read.
pub fn billing_config(catalog: &Catalog, publishable_key: &str) -> BillingConfigView {
    BillingConfigView {
        publishable_key: publishable_key.to_owned(),
        currency: catalog.currency.as_str().to_owned(),
        plans: catalog
            .tiers
            .iter()
            .map(|spec| PlanView {
                tier: spec.tier.clone(),
                rank: spec.rank,
                free: spec.free,
                name: spec.name.clone(),
                entitlements: spec.entitlements.clone(),
                prices: spec
                    .prices
                    .iter()
                    .map(|p| PlanPriceView {
                        billing_cycle: p.cycle.as_str(),
                        amount: p.unit_amount,
                        currency: catalog.currency.as_str().to_owned(),
                        lookup_key: p.lookup_key.clone(),
                    })
                    .collect(),
                trial: spec.trial,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::BUILT_IN_CATALOG;
    use crate::domain::tier::tier;

    #[test]
    fn lists_every_tier_with_integer_prices() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let view = billing_config(&catalog, "pk_test_123");
        assert_eq!(view.plans.len(), 5);
        assert_eq!(view.plans[0].tier, tier("free"));
        assert!(view.plans[0].prices.is_empty());
        let pro = &view.plans[3];
        assert_eq!(pro.tier, tier("professional"));
        assert_eq!(pro.prices[0].amount, 4900);
        assert_eq!(pro.prices[1].amount, 49000);
        assert_eq!(pro.prices[1].billing_cycle, "yearly");
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["plans"][1]["prices"][0]["amount"], 100);
        assert_eq!(json["publishable_key"], "pk_test_123");
    }
}
