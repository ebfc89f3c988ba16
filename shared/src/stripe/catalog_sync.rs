//! Bringing Stripe's products and prices in line with the catalog, addressed by lookup key.
//! [`plan`] is pure: it compares the catalog with what Stripe has and lists the steps; [`apply`]
//! performs them. Running it twice changes nothing the second time.

use super::client::StripeClient;
use super::error::StripeError;
use super::idempotency::IdempotencyScope;
use super::objects::{Metadata, PortalConfiguration, Price, Product};
use super::params::{
    NewPrice, NewProduct, PortalConfigurationParams, ProductUpdate, UPGRADE_PRORATION,
};
use super::StripeApi;
use crate::domain::{BillingCycle, Catalog, PriceSpec, Tier, TierSpec};
use std::fmt;

/// Metadata key that marks a product or price as belonging to a tier.
pub const TIER_METADATA_KEY: &str = "tierflow_tier";
/// Metadata key that records a price's billing cycle.
pub const CYCLE_METADATA_KEY: &str = "tierflow_cycle";

/// Metadata key that marks the Customer Portal configuration catalog-sync keeps; `billing-portal`
/// finds it by this mark, so its id needs no configuration step and survives redeploys.
pub const PORTAL_METADATA_KEY: &str = "tierflow_catalog";
/// The mark's value.
pub const PORTAL_METADATA_VALUE: &str = "portal";

/// The id Tierflow gives a tier's product.
pub fn product_id(tier: Tier) -> String {
    format!("tierflow_{tier}")
}

/// One thing to do (or confirm) to match the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The tier's product exists as the catalog describes it.
    ProductUpToDate { tier: Tier, product_id: String },
    /// The tier has no product yet.
    CreateProduct { tier: Tier, product: NewProduct },
    /// The product exists but its name, status or tier mark differ.
    UpdateProduct {
        tier: Tier,
        product_id: String,
        update: ProductUpdate,
    },
    /// The lookup key names an active price with the catalog's amount, currency and interval.
    PriceUpToDate {
        lookup_key: String,
        price_id: String,
    },
    /// The lookup key names a retired price that matches: bring it back.
    ReactivatePrice {
        lookup_key: String,
        price_id: String,
    },
    /// No matching price: create one, taking the lookup key from `replaces` if it holds it.
    CreatePrice {
        price: NewPrice,
        replaces: Option<String>,
    },
    /// Retire the price that held the lookup key before (prices are immutable in amount).
    DeactivatePrice {
        lookup_key: String,
        price_id: String,
    },
}

impl Step {
    /// Whether the step changes anything in Stripe.
    pub fn is_change(&self) -> bool {
        !matches!(
            self,
            Step::ProductUpToDate { .. } | Step::PriceUpToDate { .. }
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::ProductUpToDate { product_id, .. } => {
                write!(f, "product {product_id}: up to date")
            }
            Step::CreateProduct { product, .. } => write!(
                f,
                "product {}: create {:?}",
                product.id.as_deref().unwrap_or("?"),
                product.name
            ),
            Step::UpdateProduct {
                product_id, update, ..
            } => {
                let mut what = Vec::new();
                if let Some(name) = &update.name {
                    what.push(format!("name {name:?}"));
                }
                if update.active == Some(true) {
                    what.push("reactivate".to_owned());
                }
                if !update.metadata.is_empty() {
                    what.push("mark tier".to_owned());
                }
                write!(f, "product {product_id}: update {}", what.join(", "))
            }
            Step::PriceUpToDate {
                lookup_key,
                price_id,
            } => write!(f, "price {lookup_key}: up to date ({price_id})"),
            Step::ReactivatePrice {
                lookup_key,
                price_id,
            } => write!(f, "price {lookup_key}: reactivate {price_id}"),
            Step::CreatePrice { price, replaces } => {
                write!(
                    f,
                    "price {}: create {} {}/{} on {}",
                    price.lookup_key.as_deref().unwrap_or("?"),
                    price.unit_amount,
                    price.currency,
                    price.interval,
                    price.product
                )?;
                match replaces {
                    Some(old) => write!(f, ", moving the lookup key from {old}"),
                    None => Ok(()),
                }
            }
            Step::DeactivatePrice {
                lookup_key,
                price_id,
            } => write!(f, "price {lookup_key}: deactivate old {price_id}"),
        }
    }
}

/// The steps that make Stripe match `catalog`, given every product and the prices holding the
/// catalog's lookup keys. Product steps come before the price steps that use them.
pub fn plan(catalog: &Catalog, products: &[Product], prices: &[Price]) -> Vec<Step> {
    let mut steps = Vec::new();
    for spec in catalog.tiers.iter().filter(|t| t.tier.is_paid()) {
        let (product_step, product) = plan_product(spec, products);
        steps.push(product_step);
        for price_spec in &spec.prices {
            plan_price(catalog, spec, price_spec, &product, prices, &mut steps);
        }
    }
    steps
}

fn tier_metadata(tier: Tier) -> Metadata {
    Metadata::from([(TIER_METADATA_KEY.to_owned(), tier.as_str().to_owned())])
}

/// The tier's product step and the id its prices must hang on.
fn plan_product(spec: &TierSpec, products: &[Product]) -> (Step, String) {
    let wanted_id = product_id(spec.tier);
    let marked = |p: &&Product| {
        p.metadata.get(TIER_METADATA_KEY).map(String::as_str) == Some(spec.tier.as_str())
    };
    // Our own id first; otherwise a product marked with the tier, an active one preferably.
    let existing = products
        .iter()
        .find(|p| p.id == wanted_id)
        .or_else(|| products.iter().filter(marked).max_by_key(|p| p.active));
    let Some(product) = existing else {
        let create = NewProduct {
            id: Some(wanted_id.clone()),
            name: spec.name.clone(),
            metadata: tier_metadata(spec.tier),
        };
        let step = Step::CreateProduct {
            tier: spec.tier,
            product: create,
        };
        return (step, wanted_id);
    };
    let update = ProductUpdate {
        name: (product.name.as_deref() != Some(spec.name.as_str())).then(|| spec.name.clone()),
        active: (!product.active).then_some(true),
        metadata: if marked(&product) {
            Metadata::new()
        } else {
            tier_metadata(spec.tier)
        },
    };
    let step = if update == ProductUpdate::default() {
        Step::ProductUpToDate {
            tier: spec.tier,
            product_id: product.id.clone(),
        }
    } else {
        Step::UpdateProduct {
            tier: spec.tier,
            product_id: product.id.clone(),
            update,
        }
    };
    (step, product.id.clone())
}

fn plan_price(
    catalog: &Catalog,
    spec: &TierSpec,
    price_spec: &PriceSpec,
    product_id: &str,
    prices: &[Price],
    steps: &mut Vec<Step>,
) {
    let key = &price_spec.lookup_key;
    let currency = catalog.currency.as_str();
    let holder = prices
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some(key.as_str()));
    if let Some(price) = holder {
        if matches(price, price_spec, currency, product_id) {
            let step = if price.active {
                Step::PriceUpToDate {
                    lookup_key: key.clone(),
                    price_id: price.id.clone(),
                }
            } else {
                Step::ReactivatePrice {
                    lookup_key: key.clone(),
                    price_id: price.id.clone(),
                }
            };
            steps.push(step);
            return;
        }
    }
    let metadata = Metadata::from([
        (TIER_METADATA_KEY.to_owned(), spec.tier.as_str().to_owned()),
        (
            CYCLE_METADATA_KEY.to_owned(),
            price_spec.cycle.as_str().to_owned(),
        ),
    ]);
    steps.push(Step::CreatePrice {
        price: NewPrice {
            product: product_id.to_owned(),
            unit_amount: price_spec.unit_amount,
            currency: currency.to_owned(),
            interval: price_spec.cycle.stripe_interval().to_owned(),
            lookup_key: Some(key.clone()),
            transfer_lookup_key: holder.is_some(),
            nickname: Some(format!("{} {}", spec.name, price_spec.cycle)),
            metadata,
        },
        replaces: holder.map(|p| p.id.clone()),
    });
    if let Some(old) = holder.filter(|p| p.active) {
        steps.push(Step::DeactivatePrice {
            lookup_key: key.clone(),
            price_id: old.id.clone(),
        });
    }
}

/// Same amount, currency, interval (every single period) and product.
fn matches(price: &Price, spec: &PriceSpec, currency: &str, product_id: &str) -> bool {
    let interval_ok = price.recurring.as_ref().is_some_and(|r| {
        BillingCycle::parse(&r.interval).ok() == Some(spec.cycle)
            && r.interval_count.unwrap_or(1) == 1
    });
    price.unit_amount == Some(spec.unit_amount)
        && price.currency.as_deref() == Some(currency)
        && interval_ok
        && price.product_id() == Some(product_id)
}

/// Performs `steps` in order, reporting each (done or already up to date) as it completes;
/// stops at the first failure
/// (a rerun resumes: the plan is recomputed and creations replay their idempotency keys).
pub async fn apply(
    client: &StripeClient,
    steps: &[Step],
    mut report: impl FnMut(String),
) -> Result<(), StripeError> {
    for step in steps {
        match step {
            Step::ProductUpToDate { .. } | Step::PriceUpToDate { .. } => {}
            Step::CreateProduct { product, .. } => {
                client
                    .create_product(product, &IdempotencyScope::none())
                    .await?;
            }
            Step::UpdateProduct {
                product_id, update, ..
            } => {
                client.update_product(product_id, update).await?;
            }
            Step::ReactivatePrice { price_id, .. } => {
                client.set_price_active(price_id, true).await?;
            }
            Step::CreatePrice { price, replaces } => {
                // The replaced price is part of the scope, so a key moved away and back within
                // Stripe's 24-hour idempotency window still creates a fresh price.
                let scope = IdempotencyScope::new(["replaces", replaces.as_deref().unwrap_or("")]);
                let created = client.create_price(price, &scope).await?;
                report(format!("{step} -> {}", created.id));
                continue;
            }
            Step::DeactivatePrice { price_id, .. } => {
                client.set_price_active(price_id, false).await?;
            }
        }
        report(step.to_string());
    }
    Ok(())
}

/// The portal configuration that lets a subscriber switch only between the catalog's prices
/// (`prices`: the active prices holding its lookup keys), prorated like the upgrade route.
pub fn portal_configuration(catalog: &Catalog, prices: &[Price]) -> PortalConfigurationParams {
    let mut products: Vec<(String, Vec<String>)> = Vec::new();
    for spec in catalog.tiers.iter().filter(|t| t.tier.is_paid()) {
        for price_spec in &spec.prices {
            let held = prices.iter().find(|p| {
                p.active && p.lookup_key.as_deref() == Some(price_spec.lookup_key.as_str())
            });
            let Some((price, product)) = held.and_then(|p| Some((p, p.product_id()?))) else {
                continue;
            };
            match products.iter_mut().find(|(id, _)| id == product) {
                Some((_, ids)) => ids.push(price.id.clone()),
                None => products.push((product.to_owned(), vec![price.id.clone()])),
            }
        }
    }
    PortalConfigurationParams {
        products,
        proration_behavior: UPGRADE_PRORATION,
        metadata: Metadata::from([(
            PORTAL_METADATA_KEY.to_owned(),
            PORTAL_METADATA_VALUE.to_owned(),
        )]),
    }
}

/// Tierflow's portal configuration among `configs`: the oldest marked one (Stripe lists newest
/// first), so a duplicate made by hand never takes over.
pub fn find_portal_configuration(configs: &[PortalConfiguration]) -> Option<&PortalConfiguration> {
    configs.iter().rev().find(|c| {
        c.active
            && c.metadata.get(PORTAL_METADATA_KEY).map(String::as_str)
                == Some(PORTAL_METADATA_VALUE)
    })
}

/// Creates Tierflow's portal configuration or brings the existing one in line with the catalog;
/// answers its id and whether it was created.
pub async fn sync_portal(
    client: &StripeClient,
    catalog: &Catalog,
) -> Result<(String, bool), StripeError> {
    let prices = client
        .list_prices_by_lookup_keys(&catalog.lookup_keys(), true)
        .await?;
    let params = portal_configuration(catalog, &prices);
    let configs = client.list_portal_configurations().await?;
    match find_portal_configuration(&configs) {
        Some(existing) => {
            let updated = client
                .update_portal_configuration(&existing.id, &params)
                .await?;
            Ok((updated.id, false))
        }
        None => {
            let created = client.create_portal_configuration(&params).await?;
            Ok((created.id, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::BUILT_IN_CATALOG;
    use crate::stripe::objects::{Expandable, Recurring};

    fn catalog() -> Catalog {
        Catalog::parse(BUILT_IN_CATALOG).unwrap()
    }

    fn product(id: &str, name: &str, tier: Option<&str>, active: bool) -> Product {
        Product {
            id: id.into(),
            name: Some(name.into()),
            active,
            metadata: tier
                .map(|t| Metadata::from([(TIER_METADATA_KEY.to_owned(), t.to_owned())]))
                .unwrap_or_default(),
            ..Product::default()
        }
    }

    fn price(id: &str, key: &str, amount: i64, interval: &str, product: &str) -> Price {
        Price {
            id: id.into(),
            active: true,
            lookup_key: Some(key.into()),
            unit_amount: Some(amount),
            currency: Some("usd".into()),
            recurring: Some(Recurring {
                interval: interval.into(),
                interval_count: Some(1),
            }),
            product: Some(Expandable::Id(product.into())),
            ..Price::default()
        }
    }

    /// What Stripe holds after a complete sync of the built-in catalog.
    fn synced() -> (Vec<Product>, Vec<Price>) {
        let c = catalog();
        let mut products = Vec::new();
        let mut prices = Vec::new();
        for spec in c.tiers.iter().filter(|t| t.tier.is_paid()) {
            let pid = product_id(spec.tier);
            products.push(product(&pid, &spec.name, Some(spec.tier.as_str()), true));
            for p in &spec.prices {
                prices.push(price(
                    &format!("price_{}", p.lookup_key),
                    &p.lookup_key,
                    p.unit_amount,
                    p.cycle.stripe_interval(),
                    &pid,
                ));
            }
        }
        (products, prices)
    }

    fn changes(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .filter(|s| s.is_change())
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn empty_account_gets_every_product_and_price() {
        let steps = plan(&catalog(), &[], &[]);
        let creates_products = steps
            .iter()
            .filter(|s| matches!(s, Step::CreateProduct { .. }))
            .count();
        let creates_prices: Vec<&NewPrice> = steps
            .iter()
            .filter_map(|s| match s {
                Step::CreatePrice { price, replaces } => {
                    assert!(replaces.is_none());
                    Some(price)
                }
                _ => None,
            })
            .collect();
        assert_eq!(creates_products, 4);
        assert_eq!(creates_prices.len(), 7);
        let starter_yearly = creates_prices
            .iter()
            .find(|p| p.lookup_key.as_deref() == Some("tierflow_starter_yearly"))
            .unwrap();
        assert_eq!(starter_yearly.product, "tierflow_starter");
        assert_eq!(starter_yearly.unit_amount, 19000);
        assert_eq!(starter_yearly.interval, "year");
        assert!(!starter_yearly.transfer_lookup_key);
        // Each product is created before the prices that hang on it.
        let first_product = steps
            .iter()
            .position(|s| {
                matches!(
                    s,
                    Step::CreateProduct {
                        tier: Tier::Trial,
                        ..
                    }
                )
            })
            .unwrap();
        let first_price = steps
            .iter()
            .position(|s| matches!(s, Step::CreatePrice { .. }))
            .unwrap();
        assert!(first_product < first_price);
    }

    #[test]
    fn synced_account_needs_nothing() {
        let (products, prices) = synced();
        let steps = plan(&catalog(), &products, &prices);
        assert!(changes(&steps).is_empty(), "{:?}", changes(&steps));
        assert_eq!(steps.len(), 4 + 7);
    }

    #[test]
    fn price_differences_create_a_replacement_and_retire_the_old() {
        type Change = Box<dyn Fn(&mut Price)>;
        let cases: Vec<(&str, Change, bool)> = vec![
            ("amount", Box::new(|p| p.unit_amount = Some(1500)), true),
            (
                "currency",
                Box::new(|p| p.currency = Some("eur".into())),
                true,
            ),
            (
                "interval",
                Box::new(|p| p.recurring.as_mut().unwrap().interval = "year".into()),
                true,
            ),
            (
                "interval count",
                Box::new(|p| p.recurring.as_mut().unwrap().interval_count = Some(3)),
                true,
            ),
            ("one-time", Box::new(|p| p.recurring = None), true),
            (
                "product",
                Box::new(|p| p.product = Some(Expandable::Id("prod_other".into()))),
                true,
            ),
            (
                "inactive and different",
                Box::new(|p| {
                    p.active = false;
                    p.unit_amount = Some(1);
                }),
                false,
            ),
        ];
        for (name, change, old_active) in cases {
            let (products, mut prices) = synced();
            let held = prices
                .iter_mut()
                .find(|p| p.lookup_key.as_deref() == Some("tierflow_starter_monthly"))
                .unwrap();
            change(held);
            let steps = plan(&catalog(), &products, &prices);
            let mut expected = vec![
                "price tierflow_starter_monthly: create 1900 usd/month on tierflow_starter, \
                 moving the lookup key from price_tierflow_starter_monthly"
                    .to_owned(),
            ];
            if old_active {
                expected.push(
                    "price tierflow_starter_monthly: deactivate old price_tierflow_starter_monthly"
                        .to_owned(),
                );
            }
            assert_eq!(changes(&steps), expected, "{name}");
            let transfer = steps
                .iter()
                .any(|s| matches!(s, Step::CreatePrice { price, .. } if price.transfer_lookup_key));
            assert!(transfer, "{name}");
        }
    }

    #[test]
    fn a_retired_matching_price_is_reactivated() {
        let (products, mut prices) = synced();
        prices[0].active = false;
        let steps = plan(&catalog(), &products, &prices);
        assert_eq!(
            changes(&steps),
            vec!["price tierflow_trial_monthly: reactivate price_tierflow_trial_monthly"]
        );
    }

    #[test]
    fn products_are_found_by_id_or_tier_mark_and_repaired() {
        let (mut products, mut prices) = synced();
        // Professional lives under a Dashboard-made id, marked with its tier.
        products[2] = product("prod_dash", "Pro (old)", Some("professional"), false);
        for p in prices.iter_mut() {
            if p.product_id() == Some("tierflow_professional") {
                p.product = Some(Expandable::Id("prod_dash".into()));
            }
        }
        // Starter lost its tier mark.
        products[1].metadata.clear();
        let steps = plan(&catalog(), &products, &prices);
        assert_eq!(
            changes(&steps),
            vec![
                "product tierflow_starter: update mark tier",
                "product prod_dash: update name \"Professional\", reactivate",
            ]
        );
    }

    #[test]
    fn an_unmarked_foreign_product_is_not_adopted() {
        let (mut products, prices) = synced();
        products.remove(0);
        products.push(product("prod_x", "Trial", None, true));
        let steps = plan(&catalog(), &products, &prices);
        assert_eq!(
            changes(&steps),
            vec!["product tierflow_trial: create \"Trial\""]
        );
    }

    #[test]
    fn the_portal_offers_only_the_catalogs_active_prices() {
        let (_, mut prices) = synced();
        let mut foreign = price("price_x", "someone_elses", 100, "month", "prod_x");
        foreign.active = true;
        prices.push(foreign);
        prices[1].active = false;
        let config = portal_configuration(&catalog(), &prices);
        let offered: Vec<(&str, usize)> = config
            .products
            .iter()
            .map(|(product, ids)| (product.as_str(), ids.len()))
            .collect();
        assert_eq!(
            offered,
            vec![
                ("tierflow_trial", 1),
                ("tierflow_starter", 1),
                ("tierflow_professional", 2),
                ("tierflow_enterprise", 2),
            ]
        );
        assert!(!config.products.iter().any(|(p, _)| p == "prod_x"));
        assert_eq!(config.proration_behavior.as_str(), "always_invoice");
    }

    #[test]
    fn the_marked_portal_configuration_is_found_oldest_first() {
        let config = |id: &str, marked: bool, active: bool| PortalConfiguration {
            id: id.into(),
            active,
            metadata: if marked {
                Metadata::from([(
                    PORTAL_METADATA_KEY.to_owned(),
                    PORTAL_METADATA_VALUE.to_owned(),
                )])
            } else {
                Metadata::new()
            },
            ..PortalConfiguration::default()
        };
        let newest_first = [
            config("bpc_new", true, true),
            config("bpc_default", false, true),
            config("bpc_old", true, true),
            config("bpc_retired", true, false),
        ];
        assert_eq!(
            find_portal_configuration(&newest_first).map(|c| c.id.as_str()),
            Some("bpc_old")
        );
        assert_eq!(find_portal_configuration(&newest_first[1..2]), None);
    }
}
